"""The planner and the firing thread for the configured schedule mode: delay (times) or encoder (belt counts)."""

from __future__ import annotations

from collections.abc import Callable

from .config import BridgeConfig
from .firing import Firing
from .geometry import DelayGeometry, EncoderGeometry
from .outputs import Output
from .planner import Planner

OnFire = Callable[[str, float, float], None]


def build_schedule(cfg: BridgeConfig, output: Output, on_fire: OnFire) -> tuple[Planner, Firing]:
    """(planner, firing thread, not started); encoder mode opens no connection until the thread polls."""
    s = cfg.schedule
    skew = s.max_clock_skew_ms / 1000.0
    if s.mode != "encoder" or s.encoder is None:
        planner = Planner(DelayGeometry(s.delay_ms / 1000.0), skew, cfg.dedup_entries)
        return planner, Firing(planner, output, s.pulse_ms / 1000.0, on_fire=on_fire)
    from .count_firing import CountFiring, log_fired_count
    from .encoder import ModbusEncoder, PositionRing

    e = s.encoder
    ring = PositionRing(e.bits, e.stale_ms / 1000.0, int(e.history_s * 1000.0 / e.poll_ms) + 2)
    planner = Planner(EncoderGeometry(ring, e.counts_to_ejector), skew, cfg.dedup_entries)
    firing = CountFiring(planner, output, s.pulse_ms / 1000.0, ModbusEncoder(e), ring, e, on_fire=log_fired_count)
    return planner, firing


def schedule_detail(cfg: BridgeConfig, firing: Firing) -> dict[str, object]:
    """The status's `schedule` object, and `encoder` in encoder mode."""
    s = cfg.schedule
    out: dict[str, object] = {"schedule": {"mode": s.mode, "delay_ms": s.delay_ms if s.mode == "delay" else None,
                                           "pulse_ms": s.pulse_ms, "announce": cfg.announce}}
    detail = getattr(firing, "detail", None)
    if detail is not None:
        out["encoder"] = detail()
    return out
