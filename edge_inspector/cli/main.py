"""The argparse tree and the entry point: user errors print one line and exit 2."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from .. import __version__
from . import (
    bench,
    build_engine,
    calibrate,
    demo,
    evaluate,
    export,
    install_service,
    opcua_server,
    parity,
    reject_bridge,
    run,
    synth,
    threshold,
    train,
    validate_config,
    watch,
)

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DESCRIPTION = "Command line: `edge-inspector VERB ...`. Imports are lazy so `--help` and the daemon stay light."

Adder = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]
# Order is the order `--help` lists the verbs in.
ADDERS: list[Adder] = [run.add_parser, validate_config.add_parser, train.add_parser, evaluate.add_parser,
                       calibrate.add_parser, threshold.add_parser, export.add_parser, build_engine.add_parser,
                       parity.add_parser, bench.add_parser, synth.add_parser, demo.add_parser, watch.add_parser,
                       reject_bridge.add_parser,
                       opcua_server.add_parser,
                       install_service.add_parser]


def _log_level(value: str) -> str:
    level = value.upper()
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"{value!r} is not a log level (expected one of {', '.join(LOG_LEVELS)})")
    return level


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree; every verb has --help."""
    parser = argparse.ArgumentParser(prog="edge-inspector", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"edge-inspector {__version__}")
    parser.add_argument("--log-level", default="INFO", type=_log_level, metavar="LEVEL",
                        help=f"{', '.join(LOG_LEVELS)} (any case; default INFO)")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for add in ADDERS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; known user errors print one line and exit 2."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from ..config import redact
    from ..errors import USER_ERRORS

    redact.install()  # no password or URL credential reaches a log line
    try:
        return int(args.func(args))
    except USER_ERRORS as exc:
        # capped: an error may quote a value that came from a file or the network
        print(redact.cap_text(redact.redact(f"edge-inspector {args.verb}: error: {exc}")), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
