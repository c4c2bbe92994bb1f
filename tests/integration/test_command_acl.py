"""A locked-down broker: a real Mosquitto with TLS (certificates made for the test), client certificates
required, accounts in a password file and least-privilege ACLs.

The daemon runs with its station account (password from mqtt.password_file, certificate and key from the
config) and may write only its own station's topics; its verdicts reach the PLC's read-only account. The
technicians' account changes the threshold with `edge-inspector threshold --tls ...`; the PLC's account
publishes the same request and the broker drops it before the daemon; anonymous clients and clients without
a certificate signed by the broker's CA are refused. This is the setup docs/mqtt-contract.md prescribes.
"""

from __future__ import annotations

import getpass
import json
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml
from helpers.ci import skip_unless_ci
from helpers.daemon_process import wait_for, write_config
from helpers.profile import FIXED, calibrate
from helpers.tls_certs import Pair, issue, make_ca
from paho.mqtt.enums import CallbackAPIVersion

from edge_inspector.config import load_config
from edge_inspector.publish.broker import LocalBroker, find_mosquitto
from edge_inspector.service.daemon import Daemon
from edge_inspector.synth import render_line_video

pytestmark = pytest.mark.integration
ACCOUNTS = {"station": "st-secret-1", "technician": "tech-secret-2", "plc": "plc-secret-3"}
ACL = """\
user station
topic write acl/s1/verdict
topic write acl/s1/reject
topic write acl/s1/status
topic write acl/s1/stats
topic write acl/s1/command/response
topic read acl/s1/command

user technician
topic write acl/+/command
topic read acl/#

user plc
topic read acl/+/verdict
topic read acl/+/reject
topic read acl/+/status
"""


@dataclass
class SecureBroker:
    broker: LocalBroker
    ca: Pair
    clients: dict[str, Pair]  # account -> its client certificate
    stranger: Pair  # a certificate from a CA the broker does not trust

    def tls(self, user: str) -> dict[str, str]:
        pair = self.clients[user]
        return {"ca_certs": str(self.ca.cert), "certfile": str(pair.cert), "keyfile": str(pair.key)}


@pytest.fixture()
def secure_broker(tmp_path: Path) -> Iterator[SecureBroker]:
    if find_mosquitto() is None:
        skip_unless_ci("mosquitto binary not found (apt-get install -y mosquitto)")
    try:
        subprocess.run(["openssl", "version"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        skip_unless_ci("openssl not found (apt-get install -y openssl); the test makes its certificates with it")
    pki = tmp_path / "pki"
    ca = make_ca(pki)
    server = issue(ca, pki, "broker", san="IP:127.0.0.1,DNS:localhost")
    clients = {user: issue(ca, pki, user) for user in ACCOUNTS}
    stranger = issue(make_ca(pki / "other", "stranger-ca"), pki / "other", "intruder")
    broker = LocalBroker(workdir=tmp_path / "mosquitto")
    passwd, acl = tmp_path / "mosquitto" / "passwd", tmp_path / "mosquitto" / "acl"
    passwd.touch()
    for user, password in ACCOUNTS.items():
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True, capture_output=True)
    acl.write_text(ACL)
    conf = broker.conf.read_text().replace("allow_anonymous true", "allow_anonymous false")
    # as root mosquitto drops to user "mosquitto", which could not read these files: stay the test's user
    broker.conf.write_text(conf + f"cafile {ca.cert}\ncertfile {server.cert}\nkeyfile {server.key}\n"
                           f"require_certificate true\npassword_file {passwd}\nacl_file {acl}\n"
                           f"user {getpass.getuser()}\n")
    broker.start()
    yield SecureBroker(broker, ca, clients, stranger)
    broker.stop()


def publish_as(sb: SecureBroker, user: str | None, topic: str, payload: dict[str, Any],
               cert: Pair | None = None) -> str:
    """Connect as `user` (None: anonymous) with `cert` (default: the user's own) and publish once;
    returns "ok", or why the connection failed."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"ei-acl-{user}-{time.monotonic_ns()}")
    if user is not None:
        client.username_pw_set(user, ACCOUNTS[user])
    pair = cert or sb.clients[user or "plc"]
    client.tls_set(ca_certs=str(sb.ca.cert), certfile=str(pair.cert), keyfile=str(pair.key))
    connected = threading.Event()
    result: list[Any] = []
    client.on_connect = lambda c, u, f, rc, p: (result.append(rc), connected.set())
    try:
        client.connect(sb.broker.host, sb.broker.port)
    except (ssl.SSLError, OSError) as exc:
        return f"TLS refused: {exc}"
    client.loop_start()
    try:
        if not connected.wait(10):
            return "no CONNACK"
        if result[0].is_failure:
            return f"refused: {result[0]}"
        client.publish(topic, json.dumps(payload), qos=1).wait_for_publish(5)
        return "ok"
    finally:
        client.disconnect()
        client.loop_stop()


def test_a_locked_down_broker_lets_the_station_work_and_only_technicians_change_it(
        tmp_path: Path, trained_model: Any, secure_broker: SecureBroker, mqtt_subscriber: Any) -> None:
    sb, broker = secure_broker, secure_broker.broker
    model_dir, category, size = trained_model
    profile = calibrate(model_dir, model_dir.parent / "data" / category, tmp_path / "cal", *FIXED)
    video = tmp_path / "line.avi"
    render_line_video(video, category, n_frames=8, defect_rate=0.5, size=size, seed=5)
    (tmp_path / "station.password").write_text(ACCOUNTS["station"] + "\n")
    (tmp_path / "station.password").chmod(0o600)  # a password file others can read is refused
    station = sb.clients["station"]
    config = write_config(tmp_path / "config.yaml", model_dir=model_dir, broker=broker, station="s1",
                          source={"kind": "video", "path": str(video), "loop": True, "pacing": "realtime", "fps": 8.0},
                          inspection={"profile": str(profile)},
                          mqtt={"commands": True, "topic_prefix": "acl", "username": "station",
                                "password_file": str(tmp_path / "station.password"), "tls": True,
                                "ca_file": str(sb.ca.cert), "cert_file": str(station.cert),
                                "key_file": str(station.key)})
    plc = mqtt_subscriber(broker, "acl/s1/verdict", username="plc", password=ACCOUNTS["plc"], tls=sb.tls("plc"))
    sub = mqtt_subscriber(broker, "acl/#", username="technician", password=ACCOUNTS["technician"],
                          tls=sb.tls("technician"))
    daemon = Daemon(load_config(config))
    thread = threading.Thread(target=daemon.run, name="daemon", daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: len(plc.messages) >= 3, 30.0), "the station's verdicts reach the PLC over TLS"
        assert daemon.summary.faults == 0
        request = {"id": "plc-1", "action": "set", "author": "plc", "reason": "not allowed",
                   "set": {"image_threshold": 0.1}}
        assert publish_as(sb, "plc", "acl/s1/command", request) == "ok"  # connects, but may not write there
        assert publish_as(sb, None, "acl/s1/command", {**request, "id": "anon-1"}).startswith("refused")
        intruder = publish_as(sb, "technician", "acl/s1/command", {**request, "id": "intruder-1"}, cert=sb.stranger)
        assert intruder != "ok", "a certificate from another CA is refused"

        (tmp_path / "tech.password").write_text(ACCOUNTS["technician"])
        (tmp_path / "tech.password").chmod(0o600)  # a password file others can read is refused
        tech = sb.clients["technician"]
        res = subprocess.run(
            [sys.executable, "-m", "edge_inspector.cli", "threshold", "set", "--image", "0.7", "--author", "bo",
             "--reason", "allowed", "--host", broker.host, "--port", str(broker.port), "--prefix", "acl",
             "--station", "s1", "--username", "technician", "--password-file", str(tmp_path / "tech.password"),
             "--tls", "--ca-file", str(sb.ca.cert), "--cert-file", str(tech.cert), "--key-file", str(tech.key)],
            capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "r2" in res.stdout
        time.sleep(1.0)  # the PLC's request, sent first, had every chance to arrive
        answered = [p["id"] for t, p in list(sub.messages) if t == "acl/s1/command/response"]
        assert len(answered) == 1 and answered[0].startswith("cli-"), answered
        assert [p["id"] for t, p in list(sub.messages) if t == "acl/s1/command"] == answered
        saved = yaml.safe_load(profile.read_text())
        assert (saved["revision"], saved["thresholds"]["image"], saved["author"]) == (2, 0.7, "bo")
    finally:
        daemon.stop()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert ACCOUNTS["station"] not in (tmp_path / "config.yaml").read_text(), "the password stays in its file"
