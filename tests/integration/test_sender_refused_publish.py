"""A publish the MQTT client refuses (issue 18, item 11): the verdict counts as sent only when every message it
needs was accepted and acknowledged; the refused one is published again on its own (the accepted copy is not
sent twice), and the log names the topic that was refused.

The refusal is real: paho's own limit on queued messages (`max_queued_messages_set`) on the sender's real
client, reached while the real Mosquitto is paused (SIGSTOP: connected, but no PUBACK comes back), so the
client refuses the next message with MQTT_ERR_QUEUE_SIZE. Nothing is mocked.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from contract_schemas import validate_message

from edge_inspector.config.models import MqttConfig
from edge_inspector.publish import Spool, VerdictSender, encode, verdict_payload
from edge_inspector.publish.contract import REJECT_VERDICTS
from edge_inspector.types import Inspection, Verdict

pytestmark = pytest.mark.integration
STATION = "refuse"


def inspection(seq: int, verdict: Verdict) -> Inspection:
    return Inspection(seq=seq, source_index=seq, name=f"frame_{seq:06d}", captured_at=1.0e9, decided_at=1.0e9,
                      verdict=verdict, score=None if verdict is Verdict.FAULT else 0.25, threshold=0.5,
                      reason="test", latency_ms=20.0, model_id="test-model")


def submit(s: VerdictSender, seq: int, verdict: Verdict) -> None:
    payload = encode(verdict_payload(inspection(seq, verdict), STATION, s.run_id))
    assert s.submit(s.run_id, seq, payload, verdict in REJECT_VERDICTS)


def wait_until(predicate: Any, timeout: float) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "edge_inspector.publish.sender" and "refused" in r.getMessage()]


def test_a_refused_reject_copy_is_published_later_once_and_the_log_names_the_refused_topic(
        tmp_path: Path, fresh_broker: Any, mqtt_subscriber: Any, caplog: pytest.LogCaptureFixture) -> None:
    prefix = f"ei-refuse/{STATION}"
    sub = mqtt_subscriber(fresh_broker, f"{prefix}/+")
    cfg = MqttConfig(host=fresh_broker.host, port=fresh_broker.port, topic_prefix="ei-refuse", connect_timeout=5.0,
                     publish_timeout=2.0, reconnect_max_delay=1.0, keepalive=60)
    s = VerdictSender(cfg, STATION, "run-refuse", Spool(tmp_path / "spool.sqlite"))
    # paho refuses a QoS 1 message while this many are unacknowledged (its own setting, no mock)
    s.conn.client.max_queued_messages_set(1)
    s.start()
    try:
        submit(s, 0, Verdict.PASS)
        assert wait_until(lambda: s.stats().acknowledged == 1, 10.0), "seq 0 (and the status before it) acked"
        fresh_broker.pause()
        with caplog.at_level(logging.INFO, logger="edge_inspector.publish"):
            submit(s, 1, Verdict.FAIL)  # the verdict copy fills the client's queue: the reject copy is refused
            assert wait_until(lambda: any("seq 1 " in m for m in refusals(caplog)), 10.0), "the sender met it"
            fresh_broker.resume()
            assert sub.wait_for(1, 20.0, where=lambda t, p: t.endswith("/reject") and p["seq"] == 1), \
                "the refused reject copy is published once the client takes messages again"
            submit(s, 2, Verdict.FAULT)
            assert sub.wait_for(1, 20.0, where=lambda t, p: t.endswith("/reject") and p["seq"] == 2)
            assert wait_until(lambda: s.stats().acknowledged == 3 and s.stats().depth == 0, 10.0), s.stats()
    finally:
        fresh_broker.resume()
        s.stop(grace=2.0)
    line = next(m for m in refusals(caplog) if "seq 1 " in m)
    assert f"publish on {prefix}/reject refused" in line, line
    assert f"{prefix}/verdict" not in line, "only the refused topic is named"
    received = [(t.rsplit("/", 1)[-1], p["seq"]) for t, p in sub.messages if not t.endswith("/status")]
    for topic, payload in sub.messages:
        validate_message(topic, payload)
    assert sorted(received) == [("reject", 1), ("reject", 2), ("verdict", 0), ("verdict", 1), ("verdict", 2)], \
        "every message once: the accepted verdict copy of seq 1 was not sent again"
    assert s.stats().published == 3 and s.stats().acknowledged == 3


def test_a_verdict_whose_every_copy_is_refused_is_published_later_and_the_log_names_both(
        tmp_path: Path, fresh_broker: Any, mqtt_subscriber: Any, caplog: pytest.LogCaptureFixture) -> None:
    prefix = f"ei-refuse2/{STATION}"
    sub = mqtt_subscriber(fresh_broker, f"{prefix}/+")
    cfg = MqttConfig(host=fresh_broker.host, port=fresh_broker.port, topic_prefix="ei-refuse2", connect_timeout=5.0,
                     publish_timeout=2.0, reconnect_max_delay=1.0, keepalive=60)
    s = VerdictSender(cfg, STATION, "run-refuse2", Spool(tmp_path / "spool.sqlite"))
    s.conn.client.max_queued_messages_set(1)
    s.start()
    try:
        submit(s, 0, Verdict.PASS)
        assert wait_until(lambda: s.stats().acknowledged == 1, 10.0)
        fresh_broker.pause()
        with caplog.at_level(logging.INFO, logger="edge_inspector.publish"):
            submit(s, 1, Verdict.PASS)  # accepted: the client's queue is now full
            submit(s, 2, Verdict.FAIL)  # both copies refused
            assert wait_until(lambda: any("seq 2 " in m for m in refusals(caplog)), 10.0)
            fresh_broker.resume()
            assert sub.wait_for(1, 20.0, where=lambda t, p: t.endswith("/reject") and p["seq"] == 2)
            assert wait_until(lambda: s.stats().acknowledged == 3 and s.stats().depth == 0, 10.0), s.stats()
    finally:
        fresh_broker.resume()
        s.stop(grace=2.0)
    line = next(m for m in refusals(caplog) if "seq 2 " in m)
    assert f"publish on {prefix}/verdict and {prefix}/reject refused" in line, line
    verdicts = [p["seq"] for t, p in sub.messages if t.endswith("/verdict")]
    assert verdicts == [0, 1, 2], "in seq order, each once"
