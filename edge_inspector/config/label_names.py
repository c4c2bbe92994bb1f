"""The one rule for a defect type's name: it becomes a folder name (LABELS_DIR/test/<type>/) and a column in the
labels index, so it is short, plain ASCII and can never climb out of its folder ("..", "a/b", NUL).

Used by the config check of dashboard.defect_types and by the dashboard's label route (dashboard/labels.py).
"""

from __future__ import annotations

import re
from typing import Any

from .key_problem import KeyProblem
from .redact import cap

GOOD = "good"  # a false reject: the part was fine (saved under LABELS_DIR/train/good/)
MAX_NAME = 64  # characters of a type name
MAX_SUGGESTED = 64  # names in dashboard.defect_types
# Starts with a letter or digit (no ".", ".." or hidden files), then letters, digits, space, '_', '.', '-';
# never ends in a space or a dot (folders Windows cannot open from a copied dataset). Linear-time.
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9 _.-]{0,62}[A-Za-z0-9_-])?")


def name_problem(name: object) -> str | None:
    """Why `name` is not a defect type name (one line, value capped), or None when it is one."""
    if not isinstance(name, str):
        return f"expected a text, got {type(name).__name__}"
    if not _NAME.fullmatch(name):
        return (f"expected 1..{MAX_NAME} characters of letters, digits, space, '_', '.', '-' starting with a letter "
                f"or digit and not ending in a space or '.', got {cap(name, 80)}")
    return None


def check_defect_types(d: Any) -> None:
    """dashboard.defect_types: at most MAX_SUGGESTED distinct valid names, "good" left to the page's own choice;
    dashboard.labels_dir: a folder path of bounded length."""
    if d.labels_dir is not None and not 1 <= len(str(d.labels_dir)) <= 1024:
        raise KeyProblem("dashboard.labels_dir", f"expected a folder path of 1..1024 characters, got "
                                                 f"{len(str(d.labels_dir))} characters")
    if len(d.defect_types) > MAX_SUGGESTED:
        raise KeyProblem("dashboard.defect_types", f"expected at most {MAX_SUGGESTED} names, got {len(d.defect_types)}")
    seen: set[str] = set()
    for i, name in enumerate(d.defect_types):
        problem = name_problem(name)
        if problem is not None:
            raise KeyProblem(f"dashboard.defect_types[{i}]", problem)
        if name.lower() == GOOD:
            raise KeyProblem(f"dashboard.defect_types[{i}]", "'good' is not a defect type (the Rejects page always "
                                                             "offers 'good' for a false reject)")
        if name.lower() in seen:
            raise KeyProblem(f"dashboard.defect_types[{i}]", f"{name!r} is listed twice")
        seen.add(name.lower())
