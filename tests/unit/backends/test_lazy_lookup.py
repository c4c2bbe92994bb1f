"""The lazy lookup both registries share (backends/lazy_lookup.py): backends by `model.backend`, capture sources by
`source.kind`. An unknown name and a missing package fail with each registry's own one line."""

from __future__ import annotations

import pytest

from edge_inspector.backends import BackendError, create_backend
from edge_inspector.backends import registry as backend_registry
from edge_inspector.backends.lazy_lookup import UnknownName, lazy_lookup
from edge_inspector.capture import registry as source_registry
from edge_inspector.capture.base import SourceError

GHOST = "edge_inspector_no_such_package.sub:factory"


def test_lazy_lookup_imports_on_use_and_names_what_is_missing() -> None:
    table = {"here": "edge_inspector.backends.lazy_lookup:lazy_lookup", "ghost": GHOST}
    assert lazy_lookup(table, "here") is lazy_lookup
    with pytest.raises(UnknownName):
        lazy_lookup(table, "nobody")
    with pytest.raises(ImportError) as info:
        lazy_lookup(table, "ghost")
    assert info.value.name == "edge_inspector_no_such_package"


def test_both_registries_answer_through_it(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(backend_registry.REGISTRY, "torch", GHOST)
    with pytest.raises(BackendError, match=r"backend 'torch' needs a package that is not installed: "
                                           r"edge_inspector_no_such_package \(pip install edge-inspector\[torch\]\)"):
        create_backend("torch", tmp_path, "cpu")
    with pytest.raises(BackendError, match=r"backend 'nope' is not available \(known: auto, "):
        create_backend("nope", tmp_path, "cpu")
    monkeypatch.setitem(source_registry.REGISTRY, "video", GHOST)
    with pytest.raises(SourceError, match=r"source.kind video: needs a package that is not installed: "
                                          r"edge_inspector_no_such_package \(pip install edge-inspector\)"):
        source_registry.source_factory("video")
    with pytest.raises(SourceError, match=r"source.kind 'nope' is not a source kind \(known: video, "):
        source_registry.source_factory("nope")
