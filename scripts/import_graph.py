#!/usr/bin/env python3
"""Draw edge_inspector's imports and check them against the layout in STYLE.md (stdlib only).

    python scripts/import_graph.py            # findings; exit 1 if there is a circle or an upward import
    python scripts/import_graph.py --edges    # also every edge, one per line (module -> module  kind  file:line)

Every import counts, wherever it sits: at module level, inside a function (a lazy import is still a design
dependency, STYLE.md: "no circle anywhere, even a lazy one") and a module named in a string literal
("edge_inspector.x.y" or "edge_inspector.x.y:attr", as importlib registries and lookup tables spell them)
and an import under `if TYPE_CHECKING:` (it never runs, but a module that names another's class in its
signatures depends on it: that is how a helper that takes the whole Daemon closes a loop).

An edge goes to the module named: `from .a import b` is an edge to a.b when a/b.py exists, else to a
(its __init__). The implicit import of a parent package (importing a.b first runs a/__init__) is not an
edge: every package's __init__ re-exports its children, so counting it would make each package a circle.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "edge_inspector"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

# The floors, lowest first; a module may import its own floor and the floors below it, never above.
# Longest matching prefix wins, so a root module can sit on the floor of the wing it serves.
# From STYLE.md: the root keeps what every floor uses (types, errors) at the bottom; the stages (capture,
# model, postprocess, backends, publish) and config sit below the service that wires them
# ("stages never import service/, dashboard/ or cli/"); "dashboard/ may import service/'s command types,
# never the reverse"; "cli/ may import anything"; watch, TLS/auth (mqtt_auth) and the private test broker
# are publish's MQTT helpers.
# Where STYLE.md is silent (our choice, and why):
# - synth (synthetic parts and line videos) imports nothing of ours and feeds the demo, tests, training and the
#   backends' precision check (synthetic parts with and without defects): the floor just above the root.
# - redact lives in config/ (it masks the secrets config reads; config is the lowest floor that logs
#   outside values); progress and machine live in evaluation/ (long jobs and reproducible reports; the
#   lowest floor that draws a progress bar or records a machine is evaluation, used by training and export).
# - model and backends sit below config: issue 20 asks that backend names come from the backends' registry
#   alone, so config/models.py reads them there, and it builds the model's TileSpec; neither model nor
#   backends reads the config (a backend gets a model directory and options). model is below backends
#   (a backend runs a model and reads its metadata).
# - capture and postprocess share the stage floor above config: capture reads its SourceConfig.
#   publish sits above them (publish/annotate.py draws an Inspection for the evidence sink).
# - the offline tools sit above the stages and below service/ (the daemon reads calibration profiles),
#   in the order their data flows: evaluation (pure metrics and plots, used by
#   training and calibration) < training < export (an exported model's int8 calibration reads training
#   data) < calibration (a profile names the exported model it was made for).
# - bench/ (measures the daemon and the dashboard end to end) and install/ (the install-service steps)
#   serve only their CLI verbs: the floor just below cli. The demo's stages are its verb's body (cli/demo_run.py).
# - bridges/ (the reject bridge: its own process, fed by the verdicts over MQTT) reads publish/'s MQTT helpers and
#   the trigger parser in service/, and serves only its verb: the same floor as bench/install, below cli.
FLOORS: list[tuple[str, list[str]]] = [
    ("root", ["", "types", "errors", "json_numbers", "atomic_file"]),
    ("synth", ["synth"]),
    ("model", ["model"]),
    ("backends", ["backends"]),
    ("config", ["config"]),
    ("stages", ["capture", "postprocess"]),
    # sparkplug: a publisher like publish/ (the Sparkplug B edge node over its own spool), wired by service/
    ("publish", ["publish", "sparkplug"]),
    ("evaluation", ["evaluation"]),
    ("training", ["training"]),
    ("export", ["export"]),
    ("calibration", ["calibration"]),
    ("service", ["service"]),
    ("dashboard", ["dashboard"]),
    # opcua: the OPC UA server, a process of its own fed by the MQTT contract (publish/, config/)
    ("bench/install", ["bench", "install", "bridges", "opcua"]),
    ("cli", ["cli"]),
]


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    kind: str  # "module", "lazy" (inside a function), "string" or "type" (under TYPE_CHECKING)
    where: str  # file:line


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the package at root, by dotted name."""
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def _absolute(src: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute name of `from <level dots><name> import ...` written in module src."""
    if level == 0:
        return name or ""
    base = src.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The deepest module of ours that `name` names (an attribute path ends at its module)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class _Visitor(ast.NodeVisitor):
    def __init__(self, src: str, path: Path, modules: dict[str, Path]) -> None:
        self.src, self.path, self.modules = src, path, modules
        self.is_package = path.name == "__init__.py"
        self.depth = 0  # > 0 inside a function or class body
        self.type_only = 0
        self.edges: list[Edge] = []

    def _add(self, target: str | None, node: ast.AST, kind: str | None = None) -> None:
        if target is None or target == self.src:
            return
        if kind is None:
            kind = "type" if self.type_only else ("lazy" if self.depth else "module")
        where = f"{self.src.replace('.', '/')}{'/__init__' if self.is_package else ''}.py:{getattr(node, 'lineno', 0)}"
        self.edges.append(Edge(self.src, target, kind, where))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.split(".")[0] == PACKAGE:
                self._add(_resolve(alias.name, self.modules), node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = _absolute(self.src, self.is_package, node.level, node.module)
        if base.split(".")[0] != PACKAGE:
            return
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            self._add(sub if sub in self.modules else _resolve(base, self.modules), node)

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, str) and value.startswith(PACKAGE + ".") and " " not in value:
            name = value.partition(":")[0]
            if name in self.modules:  # a whole module name, not a prefix of a message
                self._add(name, node, "type" if self.type_only else "string")

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self.type_only += 1
            for child in node.body:
                self.visit(child)
            self.type_only -= 1
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def _nested(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _nested

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        # a class body runs at import time: its imports are module-level; its methods are functions
        self.generic_visit(node)


def collect_edges(modules: dict[str, Path]) -> list[Edge]:
    """Every import of one of our modules by another (see the module docstring for what counts)."""
    edges: list[Edge] = []
    for name, path in modules.items():
        visitor = _Visitor(name, path, modules)
        visitor.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        edges.extend(visitor.edges)
    return edges


def floor_of(module: str) -> tuple[int, str]:
    """(floor index, floor name) of a module, by the longest matching prefix after the package name."""
    rest = module[len(PACKAGE) + 1:]
    best: tuple[int, int, str] | None = None  # (prefix length, floor index, floor name)
    for index, (floor, prefixes) in enumerate(FLOORS):
        for prefix in prefixes:
            matches = rest == prefix or (prefix != "" and rest.startswith(prefix + "."))
            if matches and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index, floor)
    if best is None:
        raise SystemExit(f"import_graph: module {module} is on no floor: add it to FLOORS")
    return best[1], best[2]


def circles(edges: list[Edge]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for e in edges:
        graph[e.src].add(e.dst)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(set(graph) | {e.dst for e in edges}):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return sorted(found)


def _short(module: str) -> str:
    return module[len(PACKAGE) + 1:] if module != PACKAGE else PACKAGE


def upward_imports(edges: list[Edge]) -> list[tuple[Edge, str, str]]:
    """(edge, its floor, the higher floor it reaches) for every import against the floors' order."""
    found = []
    for e in edges:
        (src_index, src_floor), (dst_index, dst_floor) = floor_of(e.src), floor_of(e.dst)
        if dst_index > src_index:
            found.append((e, src_floor, dst_floor))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--edges", action="store_true", help="also print every edge")
    parser.add_argument("--root", type=Path, default=ROOT, help=f"the package folder (default {ROOT})")
    args = parser.parse_args(argv)
    modules = all_modules(args.root)
    # one edge per statement: `from .a import B, C` is one import of a
    edges = sorted(set(collect_edges(modules)), key=lambda e: (e.src, e.dst, e.where))
    if args.edges:
        for e in edges:
            print(f"{_short(e.src)} -> {_short(e.dst)}  {e.kind}  {e.where}")
        print()
    kinds: dict[str, int] = defaultdict(int)
    for e in edges:
        kinds[e.kind] += 1
    print(f"{len(modules)} modules, {len(edges)} import edges ("
          + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) + ")")
    print("floors, lowest first: " + " < ".join(f for f, _ in FLOORS))

    found = circles(edges)
    print(f"\ncircles (modules that import each other, directly or round a loop): {len(found)}")
    for number, component in enumerate(found, 1):
        members = set(component)
        print(f"  {number}. {', '.join(_short(m) for m in component)}")
        for e in edges:
            if e.src in members and e.dst in members:
                print(f"       {_short(e.src)} -> {_short(e.dst)}  ({e.kind}, {e.where})")

    upward = upward_imports(edges)
    print(f"\nupward imports (a lower floor importing a higher one): {len(upward)}")
    for e, src_floor, dst_floor in upward:
        print(f"  {_short(e.src)} [{src_floor}] -> {_short(e.dst)} [{dst_floor}]  ({e.kind}, {e.where})")
    return 1 if found or upward else 0


if __name__ == "__main__":
    sys.exit(main())
