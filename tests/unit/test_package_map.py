"""The README's package map matches the tree: every wing has an entry, every module it names exists where it
says, and the package root holds exactly the modules the map lists there."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "edge_inspector"
MODULE = re.compile(r"(?<![\w./])((?:[a-z_]+/)*[a-z_0-9]+\.py)\b")


def _map_entries() -> dict[str, str]:
    """{entry name ('cli/' or 'types.py'): its text, continuation lines included}."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Package map", 1)[1].split("```", 2)[1]
    lines = block.split("edge_inspector/\n", 1)[1].split("\nengines/", 1)[0].splitlines()
    entries: dict[str, str] = {}
    current = None
    for line in lines:
        match = re.match(r"^  (\S+)\s", line)
        if match:
            current = match.group(1).rstrip(",")
            entries[current] = line
        else:
            assert current is not None and line.startswith(" " * 10), f"README map line outside an entry: {line!r}"
            entries[current] += "\n" + line
    return entries


def test_every_wing_has_an_entry_and_every_entry_is_a_wing() -> None:
    wings = {f"{p.name}/" for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    entries = {name for name in _map_entries() if name.endswith("/")}
    assert entries == wings, f"in the tree only: {sorted(wings - entries)}; in the map only: {sorted(entries - wings)}"


def test_the_root_holds_exactly_the_modules_the_map_lists_there() -> None:
    root = {p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"}
    listed = {name for name in _map_entries() if name.endswith(".py")}
    assert listed == root, f"root only: {sorted(root - listed)}; map only: {sorted(listed - root)}"


def test_every_module_the_map_names_exists_in_its_wing() -> None:
    missing = []
    for entry, text in _map_entries().items():
        if not entry.endswith("/"):
            continue
        wing = PACKAGE / entry.rstrip("/")
        for name in MODULE.findall(text):
            candidates = [PACKAGE / name, wing / name] if "/" in name else list(wing.rglob(name))
            if not any(path.is_file() for path in candidates):
                missing.append(f"{entry}{name}")
    assert not missing, f"the README map names modules that do not exist: {missing}"


def test_no_module_is_over_300_lines() -> None:
    """STYLE.md: small single-purpose modules; issue 20 set 300 lines as the ceiling before a module is split."""
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 300}
    assert not long, f"modules over 300 lines (split by purpose): {long}"
