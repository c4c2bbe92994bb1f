"""`edge-inspector watch`: print verdicts from a broker as the PLC sees them (publish/verdict_subscriber.py)."""

from __future__ import annotations

import argparse
import time


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("watch", help="print verdicts from a broker as the PLC sees them",
                       description="Subscribe to the verdict topic and print one line per verdict.")
    from .mqtt_args import add_client_args

    add_client_args(p)
    p.add_argument("--topic", default="edge-inspector/+/verdict")
    p.set_defaults(func=cmd_watch)


def cmd_watch(args: argparse.Namespace) -> int:
    from ..publish.verdict_subscriber import VerdictSubscriber, format_verdict
    from .mqtt_args import apply_client_args

    sub = VerdictSubscriber(args.host, args.port, args.topic, setup=lambda c: apply_client_args(c, args),
                            on_message=lambda _t, p: print(format_verdict(p), flush=True)).start()
    try:
        while True:
            time.sleep(1)
    finally:
        sub.stop()
