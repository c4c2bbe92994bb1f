"""The scaffolding of the sender tests (test_sender, test_sender_refused_publish, test_sender_disk_full): a
contract verdict for a seq, the MQTT section pointing at a test broker, a real VerdictSender over a spool file,
and submit() as the daemon's sinks call it. Nothing here is mocked: the broker is the test's real Mosquitto."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from edge_inspector.config.models import MqttConfig
from edge_inspector.publish import Spool, VerdictSender, encode, verdict_payload
from edge_inspector.publish.contract import REJECT_VERDICTS
from edge_inspector.types import Box, Inspection, Verdict
from helpers.daemon_process import wait_for

CYCLE = (Verdict.PASS, Verdict.FAIL, Verdict.PASS, Verdict.FAULT)


def inspection(seq: int, verdict: Verdict | None = None, *, name: str | None = None, reason: str = "test",
               at: float | None = None) -> Inspection:
    """One judged frame: `verdict` (default: PASS, FAIL, PASS, FAULT by seq), decided at `at` (default now);
    a FAIL has a box and a score over the threshold, a FAULT no score."""
    verdict = verdict or CYCLE[seq % len(CYCLE)]
    now = time.time() if at is None else at
    return Inspection(
        seq=seq, source_index=seq, name=name or f"frame_{seq:06d}", captured_at=now - 0.02, decided_at=now,
        verdict=verdict, score={Verdict.PASS: 0.25, Verdict.FAIL: 0.75}.get(verdict),
        threshold=0.5, boxes=(Box(3, 4, 5, 6, 20, 0.9),) if verdict is Verdict.FAIL else (),
        reason=reason, latency_ms=20.0, model_id="test-model",
    )


def mqtt_config(broker: Any, topic_prefix: str = "ei-it", **kw: Any) -> MqttConfig:
    """The mqtt section for `broker` with short timeouts (a test never waits the production defaults)."""
    base: dict[str, Any] = {"host": broker.host, "port": broker.port, "topic_prefix": topic_prefix,
                            "connect_timeout": 5.0, "publish_timeout": 2.0, "reconnect_max_delay": 1.0}
    return MqttConfig(**{**base, **kw})


def sender(folder: Path, cfg: MqttConfig, station: str, run_id: str, spool_name: str | None = None) -> VerdictSender:
    """A sender (not started) whose spool is `folder`/`spool_name` (default `<station>.sqlite`)."""
    return VerdictSender(cfg, station, run_id, Spool(folder / (spool_name or f"{station}.sqlite")))


def submit(s: VerdictSender, station: str, i: Inspection) -> bool:
    """Hand one inspection to the sender as the sinks do; False when the spool failed (kept in memory)."""
    payload = encode(verdict_payload(i, station, s.run_id))
    return s.submit(s.run_id, i.seq, payload, i.verdict in REJECT_VERDICTS)


def wait_until(predicate: Any, timeout: float) -> bool:
    """Poll `predicate` every 50 ms until it is true or `timeout` passes."""
    return wait_for(predicate, timeout, interval=0.05)
