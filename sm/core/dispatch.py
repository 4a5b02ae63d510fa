"""Role templates for ``sm dispatch``: where they are found, how they load and expand.

A templates file is YAML::

    roles:
      engineer:
        description: Implement a change.
        required: [task]                  # --task must be given
        optional: {context: ""}           # --context may be, default shown
        template: |
          Task: {task}
          {context}

Lookup, first file defining the role wins: ``.sm/dispatch_templates.yaml`` in the
caller's working directory or its nearest ancestor that has one, then
``$SM_HOME/dispatch_templates.yaml``, then the defaults shipped with sm. ``{name}`` is a
placeholder; ``{{name}}`` is a literal ``{name}``; other braces are text. Loading and
expanding raise InvalidInput naming the file, the role and the bad parameter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sm.errors import InvalidInput

FILE_NAME = "dispatch_templates.yaml"
DEFAULTS = Path(__file__).resolve().parent / "templates" / FILE_NAME
BUILTINS = ("agent", "parent", "role")  # filled in by sm, never declared
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FIELD = re.compile(r"\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Role:
    name: str
    template: str
    source: str
    required: tuple[str, ...] = ()
    optional: Mapping[str, str] = field(default_factory=dict)
    description: str = ""

    @property
    def params(self) -> tuple[str, ...]:
        return (*self.required, *self.optional)


def template_files(cwd: Path, home: Path) -> list[Path]:
    """The files roles are looked up in, in order (the defaults always last)."""
    files = []
    for directory in (cwd, *cwd.parents):
        candidate = directory / ".sm" / FILE_NAME
        if candidate.is_file():
            files.append(candidate)
            break
    if (home / FILE_NAME).is_file():
        files.append(home / FILE_NAME)
    files.append(DEFAULTS)
    return files


def find_role(name: str, files: list[Path]) -> Role:
    """The first definition of role ``name`` in ``files``. Raises InvalidInput for an
    unknown role (listing the known ones) or a malformed file."""
    known: list[str] = []
    for path in files:
        roles = read_roles(path)
        if name in roles:
            return roles[name]
        known += [r for r in roles if r not in known]
    raise InvalidInput(f"unknown role {name!r}; known roles: {', '.join(sorted(known))}")


def read_roles(path: Path) -> dict[str, Role]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read dispatch templates {path}: {exc}") from None
    return load_roles(text, str(path))


def load_roles(text: str, source: str) -> dict[str, Role]:
    """Parse and check a templates document. Raises InvalidInput (``source: …``)."""
    import yaml

    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{source}: invalid YAML: {str(exc).splitlines()[0]}") from None
    roles = doc.get("roles") if isinstance(doc, dict) else None
    if not isinstance(roles, dict):
        raise InvalidInput(f"{source}: expected a mapping with a 'roles' mapping")
    return {str(name): _role(str(name), spec, source) for name, spec in roles.items()}


def _role(name: str, spec: Any, source: str) -> Role:
    where = f"{source}: role {name!r}"
    if not isinstance(spec, dict):
        raise InvalidInput(f"{where}: expected a mapping with a 'template'")
    extra = sorted(str(k) for k in spec if k not in ("template", "required", "optional",
                                                        "description"))
    if extra:
        raise InvalidInput(f"{where}: unknown key {extra[0]!r} "
                           "(expected: description, optional, required, template)")
    template = spec.get("template")
    if not isinstance(template, str) or not template.strip():
        raise InvalidInput(f"{where}: 'template' must be a non-empty string")
    required = spec.get("required") or []
    optional = spec.get("optional") or {}
    if not isinstance(required, list) or not isinstance(optional, dict):
        raise InvalidInput(f"{where}: 'required' must be a list, 'optional' a mapping")
    names = [str(p) for p in required] + [str(p) for p in optional]
    for param in names:
        if not _NAME.fullmatch(param) or param in BUILTINS:
            raise InvalidInput(f"{where}: bad parameter name {param!r} "
                               f"(letters, digits, _; not one of {', '.join(BUILTINS)})")
    return Role(
        name=name, template=template, source=source, required=tuple(map(str, required)),
        optional={str(k): "" if v is None else str(v) for k, v in optional.items()},
        description=str(spec.get("description") or ""),
    )


def param_name(flag: str) -> str:
    """``--done-when`` → ``done_when``."""
    return flag.lstrip("-").replace("-", "_")


def _flags(names: Sequence[str]) -> str:
    return ", ".join("--" + n.replace("_", "-") for n in names)


def expand(role: Role, params: Mapping[str, str], builtins: Mapping[str, str]) -> str:
    """The role's text with every placeholder filled in. Raises InvalidInput naming
    unknown parameters, missing required ones, and placeholders nothing fills. Pure."""
    unknown = sorted(set(params) - set(role.params))
    if unknown:
        expected = _flags(role.params) or "none"
        raise InvalidInput(f"role {role.name}: unknown parameter(s) {_flags(unknown)} "
                           f"(expected: {expected})")
    missing = [p for p in role.required if not str(params.get(p, "")).strip()]
    if missing:
        raise InvalidInput(f"role {role.name}: missing required parameter(s) {_flags(missing)}")
    values = {**role.optional, **params, **builtins}
    unresolved: list[str] = []

    def fill(match: re.Match[str]) -> str:
        if match.group(1):
            return "{" + match.group(1) + "}"
        name = match.group(2)
        if name in values:
            return values[name]
        unresolved.append(name)
        return match.group(0)

    text = _FIELD.sub(fill, role.template)
    if unresolved:
        names = ", ".join(dict.fromkeys("{" + n + "}" for n in unresolved))
        raise InvalidInput(f"role {role.name} ({role.source}): unresolved placeholder(s) "
                           f"{names}: declare them under required or optional")
    return text.strip()
