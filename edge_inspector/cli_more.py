"""CLI verbs beyond the daemon core: demo, evaluate, watch."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def add_demo(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("demo", help="offline end-to-end demo: synth data, train, run daemon over MQTT",
                       description="Generate a synthetic product line, train a compact model on the CPU, start "
                       "a local Mosquitto broker and run the real daemon on a line video.")
    p.add_argument("--workdir", type=Path, default=Path("edge-inspector-demo"), help="where everything is written")
    p.add_argument("--category", default="brushed_metal", help="brushed_metal | woven_fabric | printed_label")
    p.add_argument("--size", type=int, default=96, help="image and model input size (px)")
    p.add_argument("--train-images", type=int, default=160)
    p.add_argument("--frames", type=int, default=60, help="parts in the line video")
    p.add_argument("--max-minutes", type=float, default=4.0, help="training time budget")
    p.add_argument("--broker", default=None, help="HOST:PORT of an existing broker (default: start one)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=lambda a: __import__("edge_inspector.demo", fromlist=["run_demo"]).run_demo(a))


def add_evaluate(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("evaluate", help="evaluate a model on an MVTec-layout test set",
                       description="Image AUROC, pixel AUROC, AU-PRO, F1 and metrics at the calibrated "
                       "threshold; writes JSON, Markdown and PNG plots.")
    p.add_argument("--data", type=Path, required=True, help="MVTec category dir (with test/ and ground_truth/)")
    p.add_argument("--model", type=Path, required=True, help="model directory")
    p.add_argument("--backend", default="torch")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", type=Path, default=None, help="report dir (default MODEL/eval-CATEGORY)")
    p.set_defaults(func=lambda a: __import__("edge_inspector.evaluate_cmd", fromlist=["run"]).run(a))


def add_watch(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("watch", help="print verdicts from a broker as the PLC sees them",
                       description="Subscribe to the verdict topic and print one line per verdict.")
    p.add_argument("--host", default="localhost")
    p.add_argument("--port", type=int, default=1883)
    p.add_argument("--topic", default="edge-inspector/+/verdict")
    p.set_defaults(func=_cmd_watch)


def _cmd_watch(args: argparse.Namespace) -> int:
    from .watch import VerdictSubscriber, format_verdict

    sub = VerdictSubscriber(args.host, args.port, args.topic,
                            on_message=lambda _t, p: print(format_verdict(p), flush=True)).start()
    try:
        while True:
            time.sleep(1)
    finally:
        sub.stop()
