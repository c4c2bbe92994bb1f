"""`edge-inspector threshold show|history|set|rollback|what-if`: one command to a running daemon over MQTT.

Publishes one request on `{prefix}/{station}/command` and waits for the answer with the same id on
`.../command/response` (docs/mqtt-contract.md, "Commands"). Exit 0: done; 1: the daemon refused (its
error is printed); 2: usage error, broker unreachable, or no answer within --timeout.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import threading
import time
from typing import Any

ACTIONS = ("show", "history", "set", "rollback", "what-if")
CHANGES = ("set", "what-if")  # actions that take --image/--pixel/--min-area/--min-peak/--roi


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from .mqtt_args import add_client_args

    p = sub.add_parser("threshold", help="show or change a running station's thresholds over MQTT",
                       description="Send one command to a daemon started with mqtt.commands: true and print "
                                   "its answer. set and rollback write a new profile revision; what-if "
                                   "replays a proposed set over the last inspections and changes nothing.")
    p.add_argument("action", choices=ACTIONS)
    add_client_args(p)
    p.add_argument("--prefix", default="edge-inspector", help="mqtt.topic_prefix of the station")
    p.add_argument("--station", required=True, help="station_id of the daemon")
    p.add_argument("--image", type=float, default=None, help="set: image threshold")
    p.add_argument("--pixel", type=float, default=None, help="set: pixel threshold")
    p.add_argument("--min-area", type=int, default=None, help="set: smallest region in pixels")
    p.add_argument("--min-peak", type=float, default=None, help="set: smallest region peak (map value)")
    p.add_argument("--roi", default=None, metavar="X,Y,W,H|none", help="set: inspected rectangle, or none")
    p.add_argument("--revision", type=int, default=None, help="rollback: the revision whose values come back")
    p.add_argument("--author", default=None, help="set/rollback: who makes the change")
    p.add_argument("--reason", default=None, help="set/rollback: why (kept in the profile history)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the answer (default 10)")
    p.set_defaults(func=cmd_threshold)


class UsageError(ValueError):
    """A flag combination the command cannot send."""


def build_request(args: argparse.Namespace) -> dict[str, Any]:
    """The request object for the flags; UsageError names the flag."""
    request: dict[str, Any] = {"id": f"cli-{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}",
                               "action": args.action}
    changes: dict[str, Any] = {}
    for flag, key in (("image", "image_threshold"), ("pixel", "pixel_threshold"), ("min_area", "min_area"),
                      ("min_peak", "min_peak")):
        if getattr(args, flag, None) is not None:
            changes[key] = getattr(args, flag)
    if getattr(args, "roi", None) is not None:
        changes["roi"] = _roi(args.roi)
    if args.action in CHANGES and not changes:
        raise UsageError(f"{args.action} needs at least one of --image, --pixel, --min-area, --min-peak, --roi")
    if args.action not in CHANGES and changes:
        raise UsageError(f"--image/--pixel/--min-area/--min-peak/--roi are for set and what-if, not {args.action}")
    if args.action == "rollback" and args.revision is None:
        raise UsageError("rollback needs --revision N")
    if args.action in ("set", "rollback"):
        for flag in ("author", "reason"):
            if not (getattr(args, flag, None) or "").strip():
                raise UsageError(f"{args.action} needs --{flag}")
        request.update(author=args.author, reason=args.reason)
    if changes:
        request["set"] = changes
    if args.action == "rollback":
        request["revision"] = args.revision
    return request


def _roi(text: str) -> list[int] | None:
    if text.strip().lower() == "none":
        return None
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 4:
        raise UsageError(f"--roi: expected X,Y,W,H (four integers) or none, got {text!r}")
    return values


def send(args: argparse.Namespace, request: dict[str, Any]) -> dict[str, Any] | None:
    """Publish the request and wait for its answer; None when none came within args.timeout."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from .mqtt_args import apply_client_args

    base = f"{args.prefix}/{args.station}"
    got: dict[str, Any] = {}
    done, subscribed = threading.Event(), threading.Event()

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            payload = json.loads(msg.payload.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return
        if isinstance(payload, dict) and payload.get("id") == request["id"]:
            got.update(payload)
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"ei-threshold-{secrets.token_hex(4)}")
    apply_client_args(client, args)  # the technicians' account (see the broker ACL) and TLS
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(f"{base}/command/response", qos=1)
    client.on_subscribe = lambda *a: subscribed.set()
    client.on_message = on_message
    try:
        client.connect(args.host, args.port, keepalive=30)
    except OSError as exc:
        raise ConnectionError(f"cannot connect to MQTT broker {args.host}:{args.port}: {exc}") from None
    client.loop_start()
    try:
        deadline = time.monotonic() + args.timeout
        if subscribed.wait(args.timeout):
            client.publish(f"{base}/command", json.dumps(request), qos=1).wait_for_publish(
                max(0.1, deadline - time.monotonic()))
            done.wait(max(0.0, deadline - time.monotonic()))
    except (RuntimeError, ValueError):
        pass  # not published in time: reported as no response
    finally:
        client.disconnect()
        client.loop_stop()
    return got or None


def format_response(response: dict[str, Any]) -> str:
    """The answer as a technician reads it."""
    lines: list[str] = []
    p = response.get("profile")
    if p:
        roi = "none" if p.get("roi") is None else ",".join(str(v) for v in p["roi"])
        lines.append(f"profile {p['product']}/{p['station']} r{p['revision']}: image threshold "
                     f"{p['image_threshold']:.6g}, pixel threshold {p['pixel_threshold']:.6g}, min area "
                     f"{p['min_area']}, min peak {p['min_peak']:.6g}, roi {roi}")
    else:
        lines.append("no calibration profile in force")
    for h in response.get("history") or []:
        lines.append(f"  r{h['revision']:04d} {h['created_at']} {h['author']}: image {h['image_threshold']:.6g}, "
                     f"pixel {h['pixel_threshold']:.6g} ({h['reason']})")
    w = response.get("what_if")
    if w:
        lines.append(f"what if (nothing changed): {w['replayed']} kept inspections replayed; "
                     f"{w['pass_to_fail']} PASS->FAIL, {w['fail_to_pass']} FAIL->PASS")
        lines.extend(f"  seq {f['seq']} {f['name']}: score {f['score']:.6g}, {f['before']} -> {f['after']}"
                     for f in w["flipped"])
    lines.extend(f"warning: {w}" for w in response.get("warnings") or [])
    return "\n".join(lines)


def cmd_threshold(args: argparse.Namespace) -> int:
    try:
        request = build_request(args)
        response = send(args, request)
    except (UsageError, ConnectionError, ValueError) as exc:
        print(f"edge-inspector threshold: error: {exc}", file=sys.stderr)
        return 2
    if response is None:
        print(f"no response from station {args.station} on {args.host}:{args.port} within {args.timeout:g} s: "
              "is the daemon running with mqtt.commands: true?", file=sys.stderr)
        return 2
    if not response.get("ok"):
        print(f"refused: {response.get('error')}", file=sys.stderr)
        print(format_response(response))
        return 1
    print(format_response(response))
    return 0
