"""`edge-inspector reject-bridge`: fire an ejector for FAIL/FAULT verdicts (docs/deploy.md, "Reject bridge")."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("reject-bridge", help="drive a reject actuator (Modbus TCP or GPIO) from the verdicts",
                       description="Subscribe to a station's verdicts and pulse a Modbus TCP coil/register or a "
                       "GPIO line for every FAIL and FAULT at its firing time (a delay after capture, or a count "
                       "of the belt's encoder), until SIGINT/SIGTERM.")
    p.add_argument("--config", "-c", type=Path, required=True, help="the bridge's YAML config file")
    p.add_argument("--check", action="store_true", help="only validate the config file and exit")
    p.set_defaults(func=cmd_reject_bridge)


def cmd_reject_bridge(args: argparse.Namespace) -> int:
    import signal
    import threading

    from ..bridges.bridge import RejectBridge
    from ..bridges.config import load_bridge_config
    from ..bridges.outputs import create_output

    cfg = load_bridge_config(args.config)
    if args.check:
        print(f"{args.config}: OK (station {cfg.station}, output {cfg.output_kind}, schedule {cfg.schedule.mode})")
        return 0
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    RejectBridge(cfg, create_output(cfg)).run(stop)
    return 0
