"""The registry of source kinds (capture/registry.py): the one list of kinds, lazy imports, one-line errors."""

from __future__ import annotations

import subprocess
import sys
import typing
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_inspector.capture import SOURCE_KINDS, SourceError, open_source
from edge_inspector.capture import registry as capture_registry
from edge_inspector.config import SourceConfig


def test_the_registry_and_the_config_accept_the_same_kinds() -> None:
    hints = typing.get_type_hints(SourceConfig)
    assert set(typing.get_args(hints["kind"])) == set(SOURCE_KINDS) == {"video", "camera", "url", "folder", "genicam"}


def test_an_unknown_kind_is_one_line_naming_it_and_the_known_kinds() -> None:
    cfg = SourceConfig(kind="fax")  # type: ignore[arg-type]  # the loader refuses it; code may still build it
    with pytest.raises(SourceError, match=r"source.kind 'fax' is not a source kind \(known: video, camera, url, "
                                          r"folder, genicam\)"):
        open_source(cfg)


def test_a_kind_whose_module_cannot_be_imported_names_the_package_and_what_to_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(capture_registry.REGISTRY, "genicam", "edge_inspector.capture.no_such_kind:factory")
    with pytest.raises(SourceError) as caught:
        open_source(SourceConfig(kind="genicam"))
    message = str(caught.value)
    assert "\n" not in message
    assert "source.kind genicam: needs a package that is not installed: edge_inspector.capture.no_such_kind" in message
    assert "apt-get install gir1.2-aravis-0.8 python3-gi" in message


@pytest.mark.parametrize("kind", ["video", "folder"])
def test_each_file_kind_opens_through_the_registry(tmp_path: Path, kind: str) -> None:
    if kind == "video":
        path = tmp_path / "line.avi"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 25.0, (64, 48))
        for _ in range(3):
            writer.write(np.full((48, 64, 3), 100, np.uint8))
        writer.release()
    else:
        path = tmp_path
        cv2.imwrite(str(tmp_path / "1.png"), np.full((8, 8, 3), 50, np.uint8))
    source = open_source(SourceConfig(kind=kind, path=path))  # type: ignore[arg-type]
    try:
        first = source.read()
        assert first.kind == "frame" and first.image is not None
    finally:
        source.close()


def test_opening_a_folder_source_imports_no_genicam_code(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "1.png"), np.full((8, 8, 3), 50, np.uint8))
    code = ("import sys\nfrom pathlib import Path\nfrom edge_inspector.capture import open_source\n"
            "from edge_inspector.config import SourceConfig\n"
            f"open_source(SourceConfig(kind='folder', path=Path({str(tmp_path)!r}))).close()\n"
            "print(sorted(m for m in sys.modules if m in ('edge_inspector.capture.genicam', 'gi')"
            " or m.startswith('gi.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"
