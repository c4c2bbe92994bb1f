"""A full disk under the spool (issue 17, item 13): every verdict is still delivered and counted, and the log
gets one line for the first failure, then at most one a minute that says how many were not logged.

The spool lies on a real 512 KiB tmpfs that the test fills; the broker is a real Mosquitto. The throttle's
clock is frozen by the test, so a slow machine cannot change how many lines are expected.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.ci import skip_unless_ci

from edge_inspector.config.models import MqttConfig
from edge_inspector.publish import Spool, VerdictSender

pytestmark = pytest.mark.integration
N = 300


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        skip_unless_ci(f"cannot mount a tmpfs here ({res.stderr.strip()})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_spool_disk_logs_once_a_minute_and_keeps_every_count(
        small_disk: Path, mosquitto_broker: Any, mqtt_subscriber: Any, caplog: pytest.LogCaptureFixture) -> None:
    cfg = MqttConfig(host=mosquitto_broker.host, port=mosquitto_broker.port, topic_prefix="ei-full",
                     connect_timeout=5.0, publish_timeout=2.0, reconnect_max_delay=1.0)
    sub = mqtt_subscriber(mosquitto_broker, "ei-full/full/verdict")
    sender = VerdictSender(cfg, "full", "run-full", Spool(small_disk / "spool.sqlite"))
    now = [1000.0]
    for throttle in getattr(sender, "log_throttles", {}).values():  # getattr: the test also runs on old code
        throttle.clock = lambda: now[0]
    free = shutil.disk_usage(small_disk).free
    with (small_disk / "filler.bin").open("wb") as f:
        f.write(b"\0" * free)  # the spool may still have a page or two of room: the loop below fills it
    sender.start()
    try:
        with caplog.at_level(logging.INFO, logger="edge_inspector.publish.sender"):
            failed = [seq for seq in range(N)
                      if not sender.submit("run-full", seq, b'{"seq": %d, "pad": "%s"}' % (seq, b"x" * 2000), False)]
            assert len(failed) >= N - 20, f"the disk is full: only {N - len(failed)} of {N} may fit"
            lines = [r.getMessage() for r in caplog.records if "spool write failed" in r.getMessage()]
            assert len(lines) == 1 and f"for seq {failed[0]} " in lines[0], lines
            assert sender.stats().write_errors == len(failed), "every failure is counted"

            now[0] += 61.0  # a minute later the next failure is logged with what was suppressed
            assert not sender.submit("run-full", N, b'{"seq": %d}' % N, False)
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
