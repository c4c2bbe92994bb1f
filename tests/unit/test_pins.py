"""The environment the README's setup builds is the one CI tested: constraints.txt pins every package, and the
installed versions are the pinned ones (a fresh install a month later is the same program)."""

from __future__ import annotations

import importlib.metadata as md
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for raw in (REPO / "constraints.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep and version, f"constraints.txt: {raw!r} is not NAME==VERSION"
        pins[_norm(name)] = version
    return pins


def test_every_named_requirement_is_pinned() -> None:
    pins = _pins()
    wanted = {"numpy", "opencv-python-headless", "paho-mqtt", "pyyaml", "prometheus-client", "onnx", "onnxruntime",
              "torch", "torchvision", "matplotlib", "onnxscript", "flask", "waitress", "playwright", "pytest",
              "ruff", "mypy", "types-pyyaml", "scikit-learn", "jsonschema", "psutil", "hypothesis"}
    for name in wanted:
        assert name in pins, f"constraints.txt: no pin for {name}"


def test_installed_versions_are_the_pinned_ones() -> None:
    pins = _pins()
    if "torch" not in {_norm(d.metadata["Name"]) for d in md.distributions()}:
        pytest.skip("not the README's development environment (no torch): pins apply to scripts/setup.sh's venv")
    off = []
    for dist in md.distributions():
        name = _norm(dist.metadata["Name"])
        if name in pins and pins[name] != dist.version:
            off.append(f"{name} {dist.version} installed, {pins[name]} pinned")
    assert not off, "; ".join(off)
