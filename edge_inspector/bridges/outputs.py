"""The actuator the reject bridge drives: a Modbus TCP coil or holding register (pymodbus), or a Linux GPIO
line (libgpiod's Python bindings, `gpiod` 2.x). Both are imported only when chosen; a missing one is refused
with one line naming what to install, like the backends' registry."""

from __future__ import annotations

import errno
from typing import Any, Protocol

from ..config.redact import cap
from ..errors import UserError
from .config import BridgeConfig, GpioOutput, ModbusOutput


class OutputError(RuntimeError):
    """A write the actuator did not take (connection lost, Modbus exception, GPIO error): counted, reported."""


class Output(Protocol):
    def set(self, on: bool) -> None: ...
    def close(self) -> None: ...
    def describe(self) -> str: ...


class ModbusCoilOutput:
    """One coil (or holding register) on a Modbus TCP remote-I/O module; reconnects on the next write."""

    def __init__(self, cfg: ModbusOutput) -> None:
        try:
            from pymodbus.client import ModbusTcpClient
            from pymodbus.exceptions import ModbusException
        except ImportError:
            raise UserError("output.kind modbus needs pymodbus: pip install 'edge-inspector[bridge]'") from None
        self.cfg = cfg
        self._errors: tuple[type[BaseException], ...] = (ModbusException, OSError)
        # retries=0: a write that times out must not be repeated late; the next reject tries again
        self._client: Any = ModbusTcpClient(cfg.host, port=cfg.port, timeout=cfg.timeout_s, retries=0)

    def set(self, on: bool) -> None:
        c = self.cfg
        try:
            if not self._client.connected and not self._client.connect():
                raise OutputError(f"cannot connect to Modbus TCP {c.host}:{c.port}")
            if c.target == "coil":
                reply = self._client.write_coil(c.address, on, device_id=c.device_id)
            else:
                reply = self._client.write_register(c.address, c.on_value if on else c.off_value,
                                                    device_id=c.device_id)
        except self._errors as exc:
            self._client.close()
            raise OutputError(f"Modbus {c.host}:{c.port} {c.target} {c.address}: {exc}") from None
        if reply.isError():
            raise OutputError(f"Modbus {c.host}:{c.port} {c.target} {c.address}: {reply}")

    def close(self) -> None:
        self._client.close()

    def describe(self) -> str:
        c = self.cfg
        return f"modbus tcp://{c.host}:{c.port} device {c.device_id} {c.target} {c.address}"


GPIO_CONSUMER = "edge-inspector-reject"  # what `gpioinfo` shows as the line's user while the bridge holds it
_GPIO_WHY = {  # errno -> what the plant engineer should check (docs/deploy.md, "GPIO output")
    errno.ENOENT: "no such chip (the board's chips: ls /dev/gpiochip*, or gpiodetect)",
    errno.EACCES: "permission denied: the bridge's user needs read/write on the chip (a group and "
                  "SupplementaryGroups=, docs/deploy.md)",
    errno.ENODEV: "not a GPIO chip character device", errno.ENOTTY: "not a GPIO chip character device",
}
_GPIO_WHY[errno.EPERM] = _GPIO_WHY[errno.EACCES]


def _import_gpiod() -> tuple[Any, Any]:
    """gpiod and gpiod.line (the 2.x API), or a UserError naming what to install (also for the 1.x bindings,
    Debian 12's python3-libgpiod, whose module is called gpiod too)."""
    try:
        import gpiod
    except ImportError:
        raise UserError("output.kind gpio needs libgpiod's Python bindings 2.x: pip install gpiod "
                        "(and a kernel with the GPIO character device, /dev/gpiochipN)") from None
    try:
        from gpiod import line
    except ImportError:
        raise UserError(f"output.kind gpio needs libgpiod's Python bindings 2.x, found gpiod "
                        f"{cap(getattr(gpiod, '__version__', '?'), 40)} (the 1.x API, e.g. Debian 12's "
                        f"python3-libgpiod) at {cap(getattr(gpiod, '__file__', '?'), 160)}: "
                        "pip install 'gpiod>=2.1' into the bridge's environment") from None
    return gpiod, line


class GpioLineOutput:
    """One output line of a GPIO chip through the kernel's character device (libgpiod 2.x bindings).

    The line is requested at construction, as an output driven inactive; a chip that is missing, not a GPIO
    chip or not ours to open, a line out of range or held by another program is a UserError (one line naming
    chip and line). `active_low` inverts the electrical level: active (on) is then 0 V."""

    def __init__(self, cfg: GpioOutput) -> None:
        gpiod, line = _import_gpiod()
        self.cfg, self._on, self._off = cfg, line.Value.ACTIVE, line.Value.INACTIVE
        self._errors: tuple[type[BaseException], ...] = (OSError, gpiod.RequestReleasedError)
        self.chip_label = ""
        where = f"output.gpio: line {cfg.line} of chip {cap(cfg.chip, 120)}"
        settings = gpiod.LineSettings(direction=line.Direction.OUTPUT, output_value=line.Value.INACTIVE,
                                      active_low=cfg.active_low)
        try:
            with gpiod.Chip(cfg.chip) as chip:
                info = chip.get_info()
                self.chip_label = str(info.label)[:64]
                if cfg.line >= info.num_lines:  # gpiod raises a bare ValueError for it
                    raise UserError(f"{where}: out of range, the chip ({cap(info.name, 40)} "
                                    f"{cap(self.chip_label, 70)}) has lines 0-{info.num_lines - 1}")
                try:
                    self._request: Any = chip.request_lines(config={cfg.line: settings}, consumer=GPIO_CONSUMER)
                except OSError as exc:
                    if exc.errno != errno.EBUSY:
                        raise
                    holder = chip.get_line_info(cfg.line).consumer
                    raise UserError(f"{where}: busy, held by {cap(holder, 80)} (stop it: another bridge, "
                                    "gpioset, a kernel driver; gpioinfo shows the line)") from None
        except OSError as exc:
            why = _GPIO_WHY.get(exc.errno or 0) or cap(exc.strerror or str(exc), 120)
            if exc.errno == errno.ENOENT and "/" not in cfg.chip:
                why += "; chip is a path, such as /dev/gpiochip0"
            raise UserError(f"{where}: {why}") from None
        except ValueError as exc:  # the bindings' own refusals (e.g. an offset the chip does not have)
            raise UserError(f"{where}: {cap(str(exc), 120)}") from None

    def set(self, on: bool) -> None:
        try:
            self._request.set_value(self.cfg.line, self._on if on else self._off)
        except self._errors as exc:
            raise OutputError(f"GPIO {self.cfg.chip} line {self.cfg.line}: {exc}") from None

    def active(self) -> bool:
        """The line's value as the kernel reports it (True: active, after active_low), for the pulse check."""
        try:
            return bool(self._request.get_value(self.cfg.line) == self._on)
        except self._errors as exc:
            raise OutputError(f"GPIO {self.cfg.chip} line {self.cfg.line}: {exc}") from None

    def close(self) -> None:
        """Release the line (idempotent). What the pin does then is the board's: see docs/deploy.md."""
        if self._request:
            self._request.release()

    def describe(self) -> str:
        label = f" ({self.chip_label})" if self.chip_label else ""
        return f"gpio {self.cfg.chip}{label} line {self.cfg.line}" + (" (active low)" if self.cfg.active_low else "")


def create_output(cfg: BridgeConfig) -> Output:
    """The configured actuator, switched off."""
    if cfg.output_kind == "gpio" and cfg.gpio is not None:
        return GpioLineOutput(cfg.gpio)
    if cfg.modbus is None:
        raise UserError("output: no modbus section")
    return ModbusCoilOutput(cfg.modbus)
