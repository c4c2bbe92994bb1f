"""Import Aravis 0.8 through PyGObject (`gi`), for the genicam source only.

PyGObject is taken from the environment when it has it (a venv built with --system-site-packages, a
Jetson's system Python, or `pip install PyGObject`). Otherwise, on Debian/Ubuntu, the python3-gi package's
`gi` is loaded from /usr/lib/python3/dist-packages, and only `gi`: that folder is never put on sys.path,
so none of Debian's other Python packages can shadow the venv's. The compiled part of `gi` is built for
one Python minor version, so this is done only when the running Python's matches (3.11 on Debian 12).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

DEBIAN_GI = Path("/usr/lib/python3/dist-packages/gi")
INSTALL_HINT = "apt-get install gir1.2-aravis-0.8 python3-gi (see docs/cameras.md)"


class AravisMissing(ImportError):
    """Aravis or PyGObject is not installed."""


def _debian_gi() -> ModuleType:
    tag = f"cpython-{sys.version_info.major}{sys.version_info.minor}"
    if not any(p.name.startswith(f"_gi.{tag}") for p in DEBIAN_GI.glob("_gi.*.so")):
        raise AravisMissing(f"source.kind genicam: PyGObject (gi) for Python {sys.version_info.major}."
                            f"{sys.version_info.minor} is not installed: {INSTALL_HINT}")
    spec = importlib.util.spec_from_file_location("gi", DEBIAN_GI / "__init__.py",
                                                  submodule_search_locations=[str(DEBIAN_GI)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gi"] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        del sys.modules["gi"]
        raise
    return module


def load_aravis() -> ModuleType:
    """The `gi.repository.Aravis` module (0.8); AravisMissing, with what to install, when it is absent."""
    try:
        gi = importlib.import_module("gi")
    except ImportError:
        gi = _debian_gi()
    try:
        gi.require_version("Aravis", "0.8")
    except ValueError as exc:  # no Aravis-0.8 typelib
        raise AravisMissing(f"source.kind genicam: Aravis 0.8 is not installed ({exc}): {INSTALL_HINT}") from exc
    return importlib.import_module("gi.repository.Aravis")
