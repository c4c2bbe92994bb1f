"""A full disk under the spool (issue 17, item 13): every verdict is still delivered and counted, and the log
gets one line for the first failure, then at most one a minute that says how many were not logged.

The spool lies on a real 512 KiB tmpfs that the test fills; the broker is a real Mosquitto. The throttle's
clock is frozen by the test, so a slow machine cannot change how many lines are expected.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from helpers.sender_rig import inspection, mqtt_config
from helpers.sender_rig import sender as make_sender

from edge_inspector.publish import VerdictSender, encode, verdict_payload
from edge_inspector.types import Verdict

pytestmark = pytest.mark.integration
N = 300


def verdict(seq: int, station: str = "full", run_id: str = "run-full") -> bytes:
    """A real contract verdict (the subscribers check every message against the schema), about 1 KB long."""
    i = inspection(seq, Verdict.PASS, name=f"frame_{seq:06d}_" + "n" * 400, reason="r" * 500, at=1.0e9)
    return encode(verdict_payload(i, station, run_id))


def test_full_spool_disk_logs_once_a_minute_and_keeps_every_count(
        small_disk: Path, mosquitto_broker: Any, mqtt_subscriber: Any, caplog: pytest.LogCaptureFixture) -> None:
    sub = mqtt_subscriber(mosquitto_broker, "ei-full/full/verdict")
    sender = make_sender(small_disk, mqtt_config(mosquitto_broker, "ei-full"), "full", "run-full", "spool.sqlite")
    now = [1000.0]
    for throttle in getattr(sender, "log_throttles", {}).values():  # getattr: the test also runs on old code
        throttle.clock = lambda: now[0]
    free = shutil.disk_usage(small_disk).free
    with (small_disk / "filler.bin").open("wb") as f:
        f.write(b"\0" * free)  # the spool may still have a page or two of room: the loop below fills it
    sender.start()
    try:
        with caplog.at_level(logging.INFO, logger="edge_inspector.publish.sender"):
            failed = [seq for seq in range(N) if not sender.submit("run-full", seq, verdict(seq), False)]
            assert len(failed) >= N - 20, f"the disk is full: only {N - len(failed)} of {N} may fit"
            lines = [r.getMessage() for r in caplog.records if "spool write failed" in r.getMessage()]
            assert len(lines) == 1 and f"for seq {failed[0]} " in lines[0], lines
            assert sender.stats().write_errors == len(failed), "every failure is counted"

            now[0] += 61.0  # a minute later the next failure is logged with what was suppressed
            assert not sender.submit("run-full", N, verdict(N), False)
            lines = [r.getMessage() for r in caplog.records if "spool write failed" in r.getMessage()]
            assert len(lines) == 2, lines
            assert lines[1].endswith(f"({len(failed) - 1} more since the last report, {len(failed) + 1} in all)")
            got = sub.wait_for(N + 1, 30.0)
            assert sorted(p["seq"] for _, p in got) == list(range(N + 1)), "the memory fallback delivered every one"
    finally:
        sender.stop(grace=2.0)
    assert sender.stats().write_errors == len(failed) + 1
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) <= 4, [r.getMessage()[:200] for r in errors]  # one line per kind of failure at most


def fill(disk: Path) -> None:
    free = shutil.disk_usage(disk).free
    with (disk / "filler.bin").open("ab") as f:
        f.write(b"\0" * free)


def memory_only_backlog(disk: Path, broker: Any, topic_prefix: str, n: int) -> tuple[VerdictSender, int]:
    """A sender whose spool disk is full and whose broker is stopped, holding the last of `n` verdicts only in
    memory; returns it and how many are in memory."""
    cfg = mqtt_config(broker, topic_prefix, publish_timeout=1.0)
    sender = make_sender(disk, cfg, "mem", "run-mem", "spool.sqlite")
    sender.start()
    broker.stop()
    deadline = time.monotonic() + 10.0
    while sender.stats().connected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not sender.stats().connected
    fill(disk)
    failed = [seq for seq in range(n) if not sender.submit("run-mem", seq, b'{"seq": %d}' % seq, seq % 2 == 1)]
    # (no subscriber here: the broker is down, so the payloads never meet a schema check)
    assert failed[-10:] == list(range(n - 10, n)), "the disk is full: the last ones went to memory"
    stats = sender.stats()
    assert stats.depth + stats.memory_dropped == n, "the spool and memory hold every one not pushed out"
    return sender, len(failed)


def spooled_seqs(path: Path) -> list[int]:
    with sqlite3.connect(str(path)) as db:
        return [int(r[0]) for r in db.execute("SELECT seq FROM outbox ORDER BY id")]


def test_memory_verdicts_go_to_the_spool_at_stop_when_it_takes_writes_again(
        small_disk: Path, fresh_broker: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Issue 18, item 9: the broker is down at stop; the disk has room again, so nothing held in memory is lost."""
    sender, in_memory = memory_only_backlog(small_disk, fresh_broker, "ei-mem1", 20)
    (small_disk / "filler.bin").unlink()  # an operator freed the disk
    with caplog.at_level(logging.INFO, logger="edge_inspector.publish.sender"):
        sender.stop(grace=1.0)
    assert sorted(spooled_seqs(small_disk / "spool.sqlite")) == list(range(20)), "all 20 wait for the next run"
    assert sender.stats().memory_dropped == 0 and sender.stats().memory_depth == 0
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert f"{in_memory} undelivered verdicts held in memory were written to the spool at stop" in text, text
    assert "LOST" not in text


def test_memory_verdicts_that_cannot_be_spooled_at_stop_are_counted_and_logged_as_lost(
        small_disk: Path, fresh_broker: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Issue 18, item 9: the broker is down and the disk still full at stop: the log says which verdicts are
    lost, not that they were kept in the spool, and memory_dropped counts them."""
    sender, in_memory = memory_only_backlog(small_disk, fresh_broker, "ei-mem2", 20)
    spooled = sender.spool.depth
    first_lost = 20 - in_memory
    with caplog.at_level(logging.INFO, logger="edge_inspector.publish.sender"):
        sender.stop(grace=1.0)
    assert sender.stats().memory_dropped == in_memory
    lines = [r.getMessage() for r in caplog.records]
    lost = [m for m in lines if "LOST" in m]
    assert len(lost) == 1, lines
    assert lost[0].startswith(f"stopped with {in_memory} undelivered verdicts held only in memory"), lost
    assert f"(seq {first_lost}-19)" in lost[0], lost[0]
    kept = [m for m in lines if "kept in the spool" in m]
    assert all(m.startswith(f"stopped with {spooled} undelivered") for m in kept), kept
    assert sorted(spooled_seqs(small_disk / "spool.sqlite")) == list(range(first_lost))


def _expand(ranges: str) -> set[int]:
    out: set[int] = set()
    for part in ranges.split(", "):
        a, _, b = part.partition("-")
        out.update(range(int(a), int(b or a) + 1))
    return out


def test_run_stopped_with_the_broker_down_and_the_spool_disk_full_accounts_for_every_verdict(
        small_disk: Path, fresh_broker: Any, mqtt_subscriber: Any, tmp_path: Path) -> None:
    """Issue 18, item 9, through `edge-inspector run`: the spool's disk fills, the broker goes away, systemd stops
    the service. Every audited verdict was delivered, is in the spool for the next run, or is named as lost in
    the log; the stats carried the memory fallback's counters while the broker was up."""
    pytest.importorskip("torch", reason="the tiny model needs torch")
    from helpers.daemon_process import DaemonProcess, audit_lines, wait_for, write_config
    from helpers.tiny_model import make_model

    from edge_inspector.synth import render_line_video

    video = tmp_path / "line.avi"
    render_line_video(video, "brushed_metal", n_frames=12, defect_rate=0.3, size=64, seed=18)
    config = write_config(tmp_path / "c.yaml", model_dir=make_model(tmp_path / "model"), broker=fresh_broker,
                          station="memstop", source={"kind": "video", "path": str(video), "loop": True,
                                                     "pacing": "realtime", "fps": 10},
                          spool={"path": str(small_disk / "spool.sqlite")}, mqtt={"stats_interval": 0.5},
                          output={"shutdown_grace": 4.0})
    sub = mqtt_subscriber(fresh_broker, "ei-rel/memstop/#")
    audit = tmp_path / "out" / "audit.jsonl"
    daemon = DaemonProcess(config).start()
    try:
        assert wait_for(lambda: audit_lines(audit) >= 3, 120.0), daemon.output()[-3000:]
        fill(small_disk)
        assert sub.wait_for(1, 60.0, where=lambda t, p: t.endswith("/stats") and p["spool"]["write_errors"] > 0), \
            "stats count the failed spool writes"
        fresh_broker.stop()
        now = audit_lines(audit)
        assert wait_for(lambda: audit_lines(audit) >= now + 5, 60.0), "verdicts go on while the broker is down"
        code, _ = daemon.terminate(60.0)
    finally:
        daemon.stop()
    log = daemon.output()
    assert code == 0, log[-3000:]
    audited = {json.loads(line)["seq"] for line in audit.read_text().splitlines()}
    received = {p["seq"] for t, p in sub.messages if t.endswith("/verdict")}
    spooled = set(spooled_seqs(small_disk / "spool.sqlite"))
    m = re.search(r"stopped with (\d+) undelivered verdicts held only in memory: .* LOST \(seq ([0-9, -]+)\)", log)
    assert m, "the log names the verdicts lost at stop:\n" + log[-3000:]
    lost = _expand(m.group(2))
    assert int(m.group(1)) == len(lost) > 0
    # Sent before the broker went away but never acknowledged: the subscriber may have them (once seen
    # under load: seq 4 arrived, its PUBACK did not), and they are named apart from the verdicts never sent.
    u = re.search(r"stopped with (\d+) verdicts held only in memory that were sent but never acknowledged: "
                  r".* \(seq ([0-9, -]+)\)", log)
    unacked = _expand(u.group(2)) if u else set()
    assert not unacked & lost and not unacked & spooled
    assert not lost & (received | spooled), "a verdict never sent was delivered or kept"
    assert audited == received | spooled | lost | unacked, \
        "every verdict is delivered, kept in the spool, or named as lost or unacknowledged"
    assert f"stopped with {len(lost)} undelivered verdicts kept in the spool" not in log
    stats = [p for t, p in sub.messages if t.endswith("/stats") and p["spool"]["write_errors"] > 0]
    assert all("memory_dropped" in p["spool"] and "memory_depth" in p["spool"] for p in stats), stats[-1]


def test_the_memory_fallback_overflow_and_the_stop_are_both_counted(
        small_disk: Path, fresh_broker: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """memory_dropped counts the verdicts pushed out of a full memory fallback, and at a stop that cannot spool
    them, the ones still held; memory_depth shows what is held meanwhile."""
    from edge_inspector.publish import memory_fallback

    monkeypatch.setattr(memory_fallback, "MEMORY_FALLBACK_LIMIT", 8)  # the real queue is 10,000 deep
    sender, in_memory = memory_only_backlog(small_disk, fresh_broker, "ei-mem3", 20)
    overflow = in_memory - 8
    assert overflow > 0
    stats = sender.stats()
    assert (stats.memory_depth, stats.memory_dropped) == (8, overflow)
    sender.stop(grace=1.0)
    assert (sender.stats().memory_depth, sender.stats().memory_dropped) == (0, in_memory)
