"""Backend names come from the registry alone (issue 20): config/models.py reads backends/registry.py, and the
import goes one way only (backends never import config)."""

from __future__ import annotations

import subprocess
import sys
import typing
from pathlib import Path

import pytest

from edge_inspector.backends.registry import BACKEND_NAMES, REGISTRY
from edge_inspector.config import ConfigError, load_config
from edge_inspector.config.models import ModelConfig

ROOT = Path(__file__).resolve().parents[3]


def run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


def test_the_config_accepts_exactly_the_registry_names() -> None:
    allowed = typing.get_args(typing.get_type_hints(ModelConfig)["backend"])
    assert allowed == BACKEND_NAMES == ("auto", *REGISTRY)


def test_a_name_registered_before_the_config_loads_is_accepted_there() -> None:
    """Before, config/models.py spelled the names out itself: a backend added to the registry stayed refused
    by every config until someone edited a second list."""
    code = ("import edge_inspector.backends.registry as r\n"
            "r.REGISTRY['extra'] = 'x:y'; r.BACKEND_NAMES = ('auto', *r.REGISTRY)\n"
            "from edge_inspector.config import parse_config\n"
            "cfg = parse_config({'source': {'kind': 'video', 'path': 'a.avi'},"
            " 'model': {'path': 'm', 'backend': 'extra'}})\n"
            "print(cfg.model.backend)")
    assert run(code) == "extra"


def test_an_unknown_backend_is_refused_naming_the_key_and_the_registry_names(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"source:\n  kind: video\n  path: a.avi\nmodel:\n  path: m\n  backend: {'x' * 5000}\n")
    with pytest.raises(ConfigError) as info:
        load_config(config)
    message = str(info.value)
    assert "model.backend" in message and ", ".join(BACKEND_NAMES) in message
    assert "\n" not in message and len(message) < 600


def test_backends_never_import_the_config() -> None:
    loaded = run("import sys, edge_inspector.backends, edge_inspector.backends.registry, "
                 "edge_inspector.backends.precision_parity, edge_inspector.backends.tiled\n"
                 "print(','.join(sorted(m for m in sys.modules if m.startswith('edge_inspector.config'))))")
    assert loaded == ""
    for path in (ROOT / "edge_inspector" / "backends").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "..config" not in text and "edge_inspector.config" not in text, path.name
