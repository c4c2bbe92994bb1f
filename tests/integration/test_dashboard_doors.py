"""The dashboard's doors on `edge-inspector run` as systemd starts it: decompression bombs refused from the
header, Host names checked (DNS rebinding), reads behind the token beyond loopback, the CSV without the
device's paths, and a dashboard bound beyond loopback refused without a TLS proxy or an explicit opt-in."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import psutil
import pytest
import yaml
from helpers.daemon_process import verdicts, wait_for, write_config
from helpers.dashboard import start_dashboard_process
from helpers.profile import FIXED, calibrate

pytestmark = pytest.mark.integration
READS = ["/api/state", "/api/frame.jpg", "/api/rejects", "/api/rejects/0/annotated.png",
         "/api/what-if?image_threshold=0.5", "/api/history", "/api/verdicts.csv"]


def png_bomb(width: int, height: int) -> bytes:
    """A PNG declaring width x height whose data is a few KB (decoding it would allocate width*height*3)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    idat = zlib.compress(bytes(width * 3 + 1) * 8, 9)  # the first rows only: enough for a decoder to start
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def jpeg_bomb(width: int, height: int) -> bytes:
    """A JPEG whose SOF0 declares width x height."""
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + bytes(9)
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + sof0 + b"\xff\xd9"


@pytest.fixture
def profile(tmp_path: Path, trained_model: Any) -> Path:
    model_dir, category, _ = trained_model
    return calibrate(model_dir, model_dir.parent / "data" / category, tmp_path / "cal", *FIXED)


def test_upload_bombs_are_refused_from_the_header_and_the_line_goes_on(
        tmp_path: Path, trained_model: Any, profile: Path, mosquitto_broker: Any, mqtt_subscriber: Any) -> None:
    sub = mqtt_subscriber(mosquitto_broker, "ei-rel/bomb/#")
    daemon, http = start_dashboard_process(tmp_path, trained_model, mosquitto_broker, "bomb", profile)
    try:
        assert wait_for(lambda: len(verdicts(sub)) >= 4, 60.0)
        rss = psutil.Process(daemon.pid).memory_info().rss
        for name, data, size in (("bomb.png", png_bomb(30000, 30000), "30000x30000 pixels (900.0 MP)"),
                                 ("bomb.jpg", jpeg_bomb(60000, 60000), "60000x60000 pixels (3600.0 MP)")):
            assert len(data) < 200_000
            answer = http.upload("/api/inspect", name, data)
            assert answer.status == 413, answer.body[:300]
            assert answer.json()["error"] == (f"{name}: {size} is above dashboard.max_upload_megapixels (40 MP)")
        assert psutil.Process(daemon.pid).memory_info().rss < rss + 300 * 2**20, "nothing was decoded"
        # a large real photo within the cap is judged at a line frame's size, once, between two frames
        big = cv2.imencode(".png", np.full((2400, 3200, 3), 128, np.uint8))[1].tobytes()
        judged = http.upload("/api/inspect", "big.png", big)
        assert judged.status == 200, judged.body[:300]
        assert judged.json()["width"] * judged.json()["height"] < 2400 * 3200
        seen = len(verdicts(sub))
        assert wait_for(lambda: len(verdicts(sub)) >= seen + 8, 60.0), "the line goes on judging"
        assert daemon.alive()
        log = daemon.output()
        assert log.count("bomb.png: 30000x30000") == 1 and log.count("bomb.jpg: 60000x60000") == 1
    finally:
        daemon.stop()


def test_the_loopback_dashboard_refuses_foreign_host_names(
        tmp_path: Path, trained_model: Any, profile: Path, mosquitto_broker: Any) -> None:
    daemon, http = start_dashboard_process(tmp_path, trained_model, mosquitto_broker, "rebind", profile)
    try:
        for path in ["/", *READS]:
            answer = http.request("GET", path, token=None, headers={"Host": "evil.example"})
            assert answer.status == 421, (path, answer.status)
            assert "evil.example" in answer.json()["error"]
        assert http.request("GET", "/api/state", token=None, headers={"Host": "x" * 5000}).status in (400, 421, 431)
        # loopback: reads need no token, as the browser pages expect
        assert http.request("GET", "/api/state", token=None).status == 200
        port = http.base.rsplit(":", 1)[1]
        assert http.request("GET", "/api/state", token=None, headers={"Host": f"localhost:{port}"}).status == 200
        csv_text = http.get("/api/verdicts.csv").body.decode()
        assert str(tmp_path) not in csv_text, "no absolute path of the device in the CSV"
    finally:
        daemon.stop()


def test_beyond_loopback_every_read_needs_the_token_or_the_login_cookie(
        tmp_path: Path, trained_model: Any, profile: Path, mosquitto_broker: Any) -> None:
    daemon, http = start_dashboard_process(
        tmp_path, trained_model, mosquitto_broker, "wide", profile,
        dashboard={"host": "0.0.0.0", "allowed_hosts": ["127.0.0.1", "line1.example"], "allow_plain_http": True})
    try:
        for path in READS:
            answer = http.request("GET", path, token=None)
            assert answer.status == 401, (path, answer.status)
            assert "log in" in answer.json()["error"]
            assert http.request("GET", path, token="wrong-token-0123456789").status == 401
        assert http.get("/api/state").status == 200
        assert http.request("GET", "/api/state", headers={"Host": "line1.example:8088"}).status == 200
        assert http.request("GET", "/api/state", headers={"Host": "evil.example"}).status == 421
        for path in ("/", "/threshold", "/static/common.js", "/api/openapi.json"):  # login-free: no data
            assert http.request("GET", path, token=None).status == 200, path
        login = http.request("POST", "/api/login")
        assert login.status == 200
        cookie = login.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and http.token not in cookie
        session = cookie.split(";", 1)[0]
        assert http.request("GET", "/api/frame.jpg", token=None, headers={"Cookie": session}).status in (200, 503)
        assert http.request("GET", "/api/state", token=None, headers={"Cookie": "ei_session=" + "0" * 64}
                            ).status == 401
        assert http.request("GET", "/api/state", token=None, headers={"Cookie": "ei_session=" + "0" * 100_000}
                            ).status in (400, 401, 431)
        refused = http.request("POST", "/api/command", b'{"id": "c1", "action": "show"}', "application/json",
                               token=None, headers={"Cookie": session})
        assert refused.status == 401, "a cookie never suffices to change anything"
        assert http.request("POST", "/api/login", token="wrong-token-0123456789").status == 401
    finally:
        daemon.stop()


@pytest.mark.parametrize(("section", "message"), [
    ({"host": "0.0.0.0", "allowed_hosts": ["line1"]}, "dashboard.host: 0.0.0.0 is reachable beyond this device"),
    ({"host": "0.0.0.0", "allow_plain_http": True}, "dashboard.allowed_hosts: required when dashboard.host is"),
])
def test_a_dashboard_beyond_loopback_without_tls_or_consent_does_not_start(
        tmp_path: Path, mosquitto_broker: Any, section: dict[str, Any], message: str) -> None:
    model_dir = tmp_path / "model"  # the config is refused before any model is looked at
    (tmp_path / "t").write_text("0123456789abcdef0123\n")
    (tmp_path / "t").chmod(0o600)
    config = write_config(tmp_path / "c.yaml", model_dir=model_dir, broker=mosquitto_broker,
                          source={"kind": "video", "path": str(tmp_path / "v.avi")},
                          dashboard={"enabled": True, "token_file": str(tmp_path / "t"), **section})
    for args in (["run", "--config", str(config)], ["validate-config", str(config)]):
        res = subprocess.run([sys.executable, "-m", "edge_inspector.cli", *args],
                             capture_output=True, text=True, timeout=120)
        assert res.returncode != 0
        assert message in res.stderr, res.stderr[-2000:]
        assert "Traceback" not in res.stderr
    assert yaml.safe_load(config.read_text())["dashboard"]["enabled"] is True


def test_oversized_query_strings_and_parameters_get_one_line_4xx(
        tmp_path: Path, trained_model: Any, profile: Path, mosquitto_broker: Any) -> None:
    daemon, http = start_dashboard_process(tmp_path, trained_model, mosquitto_broker, "big", profile,
                                           dashboard={"requests_per_s": 1000.0, "request_burst": 1000.0})
    try:
        huge = "9" * 3000
        for path in (f"/api/history?limit={huge}", f"/api/rejects?limit={huge}", f"/api/what-if?min_area={huge}",
                     f"/api/verdicts.csv?from={huge}", f"/api/history?offset={'1' * 500}",
                     f"/api/what-if?image_threshold={'1' * 500}", f"/api/history?before={'7' * 40}"):
            answer = http.get(path)
            assert answer.status in (400, 414), (path[:60], answer.status)
            assert len(answer.json()["error"]) <= 500 and "\n" not in answer.json()["error"]
        page = http.get("/api/history?limit=1").json()
        assert page["total"] == 1 and page["limit"] == 1 and [h["revision"] for h in page["history"]] == [1]
        assert daemon.alive()
    finally:
        daemon.stop()


def test_a_client_over_its_budget_gets_429_with_retry_after(
        tmp_path: Path, trained_model: Any, profile: Path, mosquitto_broker: Any) -> None:
    daemon, http = start_dashboard_process(tmp_path, trained_model, mosquitto_broker, "rate", profile,
                                           dashboard={"requests_per_s": 0.5, "request_burst": 10.0})
    try:
        answers = [http.request("GET", "/api/history", wait_if_limited=False) for _ in range(4)]
        limited = [a for a in answers if a.status == 429]
        assert limited, [a.status for a in answers]
        assert int(limited[0].headers["Retry-After"]) >= 1 and "too many requests" in limited[0].json()["error"]
        assert http.request("GET", "/", token=None).status == 200, "pages are not rate-limited"
    finally:
        daemon.stop()

