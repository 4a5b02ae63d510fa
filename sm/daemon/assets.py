"""Browser assets from pinned npm packages (``sm/web/vendor/package.json``, installed by
setup.sh): xterm.js, its fit add-on and Swagger UI. Only the files named here are
served — never a directory — and nothing is ever loaded from a CDN."""

from __future__ import annotations

from pathlib import Path

from sm.errors import NotFound, Unavailable

DEFAULT_ROOT = Path(__file__).resolve().parent.parent / "web" / "vendor" / "node_modules"

# served name → (path under node_modules, media type)
FILES = {
    "xterm.js": ("@xterm/xterm/lib/xterm.js", "text/javascript"),
    "xterm.css": ("@xterm/xterm/css/xterm.css", "text/css"),
    "addon-fit.js": ("@xterm/addon-fit/lib/addon-fit.js", "text/javascript"),
    "swagger-ui-bundle.js": ("swagger-ui-dist/swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": ("swagger-ui-dist/swagger-ui.css", "text/css"),
}


class Assets:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or DEFAULT_ROOT

    def find(self, name: str) -> tuple[Path, str]:
        """The file behind a served name and its media type. Raises NotFound for a name
        not in FILES and Unavailable when its package is not installed."""
        if name not in FILES:
            raise NotFound(f"no asset {name!r}")
        rel, media = FILES[name]
        path = self.root / rel
        if not path.is_file():
            raise Unavailable(f"asset {name} is not installed ({path}); run ./setup.sh")
        return path, media

    def missing(self) -> list[str]:
        return [name for name, (rel, _) in FILES.items() if not (self.root / rel).is_file()]

    def has_swagger(self) -> bool:
        return not any(n.startswith("swagger") for n in self.missing())


def docs_page(openapi_url: str, prefix: str, swagger: bool) -> str:
    """The OpenAPI docs page: Swagger UI from local assets, or — when they are not
    installed — a self-contained page listing every operation of the schema."""
    if swagger:
        return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>sm API</title>
<link rel="stylesheet" href="{prefix}/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="{prefix}/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({{url: "{openapi_url}", dom_id: "#swagger-ui",
  deepLinking: true, presets: [SwaggerUIBundle.presets.apis]}});</script>
</body></html>"""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>sm API</title>
<style>body{{font:14px system-ui,sans-serif;margin:2em;max-width:60em}}
code{{background:#eee;padding:0 .3em}}li{{margin:.2em 0}}</style></head>
<body><h1>sm API</h1><p>The schema: <a href="{openapi_url}">{openapi_url}</a></p>
<ul id="ops"></ul>
<script>fetch("{openapi_url}").then(r => r.json()).then(spec => {{
  const ul = document.getElementById("ops");
  for (const [path, ops] of Object.entries(spec.paths))
    for (const [method, op] of Object.entries(ops)) {{
      const li = document.createElement("li");
      li.innerHTML = "<code></code> ";
      li.firstChild.textContent = method.toUpperCase() + " " + path;
      li.append(op.summary || "");
      ul.append(li);
    }}
}});</script></body></html>"""


def require(assets: Assets) -> None:
    """Raise Unavailable naming what is missing when the terminal assets are absent."""
    missing = [n for n in assets.missing() if not n.startswith("swagger")]
    if missing:
        raise Unavailable(f"web assets missing: {', '.join(missing)}; run ./setup.sh")
