"""`edge-inspector run`: the inspection daemon."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("run", help="run the inspection daemon", description="Run the inspection daemon until "
                       "the source ends or SIGINT/SIGTERM.")
    p.add_argument("--config", "-c", type=Path, required=True, help="YAML config file")
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    import signal
    import sys

    from ..config import ConfigError, load_config
    from ..config.secrets import missing_secrets
    from ..service.daemon import Daemon

    cfg = load_config(args.config)
    missing = missing_secrets(cfg)
    if missing:
        raise ConfigError(f"{args.config}: {missing[0]}")
    front_end = None
    if cfg.dashboard.enabled:
        from ..dashboard import start_dashboard

        front_end = start_dashboard(cfg.dashboard)
    daemon = Daemon(cfg, front_end=front_end)
    signal.signal(signal.SIGTERM, lambda *_: daemon.stop())
    signal.signal(signal.SIGINT, lambda *_: daemon.stop())
    summary = daemon.run()
    for line in summary.lines():
        print(line)
    if daemon.fatal is not None:
        print(f"edge-inspector run: {daemon.fatal}", file=sys.stderr)
        return 1
    return 0 if summary.capture_error is None else 1
