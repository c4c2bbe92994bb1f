"""Who may change a threshold over MQTT is the broker's decision: a real Mosquitto with accounts and an ACL.

The technicians' account changes the station's threshold with `edge-inspector threshold`; the PLC's account,
which may only read, publishes the same request and nothing happens (the broker drops it before the daemon);
an anonymous client is refused at connect. This is the setup docs/mqtt-contract.md ("Commands") prescribes.
"""

from __future__ import annotations

import getpass
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml
from helpers.daemon_process import wait_for, write_config
from helpers.profile import FIXED, calibrate
from paho.mqtt.enums import CallbackAPIVersion

from edge_inspector.broker import LocalBroker, find_mosquitto
from edge_inspector.config import load_config
from edge_inspector.service.daemon import Daemon
from edge_inspector.synth import render_line_video

pytestmark = pytest.mark.integration
ACCOUNTS = {"station": "st-secret-1", "technician": "tech-secret-2", "plc": "plc-secret-3"}
ACL = """\
user station
topic readwrite acl/#

user technician
topic write acl/+/command
topic read acl/#

user plc
topic read acl/+/verdict
topic read acl/+/reject
topic read acl/+/status
"""


@pytest.fixture()
def acl_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    from helpers.ci import skip_unless_ci

    if find_mosquitto() is None:
        skip_unless_ci("mosquitto binary not found (apt-get install -y mosquitto)")
    broker = LocalBroker(workdir=tmp_path / "mosquitto")
    passwd, acl = tmp_path / "mosquitto" / "passwd", tmp_path / "mosquitto" / "acl"
    passwd.touch()
    for user, password in ACCOUNTS.items():
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True, capture_output=True)
    acl.write_text(ACL)
    conf = broker.conf.read_text().replace("allow_anonymous true", "allow_anonymous false")
    # as root mosquitto drops to user "mosquitto", which could not read these files: stay the test's user
    broker.conf.write_text(conf + f"password_file {passwd}\nacl_file {acl}\nuser {getpass.getuser()}\n")
    broker.start()
    yield broker
    broker.stop()


def publish_as(broker: LocalBroker, user: str | None, topic: str, payload: dict[str, Any]) -> mqtt.ReasonCode | int:
    """Connect as `user` (None: anonymous) and publish once; returns the CONNACK reason."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"ei-acl-{user}-{time.monotonic_ns()}")
    if user is not None:
        client.username_pw_set(user, ACCOUNTS[user])
    connected = threading.Event()
    result: list[Any] = []
    client.on_connect = lambda c, u, f, rc, p: (result.append(rc), connected.set())
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        assert connected.wait(10), "no CONNACK"
        if not result[0].is_failure:
            client.publish(topic, json.dumps(payload), qos=1).wait_for_publish(5)
        return result[0]
    finally:
        client.disconnect()
        client.loop_stop()


def test_only_the_technicians_account_can_change_a_threshold(tmp_path: Path, trained_model: Any,
                                                             acl_broker: LocalBroker, mqtt_subscriber: Any) -> None:
    model_dir, category, size = trained_model
    profile = calibrate(model_dir, model_dir.parent / "data" / category, tmp_path / "cal", *FIXED)
    video = tmp_path / "line.avi"
    render_line_video(video, category, n_frames=8, defect_rate=0.5, size=size, seed=5)
    config = write_config(tmp_path / "config.yaml", model_dir=model_dir, broker=acl_broker, station="s1",
                          source={"kind": "video", "path": str(video), "loop": True, "pacing": "realtime", "fps": 8.0},
                          inspection={"profile": str(profile)},
                          mqtt={"commands": True, "topic_prefix": "acl", "username": "station",
                                "password": ACCOUNTS["station"]})
    sub = mqtt_subscriber(acl_broker, "acl/#", username="technician", password=ACCOUNTS["technician"])
    daemon = Daemon(load_config(config))
    thread = threading.Thread(target=daemon.run, name="daemon", daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: any(t == "acl/s1/verdict" for t, _ in list(sub.messages)), 30.0), "daemon runs"
        request = {"id": "plc-1", "action": "set", "author": "plc", "reason": "not allowed",
                   "set": {"image_threshold": 0.1}}
        assert not publish_as(acl_broker, "plc", "acl/s1/command", request).is_failure  # connects, may not write
        anonymous = publish_as(acl_broker, None, "acl/s1/command", {**request, "id": "anon-1"})
        assert anonymous.is_failure, "anonymous clients are refused"
        technician = {**request, "id": "tech-1", "author": "bo", "reason": "allowed", "set": {"image_threshold": 0.7}}
        assert not publish_as(acl_broker, "technician", "acl/s1/command", technician).is_failure
        assert wait_for(lambda: any(p.get("id") == "tech-1" for _, p in list(sub.messages)), 15.0)
        time.sleep(1.0)  # the plc's request, sent first, had every chance to arrive
        answered = [p["id"] for t, p in list(sub.messages) if t == "acl/s1/command/response"]
        assert answered == ["tech-1"], answered
        assert [p["id"] for t, p in list(sub.messages) if t == "acl/s1/command"] == ["tech-1"]
        saved = yaml.safe_load(profile.read_text())
        assert (saved["revision"], saved["thresholds"]["image"], saved["author"]) == (2, 0.7, "bo")
    finally:
        daemon.stop()
        thread.join(timeout=30)
    assert not thread.is_alive()
