"""A technician labels rejects' defect types over HTTP on `edge-inspector run` (a child process, as systemd starts
it) with a real model, a real looping line video and a real broker: the raw frame lands in LABELS_DIR in the MVTec
layout byte for byte, labels.csv and the audit log get their line, relabelling moves the file, and no request
(no token, too large, a bad or hostile type name, an unknown part) writes anything anywhere.
"""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from helpers.daemon_process import wait_for
from helpers.dashboard import Http, start_dashboard_process
from helpers.profile import FIXED, calibrate
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from edge_inspector.publish import read_audit_all

pytestmark = pytest.mark.integration
# The test's own statement of a valid type name (docs/dashboard.md), not the code's regex.
ALLOWED = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _.-")


def valid_type(name: str) -> bool:
    return (1 <= len(name) <= 64 and set(name) <= ALLOWED and name[0].isalnum() and name[-1] not in " .")


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def raw_evidence(out: Path, run_id: str, seq: int) -> Path:
    found = list((out / "evidence").glob(f"*/{run_id}_{seq:08d}_FAIL_raw.png"))
    assert len(found) == 1, found
    return found[0]


def labelled_fail(http: Http) -> int:
    """The seq of a recent FAIL whose raw frame the dashboard serves (the image worker writes it off the line)."""
    found: list[int] = []

    def look() -> bool:
        fails = [r["seq"] for r in http.get("/api/rejects?limit=200").json()["rejects"] if r["verdict"] == "FAIL"]
        found[:] = [s for s in fails[:8] if http.get(f"/api/rejects/{s}/raw.png").status == 200][:1]
        return bool(found)

    assert wait_for(look, 120.0), "a FAIL with its raw frame"
    return found[0]


def one_line_error(answer: Any, status: int) -> str:
    assert answer.status == status, (answer.status, answer.body[:300])
    message = answer.json()["error"]
    assert isinstance(message, str) and message and "\n" not in message and len(message) <= 500
    return message


def test_a_technician_labels_rejects_and_the_dataset_audit_and_index_follow(
        tmp_path: Path, trained_model: Any, mosquitto_broker: Any) -> None:
    model_dir, category, _ = trained_model
    profile = calibrate(model_dir, model_dir.parent / "data" / category, tmp_path / "cal", *FIXED)
    labels = tmp_path / "labels"
    # one part a second: the part stays among the 200 recent rejects the dashboard can label for minutes
    daemon, http = start_dashboard_process(
        tmp_path, trained_model, mosquitto_broker, "lab", profile, fps=1.0,
        dashboard={"labels_dir": "labels", "defect_types": ["crack", "scratch"], "requests_per_s": 500.0,
                   "request_burst": 1000.0})
    out = tmp_path / "out"
    try:
        seq = labelled_fail(http)
        info = http.get("/api/labels").json()
        assert info["enabled"] is True and info["suggested"] == ["crack", "scratch"] and info["labels"] == []
        run_id = info["run_id"]
        assert run_id == http.get("/api/state").json()["run_id"]
        name = f"lab-{run_id}-{seq}.png"
        raw = raw_evidence(out, run_id, seq).read_bytes()
        body = {"defect_type": "crack", "author": "bo", "note": "hairline at the rim"}

        # no token, a wrong token, too large, an unknown part: refused with one line, nothing written
        one_line_error(http.post_json(f"/api/rejects/{seq}/label", body, token=None), 401)
        one_line_error(http.post_json(f"/api/rejects/{seq}/label", body, token="x" * 32), 401)
        big = json.dumps({**body, "note": "n" * 5000}).encode()
        one_line_error(http.request("POST", f"/api/rejects/{seq}/label", big, "application/json"), 413)
        assert "4096" in one_line_error(http.request("POST", f"/api/rejects/{seq}/label", b" " * 4097,
                                                     "application/json"), 413)
        assert "999999" in one_line_error(http.post_json("/api/rejects/999999/label", body), 404)
        assert not labels.exists() or files_under(labels) == set()

        # a full disk (the index is /dev/full) or an index that cannot be opened: the image is taken back
        labels.mkdir()
        (labels / "labels.csv").symlink_to("/dev/full")
        assert "nothing was kept" in one_line_error(http.post_json(f"/api/rejects/{seq}/label", body), 507)
        (labels / "labels.csv").unlink()
        (labels / "labels.csv").mkdir()
        assert "nothing was kept" in one_line_error(http.post_json(f"/api/rejects/{seq}/label", body), 500)
        (labels / "labels.csv").rmdir()
        assert files_under(labels) == set(), "nothing half-written"

        # a label: the raw frame byte for byte in test/crack, one index line, one audit line
        saved = http.post_json(f"/api/rejects/{seq}/label", body)
        assert saved.status == 200, saved.body
        assert saved.json()["label"]["file"] == f"test/crack/{name}"
        assert (labels / "test" / "crack" / name).read_bytes() == raw
        assert files_under(labels) == {f"test/crack/{name}", "labels.csv"}
        with (labels / "labels.csv").open(newline="") as f:
            rows = list(csv.DictReader(f))
        assert [(r["seq"], r["run_id"], r["station"], r["defect_type"], r["author"], r["note"], r["client"])
                for r in rows] == [(str(seq), run_id, "lab", "crack", "bo", "hairline at the rim", "127.0.0.1")]
        frame = next(r["name"] for r in http.get("/api/rejects?limit=200").json()["rejects"] if r["seq"] == seq)
        assert rows[0]["frame"] == frame and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", rows[0]["time_utc"])
        audited = [r for r in read_audit_all(out / "audit.jsonl") if r.get("kind") == "label"]
        assert [(a["seq"], a["run_id"], a["frame"], a["defect_type"], a["author"], a["note"], a["client"])
                for a in audited] == [(seq, run_id, frame, "crack", "bo", "hairline at the rim", "127.0.0.1")]

        # relabelling moves the file (one label per part); "good" is a false reject: a training image
        moved = http.post_json(f"/api/rejects/{seq}/label", {"defect_type": "scratch", "author": "al"})
        assert moved.status == 200 and moved.json()["label"]["previous"] == f"test/crack/{name}"
        assert files_under(labels) == {f"test/scratch/{name}", "labels.csv"}
        good = http.post_json(f"/api/rejects/{seq}/label", {"defect_type": "Good", "author": "al"})
        assert good.status == 200 and good.json()["label"]["defect_type"] == "good"
        assert files_under(labels) == {f"train/good/{name}", "labels.csv"}
        assert (labels / "train" / "good" / name).read_bytes() == raw
        listed = http.get("/api/labels").json()
        assert [(r["seq"], r["defect_type"], r["author"]) for r in listed["labels"]] == [
            (seq, "good", "al"), (seq, "scratch", "al"), (seq, "crack", "bo")]
        assert listed["seen"] == ["crack", "scratch"]  # the (now empty) folders of types already used

        # fuzz: any body either labels the part (a valid name, inside LABELS_DIR) or is refused with one line
        outside = {p for p in tmp_path.rglob("*") if not p.is_relative_to(labels) and not p.is_relative_to(out)}
        fuzz_labels(http, seq, name, labels)
        after = {p for p in tmp_path.rglob("*") if not p.is_relative_to(labels) and not p.is_relative_to(out)}
        assert after == outside, "nothing is written outside LABELS_DIR"
        assert not list(labels.rglob("*.tmp")), "no temporary file is left"
        pngs = [p for p in labels.rglob("*.png")]
        assert [p.name for p in pngs] == [name], "one label per part"
        assert pngs[0].read_bytes() == raw
        assert daemon.alive(), "no label request stops the daemon"
    finally:
        daemon.stop()


TRAVERSAL = st.sampled_from(["../x", "a/b", "..", ".", "x\x00y", "/etc", "a\\b", "crack\n", " crack", "crack.",
                             "x" * 65, "", "good/../../x", "\u00e9t\u00e9", "~", "$HOME", "a" * 64])
NAMES = st.one_of(TRAVERSAL, st.text(max_size=80), st.text(alphabet="ab._- /\\\x00", max_size=12), st.integers(),
                  st.none(), st.lists(st.text(max_size=3), max_size=2))
AUTHORS = st.one_of(st.just("bo"), st.text(max_size=80), st.none(), st.integers())


def fuzz_labels(http: Http, seq: int, name: str, labels: Path) -> None:
    outcomes: set[bool] = set()

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(defect_type=NAMES, author=AUTHORS, note=st.one_of(st.none(), st.text(max_size=230)),
           extra=st.dictionaries(st.text(max_size=8).filter(lambda k: k not in ("defect_type", "author", "note")),
                                 st.integers(), max_size=1))
    @example(defect_type="crack", author="bo", note=None, extra={})  # a label, whatever the random draw brings
    def one(defect_type: Any, author: Any, note: Any, extra: dict[str, int]) -> None:
        body = {"defect_type": defect_type, "author": author, **({} if note is None else {"note": note}), **extra}
        answer = http.post_json(f"/api/rejects/{seq}/label", body)
        good_author = isinstance(author, str) and author.strip() and len(author) <= 64 and author.isprintable()
        good_note = note is None or (len(note) <= 200 and note.isprintable())
        ok = isinstance(defect_type, str) and valid_type(defect_type) and good_author and good_note and not extra
        if len(json.dumps(body).encode()) > 4096:
            ok = False
        outcomes.add(bool(ok))
        if not ok:
            one_line_error(answer, 413 if len(json.dumps(body).encode()) > 4096 else 400)
            return
        assert answer.status == 200, (body, answer.body[:300])
        folder = "train/good" if defect_type.lower() == "good" else f"test/{defect_type}"
        assert answer.json()["label"]["file"] == f"{folder}/{name}"
        placed = labels / folder / name
        assert placed.is_file() and placed.resolve().is_relative_to(labels.resolve())

    one()
    assert outcomes == {True, False}, "the fuzz both labelled the part and was refused"
    assert os.path.isfile(labels / "labels.csv")
