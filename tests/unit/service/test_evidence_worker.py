"""The image worker: evidence PNGs and annotation off the inspection thread, bounded, drops counted.
Real files in tmp_path; the worker is held back with an event, never with a timing assumption."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_inspector.config import Config, MqttConfig, OutputConfig, SpoolConfig
from edge_inspector.publish import EvidenceWriter
from edge_inspector.publish.audit import read_audit
from edge_inspector.service.image_worker import ImageJob, ImageWorker
from edge_inspector.service.sinks import Sinks
from edge_inspector.types import Box, Inspection, Verdict


def inspection(seq: int, verdict: Verdict = Verdict.FAIL) -> Inspection:
    rng = np.random.default_rng(seq)
    image = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    amap = np.zeros((48, 64), np.float32)
    amap[10:20, 10:20] = 0.9
    return Inspection(seq=seq, source_index=seq, name=f"f{seq}", captured_at=1_790_000_000.0 + seq,
                      decided_at=1_790_000_000.5 + seq, verdict=verdict, score=0.9, threshold=0.5,
                      boxes=(Box(10, 10, 10, 10, 100, 0.9),), reason="test", image=image, anomaly_map=amap)


def test_worker_writes_every_accepted_file_and_refuses_when_full(tmp_path: Path) -> None:
    writer = EvidenceWriter(tmp_path / "evidence", run_id="r1")
    release = threading.Event()
    started = threading.Event()

    def handle(job: ImageJob) -> None:
        started.set()
        release.wait(10)  # hold the worker so that the queue fills
        assert job.evidence_path is not None
        writer.write_planned(job.inspection, None, job.evidence_path)

    dropped: list[int] = []
    worker = ImageWorker(handle, lambda job: dropped.append(job.inspection.seq), limit=3)
    worker.start()
    accepted, refused = [], []
    first = inspection(0)
    assert worker.submit(ImageJob(first, writer.plan(first), video=False))
    assert started.wait(10), "the worker took the first job"
    accepted.append(0)
    for seq in range(1, 8):  # the worker holds job 0; three fit in the queue, the rest are refused
        insp = inspection(seq)
        (accepted if worker.submit(ImageJob(insp, writer.plan(insp), video=False)) else refused).append(seq)
    assert accepted == [0, 1, 2, 3] and refused == [4, 5, 6, 7]
    release.set()
    assert worker.close(timeout=10)
    assert dropped == [] and worker.done == 4
    for seq in accepted:
        path = writer.path_for(inspection(seq))
        assert path.exists() and np.array_equal(cv2.imread(str(path)), inspection(seq).image), "lossless PNG"
    assert sorted(p.name for p in (tmp_path / "evidence").rglob("*.png")) == sorted(
        writer.path_for(inspection(s)).name for s in accepted)
    assert not worker.submit(ImageJob(first, None, video=False)), "closed: nothing more is taken"


def test_close_drops_and_counts_what_it_cannot_finish(tmp_path: Path) -> None:
    release = threading.Event()
    done: list[int] = []
    dropped: list[int] = []

    def handle(job: ImageJob) -> None:
        release.wait(10)
        done.append(job.inspection.seq)

    worker = ImageWorker(handle, lambda job: dropped.append(job.inspection.seq), limit=4)
    worker.start()
    for seq in range(4):
        assert worker.submit(ImageJob(inspection(seq), None, video=False))
    t0 = time.monotonic()
    threading.Timer(0.3, release.set).start()  # the job in hand finishes after close() gave up waiting
    assert not worker.close(timeout=0.05)
    assert time.monotonic() - t0 < 5
    assert len(done) + len(dropped) == 4 and dropped, (done, dropped)
    assert worker.pending == 0


def sinks_config(tmp_path: Path, **output: object) -> Config:
    out = tmp_path / "out"
    return Config(station_id="t", mqtt=MqttConfig(enabled=False),
                  output=OutputConfig(dir=out, audit_log=out / "audit.jsonl", evidence_dir=out / "evidence",
                                      min_free_mb=0.0, **output),  # type: ignore[arg-type]
                  spool=SpoolConfig(path=out / "spool.sqlite"))


def test_sinks_write_evidence_on_the_worker_and_the_audit_names_it(tmp_path: Path) -> None:
    sinks = Sinks(sinks_config(tmp_path), "run1")
    stop = threading.Event()
    sinks.start(stop)
    try:
        for seq in range(6):
            sinks.emit(inspection(seq, Verdict.FAIL if seq % 2 else Verdict.PASS))
        sinks.drain(10)
    finally:
        stop.set()
        sinks.stop(1.0)
    audit = read_audit(tmp_path / "out" / "audit.jsonl")
    assert [a["seq"] for a in audit] == list(range(6))
    for a in audit:
        if a["verdict"] == "PASS":
            assert a["evidence"] is None
            continue
        annotated = cv2.imread(a["evidence"])
        assert annotated is not None and annotated.shape == (48, 64, 3)
        assert Path(a["evidence"].replace("_FAIL.png", "_FAIL_raw.png")).exists()
    assert sinks.errors["evidence"] == sinks.errors["annotate"] == 0
    assert sinks.evidence.written == 6  # three FAILs, annotated and raw
    assert sum(sinks.dropped.values()) == 0


def test_sinks_count_drops_when_the_worker_is_busy_and_never_wait(tmp_path: Path) -> None:
    sinks = Sinks(sinks_config(tmp_path), "run2")
    stop = threading.Event()
    sinks.start(stop)
    assert sinks.worker is not None
    release = threading.Event()
    real_render = sinks._render

    def slow_render(job: ImageJob) -> None:
        release.wait(10)
        real_render(job)

    sinks.worker._handle = slow_render  # a disk that is slow right now
    try:
        for seq in range(20):
            sinks.emit(inspection(seq))
        release.set()
        sinks.drain(10)
    finally:
        stop.set()
        sinks.stop(1.0)
    audit = read_audit(tmp_path / "out" / "audit.jsonl")
    assert [a["seq"] for a in audit] == list(range(20)), "every verdict audited, none waited for the worker"
    with_file = [a for a in audit if a["evidence"]]
    assert sinks.dropped["evidence"] == 20 - len(with_file) > 0
    assert all(Path(a["evidence"]).exists() for a in with_file), "every accepted evidence file was written"


@pytest.mark.parametrize("limit", [0, -1])
def test_worker_refuses_a_queue_without_room(limit: int) -> None:
    with pytest.raises(ValueError, match="limit"):
        ImageWorker(lambda job: None, lambda job: None, limit=limit)
