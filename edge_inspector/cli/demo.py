"""`edge-inspector demo`: the thin verb; the stages live in cli/demo_run.py."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
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
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo_run import run_demo

    return run_demo(args)
