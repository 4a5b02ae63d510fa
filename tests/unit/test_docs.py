"""Reference docs that can drift are checked against the code."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from sm import config
from sm.cli.main import FAST
from sm.errors import ERRORS

ROOT = Path(__file__).resolve().parents[2]


def test_config_example_documents_every_key_with_its_default():
    example = yaml.safe_load((ROOT / "config.yaml.example").read_text())
    flat = {}
    for section, value in example.items():
        if isinstance(value, dict):
            flat.update({f"{section}.{k}": v for k, v in value.items()})
        else:
            flat[section] = value
    known = config.defaults()
    assert set(flat) == set(known), (set(known) - set(flat), set(flat) - set(known))
    for key, default in known.items():
        value = flat[key]
        if isinstance(default, tuple):
            value = tuple(value or ())
        assert value == default, f"{key}: example says {value!r}, code says {default!r}"


def test_config_reference_mentions_every_key():
    text = (ROOT / "docs" / "config.md").read_text()
    missing = [k for k in config.defaults() if f"`{k}`" not in text]
    assert not missing, missing


def test_cli_reference_mentions_every_command():
    from typer.main import get_command

    from sm.cli.app import build

    group = get_command(build())
    names = set(group.commands) | set(FAST)  # type: ignore[attr-defined]
    text = (ROOT / "docs" / "cli.md").read_text()
    missing = sorted(n for n in names if not re.search(rf"`sm {re.escape(n)}\b", text))
    assert not missing, missing


def test_protocol_doc_lists_every_error_code():
    text = (ROOT / "docs" / "protocol.md").read_text()
    missing = [code for code in ERRORS if f"`{code}`" not in text]
    assert not missing, missing


def test_protocol_doc_lists_every_route():
    from sm.config import load
    from sm.daemon.app import create_app

    app = create_app(load(environ={"SM_HOME": str(ROOT / ".no-such-home")}))
    text = (ROOT / "docs" / "protocol.md").read_text()
    routes = [f"{m.upper()} {p}" for p, ops in app.openapi()["paths"].items() for m in ops]
    assert len(routes) > 40
    missing = sorted(r for r in routes if f"`{r}`" not in text)
    assert not missing, missing
