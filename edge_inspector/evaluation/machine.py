"""Describe the machine a measurement ran on, so every benchmark and report is reproducible."""

from __future__ import annotations

import datetime as dt
import importlib
import os
import platform


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _version(module: str) -> str | None:
    try:
        return str(importlib.import_module(module).__version__)
    except Exception:  # noqa: BLE001 - absent or broken optional package
        return None


def describe_machine(with_torch: bool = True) -> dict[str, object]:
    """CPU, cores, GPU (when torch sees one), OS and library versions, with a UTC timestamp."""
    info: dict[str, object] = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "host": platform.node(),
        "os": f"{platform.system()} {platform.release()}",
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "opencv": _version("cv2"),
        "onnxruntime": _version("onnxruntime"),
    }
    if with_torch:
        torch_version = _version("torch")
        info["torch"] = torch_version
        if torch_version is not None:
            import torch

            info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return info


def machine_line(info: dict[str, object]) -> str:
    """One line for logs and Markdown tables."""
    gpu = info.get("gpu") or "no GPU"
    line = f"{info['cpu']} ({info['cores']} cores), {gpu}, Python {info['python']}, torch {info.get('torch')}"
    return line + (f", onnxruntime {info['onnxruntime']}" if info.get("onnxruntime") else "")
