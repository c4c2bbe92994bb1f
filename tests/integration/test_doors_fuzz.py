"""Fuzz every door of a running daemon at once (issue 17): thousands of random and oversized messages on the
command and trigger topics and random requests to every dashboard route, while `edge-inspector run` (started
as systemd starts it, with every door open and a profile in force) judges a paced line.

Asserted, against an idle phase of the same run: no crash (the process answers and exits 0 on SIGTERM), no
FAULT beyond the idle phase's, no change that is not audited (every profile revision on disk has its audit
line, and every audited change its revision), every verdict's seq contiguous, memory flat, and a log without
tracebacks. The payloads come from a seeded generator, so a failure is reproducible.
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import pytest
from contract_schemas import validate_message
from helpers.daemon_process import DaemonProcess, verdicts, wait_for, write_config
from helpers.doors import Publisher, calibrated_line, check_log, open_doors, token_file
from helpers.line_pace import PaceWindow, assert_kept_pace
from helpers.mjpeg_server import free_port

pytestmark = pytest.mark.integration
SEED = 20261206
MESSAGES_PER_TOPIC = 1500
HTTP_REQUESTS = 600
GET_ROUTES = ("/", "/rejects", "/threshold", "/inspect", "/api/state", "/api/frame.jpg", "/api/rejects",
              "/api/rejects/0/annotated.png", "/api/rejects/1/raw.png", "/api/what-if", "/api/history",
              "/api/verdicts.csv", "/api/openapi.json", "/static/common.js", "/no/such/route")
POST_ROUTES = ("/api/command", "/api/inspect", "/api/state", "/api/login")
SET_KEYS = ("image_threshold", "pixel_threshold", "min_area", "min_peak", "roi", "threshold", "force")


def _value(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON value, sometimes huge, sometimes nested, sometimes a number no threshold should take."""
    pick = rng.randrange(10 if depth < 3 else 7)
    if pick == 0:
        return None
    if pick == 1:
        return rng.choice([True, False])
    if pick == 2:
        return rng.choice([0, -1, 1, 45, 10**40, -(10**30), 2**63, rng.randrange(-1000, 1000)])
    if pick == 3:
        return rng.choice([0.0, 0.45, -1e308, 1e308, 1e-300, rng.uniform(-2, 2), rng.uniform(0, 1)])
    if pick in (4, 5):
        n = rng.choice([0, 1, 8, 64, 1000, 70_000])
        return "".join(rng.choice("aZ9 /@:=\\\"'\u00e9\u4e2d\x00\n") for _ in range(n))
    if pick == 6:
        return rng.choice(["set", "show", "history", "rollback", "what-if", "", "SET"])
    if pick == 7:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(5))]
    return {rng.choice(["id", "action", "author", "reason", "set", "revision", "ts", "part_id", "x", ""]):
            _value(rng, depth + 1) for _ in range(rng.randrange(6))}


def command_payload(rng: random.Random, n: int) -> bytes:
    """Mostly near-valid commands (the shapes a careless or hostile client sends), some noise and oversize."""
    kind = rng.randrange(6)
    if kind == 0:
        return rng.randbytes(rng.choice([0, 1, 100, 5000, 300_000]))
    if kind == 1:
        return json.dumps(_value(rng)).encode()
    request: dict[str, Any] = {"id": f"fuzz-{n}", "action": rng.choice(["set", "show", "history", "rollback",
                                                                        "what-if", "nope"])}
    if rng.random() < 0.8:
        request["author"] = rng.choice(["ana", "", "A" * rng.choice([10, 100, 200_000])])
        request["reason"] = rng.choice(["fuzz", "", "R" * rng.choice([10, 1000, 200_000])])
    if request["action"] in ("set", "what-if") or rng.random() < 0.2:
        request["set"] = {rng.choice(SET_KEYS): _value(rng) for _ in range(rng.randrange(1, 4))}
    if request["action"] == "rollback" or rng.random() < 0.1:
        request["revision"] = _value(rng)
    if rng.random() < 0.2:
        request["id"] = _value(rng)
    if rng.random() < 0.1:
        request[rng.choice(["extra", "ts", "force"])] = _value(rng)
    return json.dumps(request).encode()


def trigger_payload(rng: random.Random) -> bytes:
    """Random, oversized and malformed triggers; never a valid one (a valid trigger is a real part whose
    missing frame would rightly be a FAULT, which is not what this test counts)."""
    kind = rng.randrange(4)
    if kind == 0:
        return rng.randbytes(rng.choice([0, 3, 1000, 300_000]))
    data = _value(rng)
    if isinstance(data, dict) and isinstance(data.get("part_id"), str):
        data["part_id"] = rng.choice([None, 7, "", "P" * 200_000, ["x"]])
    if kind == 1 and isinstance(data, dict):
        data["part_id"] = rng.choice([None, 7, "", "P" * 200_000, ["x"], {"a": 1}])
    return json.dumps(data).encode()


def http_request(rng: random.Random, base: str, token: str) -> int:
    method = rng.choice(["GET", "GET", "GET", "POST", "PUT", "DELETE", "HEAD"])
    path = rng.choice(GET_ROUTES if method != "POST" else POST_ROUTES)
    if rng.random() < 0.6:
        params = "&".join(f"{rng.choice(['limit', 'image_threshold', 'min_area', 'from', 'to', 'offset', 'x'])}="
                          f"{urllib.request.quote(str(_value(rng))[:3000])}" for _ in range(rng.randrange(1, 4)))
        path += "?" + params
    headers = {}
    if rng.random() < 0.7:
        headers["Authorization"] = f"Bearer {rng.choice([token, token, 'wrong', 'x' * 10_000])}"
    if rng.random() < 0.1:
        headers["Host"] = rng.choice(["evil.example", "localhost", "127.0.0.1:1"])
    body = None
    if method in ("POST", "PUT"):
        body = rng.choice([json.dumps(_value(rng)).encode(), rng.randbytes(rng.choice([0, 10, 20_000])),
                           b"\x89PNG\r\n\x1a\n" + rng.randbytes(2000)])
        headers["Content-Type"] = rng.choice(["application/json", "multipart/form-data; boundary=x",
                                              "image/png", "text/plain"])
    req = urllib.request.Request(base + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            res.read()
            return int(res.status)
    except urllib.error.HTTPError as err:
        err.read()
        return int(err.code)
    except OSError:
        return 0


def test_thousands_of_random_messages_and_requests_leave_the_line_as_it_was(
        tmp_path: Path, trained_model: Any, mosquitto_broker: Any, mqtt_subscriber: Any) -> None:
    line = calibrated_line(tmp_path, trained_model, n_frames=8)
    profile = line.profile
    tokens, token = token_file(tmp_path)
    web = free_port()
    config = write_config(
        tmp_path / "config.yaml", model_dir=line.model_dir, broker=mosquitto_broker, station="fuzz",
        # The video replays at the scorer's pace (each frame waits for queue room, none is dropped): a busy
        # machine then judges fewer parts, not FAULTs (issue 18 item 13: at 4 fps realtime, 2 cores under
        # `stress-ng --cpu 1` gave 77 queue-full FAULTs fuzzed against 12 idle). A door that held the
        # inspection thread shows as the rate check below instead.
        source={"kind": "video", "path": str(line.video), "loop": True, "pacing": "fastest", "queue_size": 8},
        **open_doors(profile, window_ms=10_000, web=web, tokens=tokens))
    sub = mqtt_subscriber(mosquitto_broker, "ei-rel/fuzz/#")
    daemon = DaemonProcess(config).start()
    base = f"http://127.0.0.1:{web}"
    fuzzer = Publisher(mosquitto_broker, "fuzz")
    client = fuzzer.client
    rng = random.Random(SEED)
    try:
        assert wait_for(lambda: not daemon.alive() or http_request(random.Random(0), base, token) != 0, 120)
        assert wait_for(lambda: len(verdicts(sub)) >= 8, 120), daemon.output()[-3000:]
        process = psutil.Process(daemon.pid)
        # idle phase: the baseline, at least 24 verdicts and at least 5 s: a shorter window measured a burst of
        # verdicts arriving together (29 in 0.5 s, "57.9/s", on an idle CI machine) instead of the line's pace
        idle_window = PaceWindow.open(lambda: len(verdicts(sub)))
        assert wait_for(lambda: len(verdicts(sub)) >= idle_window.start + 24
                        and time.monotonic() - idle_window.t0 >= 5.0, 120)
        idle = verdicts(sub)[idle_window.close().start:]
        rss_before = process.memory_info().rss

        statuses: list[int] = []

        def browse() -> None:
            local = random.Random(SEED + 1)
            for _ in range(HTTP_REQUESTS):
                statuses.append(http_request(local, base, token))

        browser = threading.Thread(target=browse, name="fuzz-browser")
        fuzz_window = PaceWindow.open(lambda: len(verdicts(sub)))
        browser.start()
        for n in range(MESSAGES_PER_TOPIC):
            client.publish("ei-rel/fuzz/command", command_payload(rng, n), qos=rng.choice([0, 1]),
                           retain=rng.random() < 0.02)
            client.publish("ei-rel/fuzz/trigger", trigger_payload(rng), qos=rng.choice([0, 1]),
                           retain=rng.random() < 0.02)
            if n % 100 == 0:
                time.sleep(0.2)  # let the broker's queue for the daemon drain a little
        browser.join(timeout=600)
        assert not browser.is_alive(), "the dashboard stopped answering"
        fuzz_window.close()
        # the line went on through it: at least as many parts again after the last message
        settled = len(verdicts(sub))
        assert wait_for(lambda: len(verdicts(sub)) >= settled + 12, 120), daemon.output()[-3000:]
        fuzzed = verdicts(sub)[fuzz_window.start:]
        rss_after = process.memory_info().rss
        assert daemon.alive(), daemon.output()[-3000:]
        code, _ = daemon.terminate(timeout=60)
    finally:
        client.publish("ei-rel/fuzz/command", b"", qos=1, retain=True)  # clear any retained fuzz
        client.publish("ei-rel/fuzz/trigger", b"", qos=1, retain=True)
        fuzzer.close()
        daemon.stop()
    output = daemon.output()
    assert code == 0, output[-3000:]
    check_log(output, capped=False)
    assert 0 not in statuses and 500 not in statuses, sorted(set(statuses))
    for topic, payload in list(sub.messages):
        if topic.endswith(("/verdict", "/status", "/command/response")):
            validate_message(topic, payload)
    every = verdicts(sub)
    assert [v["seq"] for v in every] == list(range(len(every))), "one verdict per frame, in order"
    idle_faults = sum(v["verdict"] == "FAULT" for v in idle)
    fuzz_faults = sum(v["verdict"] == "FAULT" for v in fuzzed)
    assert idle_faults == fuzz_faults == 0, [v["reason"] for v in idle + fuzzed if v["verdict"] == "FAULT"][:5]
    # The fuzzer and the daemon's own door threads take CPU from the scorer, so the fuzzed rate is lower: on an
    # idle 2-core machine the tiny model judges ~50 parts/s alone and ~11/s beside the fuzzer (measured 4.6x
    # and 5.2x slower in two runs, with no FAULT), so the bound is a tenth. A door that ran on the inspection
    # thread (history parsing, 300 kB messages decoded there) held it for seconds per request: a collapse to
    # next to nothing over thousands of messages, far below a tenth.
    assert_kept_pace(fuzz_window, idle_window, 10, "under the fuzz")
    growth_mb = (rss_after - rss_before) / 2**20
    print(f"fuzz: {len(idle)} idle / {len(fuzzed)} fuzzed verdicts ({idle_window.rate:.2f} / "
          f"{fuzz_window.rate:.2f} parts/s), FAULT {idle_faults} / {fuzz_faults}, "
          f"RSS {rss_before / 2**20:.0f} -> {rss_after / 2**20:.0f} MB, HTTP {sorted(set(statuses))}")
    assert growth_mb < 150, f"memory grew {growth_mb:.0f} MB under the fuzz"
    # no change that is not audited: every revision on disk after the first has one ok command line
    history = sorted((profile.parent / "history").glob("*.yaml"))
    audit = [json.loads(line) for line in (tmp_path / "out" / "audit.jsonl").read_text().splitlines()]
    changes = [a for a in audit if a.get("kind") == "command" and a.get("ok")]
    assert len(history) == 1 + len(changes), (len(history), len(changes))
    revisions = sorted(a["profile"]["revision"] for a in changes)
    assert revisions == list(range(2, 2 + len(changes)))
