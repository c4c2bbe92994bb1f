"""Random and oversized requests to every route of the dashboard's OpenAPI document while `edge-inspector run`
judges a line: every answer is a 2xx or a 4xx (JSON {"error"} for 4xx), never a 5xx, the daemon keeps
judging, and nothing changes the profile without the token. Seeded, so a failure replays."""

from __future__ import annotations

import json
import random
import struct
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import yaml
from helpers.daemon_process import verdicts, wait_for
from helpers.dashboard import Answer, Http, start_dashboard_process
from helpers.profile import FIXED, calibrate

from edge_inspector.dashboard.server import OPENAPI

pytestmark = pytest.mark.integration
SEED = 17
ROUNDS = 12  # passes over every operation of the document


def text(rng: random.Random) -> str:
    """A random query or path value: numbers of every kind, unicode, oversized, empty."""
    return rng.choice([
        str(rng.randint(-10**12, 10**12)), str(rng.random()), "nan", "inf", "-inf", "1e400", "-0", "", " ",
        "0x10", "1_000", "٣", "１２", "null", "[]", "{}", "../../etc/passwd", "%00", "a" * rng.randint(1, 3000),
        "".join(chr(rng.randint(32, 0x2FFF)) for _ in range(rng.randint(1, 60))), "9" * rng.randint(10, 400),
        "2026-11-30T08:00:00Z", "2026-13-45T99:99:99", str(rng.randint(0, 200)),
    ])


def value(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON value."""
    kinds = ["int", "float", "str", "bool", "null"] + (["list", "dict"] if depth < 3 else [])
    kind = rng.choice(kinds)
    if kind == "int":
        return rng.choice([0, -1, 1, 10**40, -(10**20), rng.randint(-1000, 1000)])
    if kind == "float":
        return rng.choice([0.5, -1e308, 1e308, 1e-300, rng.random()])
    if kind == "str":
        return text(rng)
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "list":
        return [value(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    keys = ["id", "action", "author", "reason", "set", "revision", "image_threshold", "x" * 300]
    return {rng.choice(keys): value(rng, depth + 1) for _ in range(rng.randint(0, 6))}


def small_png(rng: random.Random) -> bytes:
    """A PNG header with random (possibly huge) dimensions and random data after it."""
    ihdr = struct.pack(">IIBBBBB", rng.choice([1, 8, 64, 20000, 2**31 - 1]), rng.choice([1, 8, 64, 40000]), 8, 2, 0,
                       0, 0)
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + crc + rng.randbytes(rng.randint(0, 200))


def request(http: Http, rng: random.Random, path: str, method: str, op: dict[str, Any]) -> Answer:
    params = op.get("parameters", [])
    concrete = path
    for p in params:
        if p["in"] == "path":
            concrete = concrete.replace("{" + p["name"] + "}", rng.choice([text(rng)[:200], str(rng.randint(0, 99))]))
    query = [(p["name"], text(rng)) for p in params if p["in"] == "query" and rng.random() < 0.7]
    if rng.random() < 0.2:
        query.append((text(rng)[:50], text(rng)))
    url = quote(concrete, safe="/{}") + ("?" + urlencode(query) if query else "")
    token = rng.choice(["default", None, "wrong-token-0123456789abcdef"])
    if method == "get":
        return http.request("GET", url, token=token, wait_if_limited=False)
    if path == "/api/command":
        body = json.dumps(value(rng)).encode() if rng.random() < 0.8 else rng.randbytes(rng.randint(0, 500))
        # with the token only requests that cannot change settings: a random valid `set` would be a real change
        if token == "default":
            data = value(rng)
            data = data if isinstance(data, dict) else {"payload": data}
            body = json.dumps({**data, "action": rng.choice(["show", "history", "what-if", "bogus", 5])}).encode()
        return http.request("POST", url, body, rng.choice(["application/json", "text/plain"]), token=token,
                            wait_if_limited=False)
    if path == "/api/inspect":
        data = small_png(rng) if rng.random() < 0.5 else rng.randbytes(rng.randint(0, 2000))
        return http.upload(url, text(rng)[:300] or "x.png", data)
    return http.request("POST", url, rng.randbytes(rng.randint(0, 100)), "application/octet-stream", token=token,
                        wait_if_limited=False)


def test_random_requests_to_every_documented_route_get_2xx_or_json_4xx_and_the_line_goes_on(
        tmp_path: Path, trained_model: Any, mosquitto_broker: Any, mqtt_subscriber: Any) -> None:
    model_dir, category, _ = trained_model
    profile = calibrate(model_dir, model_dir.parent / "data" / category, tmp_path / "cal", *FIXED)
    sub = mqtt_subscriber(mosquitto_broker, "ei-rel/fuzz/#")
    daemon, http = start_dashboard_process(tmp_path, trained_model, mosquitto_broker, "fuzz", profile,
                                           dashboard={"requests_per_s": 10000.0, "request_burst": 10000.0})
    doc = json.loads(OPENAPI.read_text())
    operations = [(path, method, op) for path, ops in doc["paths"].items() for method, op in ops.items()]
    rng = random.Random(SEED)
    try:
        assert wait_for(lambda: len(verdicts(sub)) >= 4, 60.0)
        seen: dict[tuple[str, int], int] = {}
        for round_ in range(ROUNDS):
            for path, method, op in operations:
                answer = request(http, rng, path, method, op)
                key = (f"{method.upper()} {path}", answer.status)
                seen[key] = seen.get(key, 0) + 1
                assert answer.status < 500, f"round {round_} {key}: {answer.body[:300]!r}"
                if 400 <= answer.status < 500 and answer.status != 431:  # 431: waitress' own header limit
                    error = answer.json()["error"]
                    assert isinstance(error, str) and "\n" not in error and len(error) <= 500, key
        assert daemon.alive()
        count = len(verdicts(sub))
        assert wait_for(lambda: len(verdicts(sub)) >= count + 4, 60.0), "the daemon keeps judging"
        assert yaml.safe_load(profile.read_text())["revision"] == 1, "nothing changed the profile"
        assert any(status == 200 for (_, status) in seen), seen
    finally:
        daemon.stop()
