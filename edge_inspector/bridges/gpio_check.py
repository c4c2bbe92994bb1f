"""The GPIO output's hardware test: pulse the reject bridge's configured line N times on the real board.

    /opt/edge-inspector/.venv/bin/python -m edge_inspector.bridges.gpio_check \\
        --config /etc/edge-inspector/line1.reject-bridge.yaml --count 5

It reads the bridge's own config with the bridge's loader, takes the line exactly as the bridge does
(outputs.GpioLineOutput: libgpiod 2.x, consumer `edge-inspector-reject`, driven inactive, `active_low` honoured),
switches it active for `schedule.pulse_ms` N times, `--interval-ms` apart, reads the line back from the kernel
after every switch, prints one line per pulse and a summary, and releases the line. The kernel's read-back
proves the request and the writes, not the wiring: watch the actuator (air off), its LED or a meter.
docs/deploy.md, "GPIO output: checking it on the real board". Stop the bridge first: a line has one user.

Exit 0: every pulse written and read back as written; 1: a write or a read-back failed; 2: a bad config,
a bad option, or a line it cannot get (one line naming chip and line, like the bridge).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import USER_ERRORS
from .config import load_bridge_config
from .outputs import GpioLineOutput, OutputError

MAX_COUNT = 1000  # a check, not a load test
INTERVAL_MS = (50.0, 60_000.0)
REFUSED: tuple[type[BaseException], ...] = (*USER_ERRORS, ValueError)  # exit 2, one line


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m edge_inspector.bridges.gpio_check",
                                description="Pulse the reject bridge's GPIO line N times (the hardware test).")
    p.add_argument("--config", "-c", type=Path, required=True, help="the bridge's YAML config (output.kind gpio)")
    p.add_argument("--count", "-n", type=int, default=5, help=f"pulses, 1-{MAX_COUNT} (default 5)")
    p.add_argument("--interval-ms", type=float, default=1000.0,
                   help="off time between two pulses, 50-60000 ms (default 1000)")
    p.add_argument("--yes", action="store_true", help="do not ask before pulsing (the line drives an actuator)")
    return p


def pulse(out: GpioLineOutput, count: int, pulse_s: float, interval_s: float,
          say: Callable[[str], None] = print) -> int:
    """Pulse `count` times; returns how many pulses were written and read back as written (on, then off)."""
    good = 0
    for i in range(1, count + 1):
        if i > 1:
            time.sleep(interval_s)
        try:
            t0 = time.monotonic()
            out.set(True)
            on = out.active()
            time.sleep(pulse_s)
            out.set(False)
            held = time.monotonic() - t0
            off = out.active()
        except OutputError as exc:
            say(f"pulse {i}/{count}: FAILED: {exc}")
            continue
        ok = on and not off
        good += ok
        say(f"pulse {i}/{count}: on {held * 1000:.1f} ms; read back {'active' if on else 'INACTIVE'} while on, "
            f"{'ACTIVE' if off else 'inactive'} after{'' if ok else ': NOT AS WRITTEN'}")
    return good


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if not 1 <= args.count <= MAX_COUNT:
            raise ValueError(f"--count: expected 1-{MAX_COUNT}, got {args.count}")
        if not INTERVAL_MS[0] <= args.interval_ms <= INTERVAL_MS[1]:
            raise ValueError(f"--interval-ms: expected 50-60000, got {args.interval_ms:g}")
        cfg = load_bridge_config(args.config)
        if cfg.gpio is None:
            raise ValueError(f"{args.config}: output.kind is {cfg.output_kind}, not gpio: nothing to pulse here")
        pulse_s = cfg.schedule.pulse_ms / 1000.0
        if not args.yes and not _confirm(f"pulse {cfg.gpio.chip} line {cfg.gpio.line} {args.count} times for "
                                         f"{cfg.schedule.pulse_ms:g} ms: the actuator will move (air off?)"):
            print("not confirmed: nothing done", file=sys.stderr)
            return 2
        out = GpioLineOutput(cfg.gpio)
    except REFUSED as exc:
        print(f"gpio_check: error: {str(exc).splitlines()[0][:500]}", file=sys.stderr)
        return 2
    try:
        print(f"{out.describe()}: requested as an output, inactive; {args.count} pulses of {pulse_s * 1000:g} ms, "
              f"{args.interval_ms:g} ms apart")
        good = pulse(out, args.count, pulse_s, args.interval_ms / 1000.0)
    finally:  # also on Ctrl-C in the middle of a pulse: never leave the actuator on
        try:
            out.set(False)
        finally:
            out.close()
    print(f"{good} of {args.count} pulses written and read back as written; line released. "
          "The actuator should have moved that many times.")
    return 0 if good == args.count else 1


def _confirm(what: str) -> bool:
    if not sys.stdin.isatty():
        raise ValueError("--yes is needed when not run from a terminal (the line drives an actuator)")
    return input(f"{what}. Type yes to go on: ").strip().lower() == "yes"


if __name__ == "__main__":
    sys.exit(main())
