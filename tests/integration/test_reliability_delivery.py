"""No verdict lost: a broker SIGKILLed mid-run and a daemon SIGKILLed mid-run, with real processes throughout.

The PLC side is a persistent-session QoS 1 subscriber (as docs/mqtt-contract.md advises); every message it
receives is checked against the contract's JSON Schemas.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from contract_schemas import validate_message
from helpers.daemon_process import DaemonProcess, audit_lines, wait_for, write_config

from edge_inspector.publish import Spool
from edge_inspector.publish.audit import read_audit_all
from edge_inspector.synth import render_line_video

pytestmark = pytest.mark.integration


def dedupe(messages: list[tuple[str, Any]]) -> list[tuple[str, int]]:
    """(run_id, seq) of every verdict, first arrival only, in arrival order."""
    seen: dict[tuple[str, int], None] = {}
    for topic, payload in messages:
        validate_message(topic, payload)
        if topic.endswith("/verdict"):
            seen.setdefault((payload["run_id"], payload["seq"]), None)
    return list(seen)


def test_broker_killed_for_20_s_mid_run_loses_nothing(
    tmp_path: Path,
    trained_model,
    fresh_broker,
    mqtt_subscriber,
) -> None:
    """300 frames at 10 fps; the broker is SIGKILLed at 5 s and back 20 s later on the same port."""
    model_dir, category, size = trained_model
    video = tmp_path / "line.avi"
    render_line_video(video, category, n_frames=300, defect_rate=0.2, size=size, seed=11)
    config = write_config(tmp_path / "c.yaml", model_dir=model_dir, broker=fresh_broker, station="outage",
                          source={"kind": "video", "path": str(video), "pacing": "realtime", "fps": 10.0})
    plc = mqtt_subscriber(fresh_broker, "ei-rel/outage/#", client_id="plc-outage-rel", clean_session=False)
    daemon = DaemonProcess(config).start()
    audit = tmp_path / "out" / "audit.jsonl"
    try:
        assert wait_for(lambda: audit_lines(audit) >= 50, 60), daemon.output()[-3000:]  # 5 s of verdicts
        fresh_broker.kill()
        t_kill = time.monotonic()
        assert wait_for(lambda: time.monotonic() - t_kill >= 20, 25)
        assert daemon.alive(), daemon.output()[-3000:]
        fresh_broker.start()
        assert daemon.wait(timeout=60) == 0, daemon.output()[-3000:]
        got = plc.wait_for(300, 30, where=lambda t, p: t.endswith("/verdict") and p["seq"] == 299)
        assert got, "the last verdict arrived"
    finally:
        daemon.stop()
    keys = dedupe(plc.messages)
    run_ids = {r for r, _ in keys}
    assert len(run_ids) == 1
    assert [s for _, s in keys] == list(range(300)), "300 of 300, exactly once after de-duplication, in order"
    verdicts = {p["seq"]: p for t, p in plc.messages if t.endswith("/verdict")}
    assert not [s for s, p in verdicts.items() if p["verdict"] == "FAULT"], "the outage itself produces no FAULT"
    assert any(p["replayed"] for p in verdicts.values()), "the backlog says it is late"
    print(f"outage run: {len(keys)} of 300 delivered; {sum(p['replayed'] for p in verdicts.values())} replayed")


def test_daemon_killed_mid_run_delivers_every_decided_verdict_after_restart(
    tmp_path: Path,
    trained_model,
    fresh_broker,
    mqtt_subscriber,
) -> None:
    """Broker down, daemon deciding into its spool, daemon SIGKILLed; broker back, daemon restarted: lost 0."""
    model_dir, category, size = trained_model
    video = tmp_path / "line.avi"
    render_line_video(video, category, n_frames=10, size=size, seed=12)
    plc = mqtt_subscriber(fresh_broker, "ei-rel/kill/#", client_id="plc-kill-rel", clean_session=False)
    time.sleep(1.5)  # the broker autosaves every second: the PLC's session survives its SIGKILL
    looping = write_config(tmp_path / "loop.yaml", model_dir=model_dir, broker=fresh_broker, station="kill",
                           source={"kind": "video", "path": str(video), "loop": True, "pacing": "realtime",
                                   "fps": 20.0})
    audit = tmp_path / "out" / "audit.jsonl"
    first = DaemonProcess(looping, name="first").start()
    try:
        assert wait_for(lambda: audit_lines(audit) >= 20, 60), first.output()[-3000:]
        fresh_broker.kill()
        n = audit_lines(audit)
        assert wait_for(lambda: audit_lines(audit) >= n + 40, 30), "verdicts go on while the broker is down"
        first.kill()
    finally:
        first.stop()
    decided = [(a["run_id"], a["seq"]) for a in read_audit_all(audit)]
    spool = Spool(tmp_path / "out" / "spool.sqlite")
    left = spool.depth
    spool.close()
    assert left >= 40, "the spool holds what the broker never acknowledged"
    fresh_broker.start()
    once = write_config(tmp_path / "once.yaml", model_dir=model_dir, broker=fresh_broker, station="kill",
                        source={"kind": "video", "path": str(video)})
    second = DaemonProcess(once, name="second").start()
    try:
        assert second.wait(timeout=90) == 0, second.output()[-3000:]
    finally:
        second.stop()
    second_run = [k for k in (dedupe(plc.messages)) if k[0] != decided[0][0]]
    assert plc.wait_for(1, 10, where=lambda t, p: t.endswith("/verdict") and p["run_id"] != decided[0][0]
                        and p["seq"] == 9)
    delivered = dedupe(plc.messages)
    missing = [k for k in decided if k not in set(delivered)]
    assert not missing, f"lost {len(missing)} decided verdicts, e.g. {missing[:5]}"
    first_run = [k for k in delivered if k[0] == decided[0][0]]
    assert first_run == sorted(first_run, key=lambda k: k[1]), "the first run's verdicts arrive in order"
    assert len({k for k in delivered if k[0] != decided[0][0]}) == 10, second_run
    print(f"daemon kill: {len(decided)} decided before the kill, {left} in the spool, lost 0")
