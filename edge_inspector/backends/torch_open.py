"""The registry's `torch` entry: the CUDA fast path (torch_cuda.py) on a GPU, the eager fp32 backend otherwise.

A module of its own so that torch_cuda.py may use torch_backend.py (its fp32 reference for the precision
check) without an import circle.
"""

from __future__ import annotations

from pathlib import Path

from .base import Backend, BackendOptions
from .devices import resolve_device
from .torch_backend import TorchBackend


def open_torch_backend(model_dir: Path, device: str = "auto", options: BackendOptions | None = None) -> Backend:
    """TorchCudaBackend on cuda unless precision fp32 is asked for; TorchBackend otherwise."""
    options = options or BackendOptions()
    resolved = resolve_device(device)
    if resolved.startswith("cuda") and options.precision != "fp32":
        from .torch_cuda import TorchCudaBackend

        return TorchCudaBackend(model_dir, resolved, options)
    return TorchBackend(model_dir, resolved, options)
