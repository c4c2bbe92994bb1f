"""scripts/import_graph.py: the import drawing finds circles and upward imports, and the package is free of
the ones issue 20 closed (sources <-> genicam, install_service <-> main, errors.py's importlib list, training
-> calibration's part mask)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "import_graph.py"


@pytest.fixture(scope="module")
def graph() -> ModuleType:
    spec = importlib.util.spec_from_file_location("import_graph", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["import_graph"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _package(root: Path, files: dict[str, str]) -> Path:
    package = root / "edge_inspector"
    for name, text in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return package


def test_a_lazy_circle_a_type_only_circle_and_upward_imports_are_found(tmp_path: Path) -> None:
    package = _package(tmp_path, {
        "__init__.py": "",
        "types.py": "",
        "errors.py": "import importlib\nX = ('edge_inspector.dashboard', 'DashboardError')\n",
        "capture/__init__.py": "",
        "capture/sources.py": "def f():\n    from .genicam import G\n",
        "capture/genicam.py": "from .sources import f\nclass G: ...\n",
        "service/__init__.py": "",
        "service/daemon.py": "from .monitor import M\n",
        "service/monitor.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .daemon import D\n",
        "dashboard/__init__.py": "",
        "config/__init__.py": "def f():\n    from ..service import daemon\n",
    })
    out = subprocess.run([sys.executable, str(SCRIPT), "--root", str(package)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 1, out.stdout + out.stderr
    text = out.stdout
    assert "circles (modules that import each other, directly or round a loop): 2" in text
    assert "capture.sources -> capture.genicam  (lazy, edge_inspector/capture/sources.py:2)" in text
    assert "service.monitor -> service.daemon  (type, edge_inspector/service/monitor.py:3)" in text
    assert "upward imports (a lower floor importing a higher one): 2" in text
    assert "errors [root] -> dashboard [dashboard]  (string, edge_inspector/errors.py:2)" in text
    assert "config [config] -> service.daemon [service]  (lazy, edge_inspector/config/__init__.py:2)" in text


def test_a_clean_package_exits_0(tmp_path: Path) -> None:
    package = _package(tmp_path, {"__init__.py": "", "types.py": "", "capture/__init__.py": "from ..types import *\n",
                                  "cli/__init__.py": "from ..capture import x\n"})
    out = subprocess.run([sys.executable, str(SCRIPT), "--root", str(package)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stdout
    assert "circles (modules that import each other, directly or round a loop): 0" in out.stdout


def test_every_module_of_the_package_is_on_a_floor(graph: ModuleType) -> None:
    for name in graph.all_modules():
        graph.floor_of(name)  # SystemExit names a module that is on no floor


def test_the_circles_and_upward_imports_issue_20_closed_stay_closed(graph: ModuleType) -> None:
    edges = graph.collect_edges(graph.all_modules())
    circled = {m for component in graph.circles(edges) for m in component}
    for module in ("capture.sources", "capture.genicam", "cli.install_service", "cli.main"):
        assert f"edge_inspector.{module}" not in circled
    upward = {(e.src, e.dst) for e, _, _ in graph.upward_imports(edges)}
    assert not {src for src, _ in upward} & {"edge_inspector.errors", "edge_inspector.training.part_region"}
    errors_edges = [e for e in edges if e.src == "edge_inspector.errors"]
    assert errors_edges == []  # the lowest floor imports nothing of ours


def test_the_service_helpers_do_not_reach_back_to_the_daemon(graph: ModuleType) -> None:
    """Monitor, metrics, summary and control read the run state (service/run_state.py), never the Daemon:
    not even a type-only import of service.daemon closes a loop through them."""
    edges = graph.collect_edges(graph.all_modules())
    into_daemon = {e.src for e in edges if e.dst == "edge_inspector.service.daemon"}
    helpers = {f"edge_inspector.service.{m}" for m in ("monitor", "metrics", "summary", "control", "run_state",
                                                        "inspection_step")}
    assert not into_daemon & helpers, sorted(into_daemon & helpers)


def test_the_real_package_has_no_circle_and_no_upward_import() -> None:
    """The command anyone can rerun (issue 20): `python scripts/import_graph.py` exits 0 on edge_inspector/."""
    out = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "circles (modules that import each other, directly or round a loop): 0" in out.stdout
    assert "upward imports (a lower floor importing a higher one): 0" in out.stdout
