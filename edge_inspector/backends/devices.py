"""Which torch device a backend runs on: `auto`, `cpu`, `cuda` or `cuda:N`, checked with one-line errors.

A module of its own, below the registry, so that the torch backends can resolve a device without importing the
registry that names them (that was an import circle).
"""

from __future__ import annotations

from .base import BackendError

__all__ = ["check_device", "resolve_device"]


def resolve_device(device: str = "auto") -> str:
    """"auto" -> "cuda" when torch sees a GPU, else "cpu"; an explicit cuda request without a GPU is an error."""
    check_device(device)
    if device == "cpu":
        return device
    try:
        import torch
    except ImportError:
        if device == "auto":
            return "cpu"
        raise BackendError(f"model.device {device!r}: torch is not installed") from None
    available = bool(torch.cuda.is_available())
    if device == "auto":
        return "cuda" if available else "cpu"
    if not available:
        raise BackendError(f"model.device {device!r}: CUDA is not available on this machine")
    return device


def check_device(device: str) -> None:
    """Refuse anything but auto, cpu, cuda or cuda:N with one line."""
    if device in ("auto", "cpu", "cuda"):
        return
    if not (device.startswith("cuda:") and device[5:].isdigit()):
        raise BackendError(f"model.device {device!r}: expected auto, cpu, cuda or cuda:N")
