"""Named training presets and the training precision a machine can use.

A preset fills in the `train` flags a user left out; flags given on the command line always win.
`cpu-30min` is the best model a 2-core CPU box without a GPU trains in half an hour (measured in
docs/benchmarks.md, "CPU training preset"): bf16 autocast and channels-last where the CPU has bf16
matrix units (AMX or AVX512-BF16, 3.6x faster at 256 px on our 2-core Xeon), 192 px input, which buys
about 1700 optimiser steps of batch 8 there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

PRESETS: dict[str, dict[str, Any]] = {
    "cpu-30min": {
        "kind": "scratch", "input_size": 192, "encoder_layers": 3, "width": 128, "batch_size": 8,
        "epochs": 100000, "patience": 100000, "max_minutes": 30.0, "precision": "auto",
    },
}

# What `train` uses for a flag neither the user nor a preset set.
FALLBACK: dict[str, Any] = {
    "kind": "auto", "input_size": 256, "encoder_layers": 3, "width": 128, "patience": 10, "precision": "auto",
}

PRECISIONS = ("auto", "fp32", "bf16")


def resolve(flags: dict[str, Any], preset: str | None) -> dict[str, Any]:
    """Flags (None = not given) completed from the preset, then from FALLBACK; unknown preset -> ValueError."""
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"--preset: expected one of {', '.join(PRESETS)}, got {preset!r}")
    chosen = PRESETS.get(preset or "", {})
    out = dict(flags)
    for key in set(chosen) | set(FALLBACK):
        if out.get(key) is None:
            out[key] = chosen.get(key, FALLBACK.get(key))
    return out


def cpu_has_fast_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True when the CPU multiplies bf16 in hardware (AMX or AVX512-BF16): there bf16 autocast trains
    several times faster; elsewhere it would be emulated and slower than fp32."""
    try:
        flags = cpuinfo.read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def training_dtype(precision: str, device: str) -> str | None:
    """The autocast dtype name for a run ('bfloat16', 'float16') or None for plain fp32.

    CUDA: bf16 where supported, else fp16 (with loss scaling in the loop); fp32 only when asked.
    CPU: bf16 when asked, or on auto when the CPU has bf16 units.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"--precision: expected one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        return None
    if device.startswith("cuda"):
        import torch

        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    if precision == "bf16" or cpu_has_fast_bf16():
        return "bfloat16"
    return None
