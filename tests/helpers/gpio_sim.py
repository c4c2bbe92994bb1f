"""The reject bridge's GPIO test peers: a simulated GPIO chip from the kernel's gpio-sim (configfs), a poller that
records the line's edges as the outside world sees them, and the bridge's config and verdicts for it.

gpio-sim (Documentation/admin-guide/gpio/gpio-sim.rst; libgpiod's tests/gpiosim do the same): mkdir a device and
a bank under /sys/kernel/config/gpio-sim, write the bank's num_lines, write 1 to the device's `live`; the bank's
`chip_name` then names /dev/<chip_name>, and each line's level and simulated pull are
/sys/devices/platform/<dev_name>/<chip_name>/sim_gpio<N>/{value,pull}. `value` is the electrical level (a line
requested active-low and driven active reads 0); a line nobody drives follows its pull (pull-down by default).
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

CONFIGFS = Path("/sys/kernel/config/gpio-sim")
_ids = itertools.count()


def gpio_sim_missing() -> str | None:
    """Why this machine cannot make a simulated chip (None: it can)."""
    if not CONFIGFS.is_dir():
        return "kernel has no gpio-sim: /sys/kernel/config/gpio-sim absent; see docs/deploy.md hardware test"
    if not os.access(CONFIGFS, os.W_OK):
        return f"{CONFIGFS} is not writable by this user (gpio-sim needs root); see docs/deploy.md hardware test"
    return None


class SimChip:
    """One live simulated chip with one bank of `num_lines` lines; close() tears it down."""

    def __init__(self, num_lines: int = 8, label: str = "ei-reject-test") -> None:
        self.num_lines, self.label = num_lines, label
        self.dev = CONFIGFS / f"ei-rb-{os.getpid()}-{next(_ids)}"
        self.bank = self.dev / "bank0"
        self.dev_name = self.chip_name = ""

    def start(self) -> SimChip:
        self.dev.mkdir()
        self.bank.mkdir()
        (self.bank / "num_lines").write_text(str(self.num_lines))
        (self.bank / "label").write_text(self.label)
        (self.dev / "live").write_text("1")
        self.dev_name = (self.dev / "dev_name").read_text().strip()
        self.chip_name = (self.bank / "chip_name").read_text().strip()
        deadline = time.monotonic() + 10.0  # devtmpfs makes the node at once; udev may set its mode after
        while not Path(self.path).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not Path(self.path).exists():
            self.close()
            pytest.skip(f"gpio-sim made {self.chip_name} but {self.path} did not appear (no devtmpfs here?)")
        return self

    @property
    def path(self) -> str:
        return f"/dev/{self.chip_name}"

    def _attr(self, line: int, name: str) -> Path:
        return Path("/sys/devices/platform") / self.dev_name / self.chip_name / f"sim_gpio{line}" / name

    def value(self, line: int) -> int:
        return int(self._attr(line, "value").read_text().strip())

    def set_pull(self, line: int, pull: str) -> None:
        """pull-up or pull-down: the level the line takes when nobody drives it (the board's resistor)."""
        self._attr(line, "pull").write_text(pull)

    def close(self) -> None:
        if (self.dev / "live").exists() and (self.dev / "live").read_text().strip() == "1":
            (self.dev / "live").write_text("0")
        for path in (self.bank, self.dev):
            if path.exists():
                path.rmdir()


class EdgeRecorder:
    """Polls one line's sysfs value in a thread and keeps every change as (epoch time seen, new level).
    A change is seen after it happened, never before: pulses must be longer than a scheduling hiccup."""

    def __init__(self, chip: SimChip, line: int) -> None:
        self.chip, self.line = chip, line
        self.first = chip.value(line)
        self.changes: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gpio-sim-poll", daemon=True)

    def start(self) -> EdgeRecorder:
        self._thread.start()
        return self

    def _run(self) -> None:
        last = self.first
        while not self._stop.is_set():
            now = self.chip.value(self.line)
            if now != last:
                self.changes.append((time.time(), now))
                last = now
            time.sleep(0.0005)

    def stop(self) -> list[tuple[float, int]]:
        self._stop.set()
        self._thread.join(5.0)
        return list(self.changes)

    def edges(self, to: int) -> list[float]:
        """Times the line was seen changing to `to` (1: rising, 0: falling)."""
        return [t for t, v in self.changes if v == to]


def write_gpio_bridge_config(path: Path, *, broker: Any, station: str, chip: str, line: int,
                             active_low: bool = False, delay_ms: float = 1500.0, pulse_ms: float = 200.0) -> Path:
    """A reject-bridge config for output.kind gpio, verdicts only (the test publishes them itself)."""
    cfg = {"station": station,
           "mqtt": {"host": broker.host, "port": broker.port, "topic_prefix": "ei-rel",
                    "client_id": f"rb-gpio-{station}-{os.getpid()}"},
           "schedule": {"delay_ms": delay_ms, "pulse_ms": pulse_ms},
           "parts": {"announce": "verdicts"},
           "output": {"kind": "gpio", "gpio": {"chip": chip, "line": line, "active_low": active_low}},
           "status": {"interval_s": 0.5}}
    path.write_text(yaml.safe_dump(cfg))
    return path


def verdict(station: str, seq: int, result: str, captured_ts: float, run: str = "gpio-run") -> dict[str, Any]:
    """A contract-2 verdict as the daemon publishes it (docs/schemas; the caller validates it)."""
    at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(captured_ts)) + ".000Z"
    return {"schema": "edge-inspector/verdict", "version": 2, "station": station, "run_id": run, "seq": seq,
            "source_index": seq, "frame": f"f{seq}", "captured_at": at, "captured_ts": captured_ts,
            "decided_at": at, "latency_ms": 50.0, "verdict": result, "score": 0.9 if result != "PASS" else 0.1,
            "threshold": 0.5, "boxes": [], "reason": "test", "model_id": "m", "part_id": None, "replayed": False}


def dumps(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()
