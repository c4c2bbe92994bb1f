"""The actuator the reject bridge drives: a Modbus TCP coil or holding register (pymodbus), or a Linux GPIO
line (libgpiod's Python bindings, `gpiod` 2.x). Both are imported only when chosen; a missing one is refused
with one line naming what to install, like the backends' registry."""

from __future__ import annotations

from typing import Any, Protocol

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


class GpioLineOutput:
    """One output line of a GPIO chip through the kernel's character device (libgpiod 2.x bindings)."""

    def __init__(self, cfg: GpioOutput) -> None:
        try:
            import gpiod
            from gpiod.line import Direction, Value
        except ImportError:
            raise UserError("output.kind gpio needs libgpiod's Python bindings 2.x: pip install gpiod "
                            "(and a kernel with the GPIO character device, /dev/gpiochipN)") from None
        self.cfg, self._on, self._off = cfg, Value.ACTIVE, Value.INACTIVE
        settings = gpiod.LineSettings(direction=Direction.OUTPUT, output_value=Value.INACTIVE,
                                      active_low=cfg.active_low)
        try:
            self._request: Any = gpiod.request_lines(cfg.chip, consumer="edge-inspector-reject",
                                                     config={cfg.line: settings})
        except OSError as exc:
            raise UserError(f"output.gpio: cannot request line {cfg.line} of {cfg.chip}: {exc}") from None

    def set(self, on: bool) -> None:
        try:
            self._request.set_value(self.cfg.line, self._on if on else self._off)
        except OSError as exc:
            raise OutputError(f"GPIO {self.cfg.chip} line {self.cfg.line}: {exc}") from None

    def close(self) -> None:
        self._request.release()

    def describe(self) -> str:
        return f"gpio {self.cfg.chip} line {self.cfg.line}" + (" (active low)" if self.cfg.active_low else "")


def create_output(cfg: BridgeConfig) -> Output:
    """The configured actuator, switched off."""
    if cfg.output_kind == "gpio" and cfg.gpio is not None:
        return GpioLineOutput(cfg.gpio)
    if cfg.modbus is None:
        raise UserError("output: no modbus section")
    return ModbusCoilOutput(cfg.modbus)
