"""The lazy lookup both registries share (backends/registry.py, capture/registry.py): a name picks a
"package.module:attribute" entry, and the module is imported only then, so a line that runs ONNX Runtime never
imports torch and one that reads a video file never imports the GenICam code.

It sits on the backends floor, the lower of the two (capture is above it: scripts/import_graph.py), and
imports only the model wing's torch-free import_target; each registry words its own errors (the key it names,
what to install).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..model.kinds import import_target


class UnknownName(LookupError):
    """The name is not in the registry."""


def lazy_lookup(registry: Mapping[str, str], name: str) -> Any:
    """The attribute the entry `name` of `registry` names, its module imported now. UnknownName when the
    name is not registered; ImportError (exc.name: the missing package) when the module cannot be imported."""
    target = registry.get(name)
    if target is None:
        raise UnknownName(name)
    return import_target(target)
