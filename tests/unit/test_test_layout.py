"""The test suite's own structure: one marker list (pyproject.toml) and shared fixtures defined once."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ reads pyproject.toml")

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
MARKERS = {"integration", "slow", "gpu", "data", "browser"}


def test_pyproject_declares_every_marker_once() -> None:
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["markers"]
    names = [line.split(":")[0] for line in declared]
    assert sorted(names) == sorted(MARKERS)


def test_pytest_lists_each_marker_once_with_one_description() -> None:
    out = subprocess.run([sys.executable, "-m", "pytest", "--markers", "-p", "no:cacheprovider"], cwd=REPO,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    for name in MARKERS:
        lines = [line for line in out.splitlines() if line.startswith(f"@pytest.mark.{name}:")]
        assert len(lines) == 1, lines  # a conftest adding its own description lists it twice
    slow = next(line for line in out.splitlines() if line.startswith("@pytest.mark.slow:"))
    assert "EI_RUN_SLOW=1" in slow  # what tests/conftest.py actually checks


def _fixture_definitions(name: str) -> list[str]:
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found += [f"{path.relative_to(REPO)}:{node.lineno}" for node in ast.walk(tree)
                  if isinstance(node, ast.FunctionDef) and node.name == name]
    return found


def test_one_torch_thread_is_defined_once_in_a_conftest() -> None:
    found = _fixture_definitions("one_torch_thread")
    assert len(found) == 1 and found[0].startswith("tests/conftest.py:"), found


def test_no_conftest_declares_markers() -> None:
    for conftest in TESTS.rglob("conftest.py"):
        assert '"markers"' not in conftest.read_text(encoding="utf-8"), conftest


def test_unit_tests_mirror_the_package_wings() -> None:
    """tests/unit/<wing>/ for each wing's tests; the folder's top keeps the root modules' and the whole tree's."""
    package = REPO / "edge_inspector"
    wings = {p.name for p in package.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    unit = TESTS / "unit"
    folders = {p.name for p in unit.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders <= wings, f"tests/unit folders that are no wing of the package: {sorted(folders - wings)}"
    top = sorted(p.name for p in unit.glob("test_*.py"))
    assert top == ["test_atomic_file.py", "test_huge_numbers.py", "test_import_graph.py", "test_package_map.py",
                   "test_pins.py", "test_postprocess.py", "test_test_layout.py", "test_user_errors.py"], top
    names = [p.name for p in TESTS.rglob("test_*.py")]
    assert len(names) == len(set(names)), "two test files share a name (pytest's import mode needs it unique)"
