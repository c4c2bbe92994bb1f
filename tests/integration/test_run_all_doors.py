"""`edge-inspector run` with every door open, started exactly as systemd starts it (issue 17, items 1, 2, 10).

A child process (`python -m edge_inspector.cli run --config FILE`, default log level INFO, the CLI's logging
and redaction) with the dashboard (token file), MQTT commands, MQTT part triggers and the metrics endpoint all
enabled, on a real broker. The daemon used to exit 1 at start (a %d log call for waitress' string port raised
out of the redaction filter); a command or trigger quoting a long value stalled it (quadratic redaction).

Checked: it comes up on every door; oversized ids, authors and part ids do not stall it (every part announced
afterwards gets its one verdict: what is lost is asserted, not how long it took); SIGTERM ends it with 0; the
log has no traceback and no line longer than the cap. A stream URL's password (holding '@') never shows in
the log, the retained status or /api/state.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers.daemon_process import DaemonProcess, verdicts, wait_for, write_config
from helpers.doors import Publisher, calibrated_line, check_log, open_doors, token_file
from helpers.doors import http_get as get
from helpers.mjpeg_server import MjpegServer, free_port

pytestmark = pytest.mark.integration
BIG = 200_000


def test_run_with_every_door_starts_survives_oversized_messages_and_stops_cleanly(
        tmp_path: Path, trained_model: Any, mosquitto_broker: Any, mqtt_subscriber: Any) -> None:
    line = calibrated_line(tmp_path, trained_model, n_frames=8)
    tokens, token = token_file(tmp_path)
    web, metrics = free_port(), free_port()
    config = write_config(
        tmp_path / "config.yaml", model_dir=line.model_dir, broker=mosquitto_broker, station="doors",
        source={"kind": "video", "path": str(line.video), "loop": True, "pacing": "realtime", "fps": 8.0},
        # a long trigger window: a busy machine must not turn parts into FAULTs
        **open_doors(line.profile, window_ms=10_000, web=web, tokens=tokens, metrics=metrics))
    sub = mqtt_subscriber(mosquitto_broker, "ei-rel/doors/#")
    daemon = DaemonProcess(config).start()
    plc = Publisher(mosquitto_broker, "doors-plc")
    try:
        up = wait_for(lambda: not daemon.alive() or get(f"http://127.0.0.1:{web}/api/state", token)[0] == 200, 120)
        assert up and daemon.alive(), daemon.output()[-3000:]
        status, body = get(f"http://127.0.0.1:{web}/api/state", token)
        assert status == 200 and json.loads(body)["station_id"] == "doors"
        assert wait_for(lambda: get(f"http://127.0.0.1:{metrics}/healthz")[0] == 200, 60), \
            get(f"http://127.0.0.1:{metrics}/healthz")
        assert wait_for(lambda: any(t.endswith("/status") and p.get("state") == "online"
                                    for t, p in list(sub.messages)), 30), "online on MQTT"
        assert f"dashboard on http://127.0.0.1:{web}/" in daemon.output()

        def publish(topic: str, data: dict[str, Any]) -> None:
            plc.send(f"ei-rel/doors/{topic}", data)

        # oversized values on both MQTT doors; each is refused or applied, none may stall the daemon
        publish("command", {"id": "I" * BIG, "action": "no-such-action"})
        publish("command", {"id": "big-author", "action": "set", "author": "A" * BIG, "reason": "r" * BIG,
                            "set": {"image_threshold": 0.6123}})
        publish("command", {"id": "huge-author", "action": "set", "author": "B" * (5 * BIG), "reason": "x",
                            "set": {"image_threshold": 0.6123}})
        publish("trigger", {"part_id": "P" * BIG})
        publish("trigger", {"part_id": "rtsp://u:p@" + "Q" * BIG})
        # then the line goes on: every part announced afterwards gets exactly one verdict with its id
        parts = [f"after-{n}" for n in range(5)]
        for part in parts:
            publish("trigger", {"part_id": part})
        publish("command", {"id": "after-show", "action": "show"})

        def by_part() -> dict[str, list[dict[str, Any]]]:
            got: dict[str, list[dict[str, Any]]] = {}
            for v in verdicts(sub):
                got.setdefault(v.get("part_id") or "", []).append(v)
            return got

        assert wait_for(lambda: all(p in by_part() for p in parts), 120), \
            (sorted(k[:20] for k in by_part()), daemon.output()[-3000:])
        assert all(len(by_part()[p]) == 1 for p in parts), "one verdict per part, none lost or doubled"
        responses = [p for t, p in list(sub.messages) if t.endswith("/command/response")]
        assert wait_for(lambda: any(p.get("id") == "after-show" for t, p in list(sub.messages)
                                    if t.endswith("/command/response")), 30), responses[-3:]
        assert daemon.alive()
        code, _ = daemon.terminate(timeout=60)
    finally:
        plc.close()
        daemon.stop()
    output = daemon.output()
    assert code == 0, output[-3000:]
    check_log(output)


def test_a_stream_password_with_at_signs_never_leaves_the_process(
        tmp_path: Path, trained_model: Any, mosquitto_broker: Any, mqtt_subscriber: Any) -> None:
    """The password holds '@' and ':' (FFmpeg splits at the last '@'); the camera then goes quiet, so the
    reconnect details (which quote the URL) reach the retained status and /api/state."""
    model_dir, _, size = trained_model
    password = "p@ss:w0rd"
    tokens, token = token_file(tmp_path)
    web = free_port()
    with MjpegServer(fps=10, size=size, quiet_after=15) as camera:
        url = camera.url.replace("http://", f"http://admin:{password}@")
        config = write_config(
            tmp_path / "config.yaml", model_dir=model_dir, broker=mosquitto_broker, station="secret",
            source={"kind": "url", "url": url, "stall_seconds": 1.0, "reconnect_seconds": 0.2,
                    "open_timeout_ms": 1500, "read_timeout_ms": 1000},
            dashboard={"enabled": True, "port": web, "token_file": str(tokens)}, mqtt={"stats_interval": 0.5})
        sub = mqtt_subscriber(mosquitto_broker, "ei-rel/secret/#")
        daemon = DaemonProcess(config).start()
        states: list[str] = []
        try:
            def reconnecting() -> bool:
                status, body = get(f"http://127.0.0.1:{web}/api/state", token)
                if status == 200:
                    states.append(json.loads(body)["health"]["camera"]["detail"])
                return any("reopen failed" in s for s in states) or not daemon.alive()

            assert wait_for(reconnecting, 90, interval=0.3), (states[-3:], daemon.output()[-3000:])
            assert daemon.alive(), daemon.output()[-3000:]
            # the retained status carries the capture state on each change, the stats its detail every 0.5 s
            assert wait_for(lambda: any(t.endswith("/stats") and "reopen failed" in str(p)
                                        for t, p in list(sub.messages)), 30), "the detail is published"
            assert any(t.endswith("/status") and p.get("capture") for t, p in list(sub.messages))
            code, _ = daemon.terminate(timeout=60)
        finally:
            daemon.stop()
    output = daemon.output()
    assert code == 0, output[-3000:]
    seen = {"log": output, "status": json.dumps([p for t, p in sub.messages if t.endswith(("/status", "/stats"))]),
            "api/state": json.dumps(states)}
    for where, text in seen.items():
        assert "admin:***@127.0.0.1" in text, f"{where} names the stream with the password masked"
        for piece in ("ss:w0rd", "w0rd", "p@ss"):
            assert piece not in text, f"{where} shows {piece!r} of the password"
    check_log(output)
