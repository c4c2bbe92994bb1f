"""The development / remainder split of a category's test set (the evaluation protocol of docs/benchmarks.md).

Methods and settings are chosen on the development part only; the remainder is reported untouched. The split
is a committed list of test-image paths relative to the category dir (`test/<type>/<file>`), one per line,
made once by `scripts/make_dev_split.py` (a seeded draw of a fraction of every defect type and of good).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def draw_dev_split(paths: Sequence[str], fraction: float = 0.3, seed: int = 0) -> list[str]:
    """A seeded `fraction` of every `test/<type>/` group (at least one image each), sorted."""
    if not 0 < fraction < 1:
        raise ValueError(f"fraction: expected 0 < fraction < 1, got {fraction}")
    groups: dict[str, list[str]] = {}
    for p in sorted(paths):
        groups.setdefault(Path(p).parent.name, []).append(p)
    rng = np.random.default_rng(seed)
    picked: list[str] = []
    for name in sorted(groups):
        items = groups[name]
        n = max(1, round(len(items) * fraction))
        picked.extend(items[i] for i in sorted(rng.choice(len(items), size=min(n, len(items)), replace=False)))
    return sorted(picked)


def read_split(path: Path) -> set[str]:
    """The development list (blank lines and # comments ignored); FileNotFoundError names the file."""
    if not path.is_file():
        raise FileNotFoundError(f"--split {path}: not found (scripts/make_dev_split.py writes it)")
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return {line for line in lines if line}


def select(items: Sequence[T], rel_paths: Sequence[str], dev: set[str], subset: str) -> list[T]:
    """The items whose relative path is in (subset "dev") or out of (subset "remainder") the development list;
    ValueError when the list names images the test set does not have (a split for another copy of the data)."""
    if subset not in ("dev", "remainder"):
        raise ValueError(f"--subset: expected dev or remainder, got {subset!r}")
    unknown = dev - set(rel_paths)
    if unknown:
        raise ValueError(f"--split: {len(unknown)} listed images are not in this test set, e.g. {sorted(unknown)[0]}")
    keep = [(p in dev) == (subset == "dev") for p in rel_paths]
    return [item for item, k in zip(items, keep, strict=True) if k]
