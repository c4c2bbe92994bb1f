"""The label dataset on a real folder: caps refuse with 507 and write nothing, a label whose audit line cannot be
written is taken back whole, labels given at once from many threads all land, and a spreadsheet never runs an
author's or note's text as a formula."""

from __future__ import annotations

import csv
import errno
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge_inspector.dashboard import labels as labels_module
from edge_inspector.dashboard.label_request import Label, LabelError
from edge_inspector.dashboard.labels import LabelStore


def frame(tmp_path: Path, seq: int) -> Path:
    path = tmp_path / "evidence" / f"run_{seq:08d}_FAIL_raw.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((8, 8, 3), seq, np.uint8))
    return path


def label(store: LabelStore, source: Path, seq: int, defect_type: str = "crack", author: str = "bo",
          note: str = "", audit: Any = None) -> dict[str, Any]:
    lines: list[dict[str, Any]] = []
    return store.save(source, "line1", "run", seq, f"frame_{seq}", Label(defect_type, author, note), "127.0.0.1",
                      audit or lines.append)


def pngs(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png"))


def test_beyond_the_file_cap_a_new_part_is_refused_but_a_relabel_still_moves(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labels_module, "MAX_FILES", 2)
    root = tmp_path / "labels"
    store = LabelStore(root)
    label(store, frame(tmp_path, 1), 1)
    label(store, frame(tmp_path, 2), 2)
    with pytest.raises(LabelError) as info:
        label(store, frame(tmp_path, 3), 3)
    assert info.value.status == 507 and "2 labelled images" in str(info.value)
    assert pngs(root) == ["test/crack/line1-run-1.png", "test/crack/line1-run-2.png"]
    label(store, frame(tmp_path, 2), 2, "scratch")
    assert pngs(root) == ["test/crack/line1-run-1.png", "test/scratch/line1-run-2.png"]
    with pytest.raises(LabelError):  # a new store (a restart) counts the files on disk
        label(LabelStore(root), frame(tmp_path, 4), 4)


@pytest.mark.parametrize("code, status", [(errno.ENOSPC, 507), (errno.EIO, 500)])
def test_a_label_whose_audit_line_fails_is_taken_back_whole(tmp_path: Path, code: int, status: int) -> None:
    root = tmp_path / "labels"
    store = LabelStore(root)
    label(store, frame(tmp_path, 1), 1)
    index = (root / "labels.csv").read_bytes()

    def broken(record: dict[str, Any]) -> None:
        raise OSError(code, "cannot append to audit log")

    with pytest.raises(LabelError) as info:
        label(store, frame(tmp_path, 2), 2, audit=broken)
    assert info.value.status == status and "nothing was kept" in str(info.value)
    with pytest.raises(LabelError):
        label(store, frame(tmp_path, 1), 1, "scratch", audit=broken)  # a relabel is moved back
    assert pngs(root) == ["test/crack/line1-run-1.png"]
    assert (root / "labels.csv").read_bytes() == index


def test_labels_given_at_once_all_land_whole(tmp_path: Path) -> None:
    root = tmp_path / "labels"
    store = LabelStore(root)
    sources = {seq: frame(tmp_path, seq) for seq in range(12)}
    audited: list[dict[str, Any]] = []
    threads = [threading.Thread(target=label, args=(store, sources[s], s, "crack" if s % 2 else "good"),
                                kwargs={"audit": audited.append}) for s in sources]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(pngs(root)) == 12 and len(audited) == 12
    for seq, source in sources.items():
        folder = "test/crack" if seq % 2 else "train/good"
        assert (root / folder / f"line1-run-{seq}.png").read_bytes() == source.read_bytes()
    with (root / "labels.csv").open(newline="") as f:
        assert sorted(int(r["seq"]) for r in csv.DictReader(f)) == list(range(12))
    assert [r["seq"] for r in store.recent()] == [a["seq"] for a in reversed(audited)]


def test_a_formula_is_written_as_text_and_read_back_as_given(tmp_path: Path) -> None:
    store = LabelStore(tmp_path / "labels")
    label(store, frame(tmp_path, 1), 1, author="=HYPERLINK(\"x\")", note="+1 @a")
    with (tmp_path / "labels" / "labels.csv").open(newline="") as f:
        row = next(csv.DictReader(f))
    assert row["author"] == "'=HYPERLINK(\"x\")" and row["note"] == "'+1 @a"
    got = store.recent()[0]
    assert got["author"] == "=HYPERLINK(\"x\")" and got["note"] == "+1 @a"


def test_a_part_without_a_raw_frame_is_refused(tmp_path: Path) -> None:
    store = LabelStore(tmp_path / "labels")
    for source in (None, tmp_path / "missing_raw.png"):
        with pytest.raises(LabelError) as info:
            label(store, source, 5)  # type: ignore[arg-type]
        assert info.value.status == 404
    assert not (tmp_path / "labels").exists() or pngs(tmp_path / "labels") == []
