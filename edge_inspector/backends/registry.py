"""Backend registry: a name in the config picks an implementation, imported only when used.

Nothing here imports torch at module level: the daemon may run ONNX Runtime or TensorRT engines on a
machine without it.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from .base import Backend, BackendError

# name -> "module:Class"; other backends (onnxruntime, tensorrt) register here.
REGISTRY: dict[str, str] = {
    "torch": "edge_inspector.backends.torch_backend:TorchBackend",
}


def resolve_device(device: str = "auto") -> str:
    """"auto" -> "cuda" when torch sees a GPU, else "cpu"; an explicit cuda request without a GPU is an error."""
    if device not in ("auto", "cpu") and not device.startswith("cuda"):
        raise BackendError(f"model.device {device!r}: expected auto, cpu, cuda or cuda:N")
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


def create_backend(name: str, model_dir: Path, device: str = "auto") -> Backend:
    """Instantiate the backend `name` for a model directory (model.pt/engine + metadata.json)."""
    target = REGISTRY.get(name)
    if target is None:
        raise BackendError(f"backend {name!r} is not available (known: {', '.join(sorted(REGISTRY))})")
    module_name, cls_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendError(f"backend {name!r} needs a package that is not installed: {exc.name} "
                           f"(known backends: {', '.join(sorted(REGISTRY))})") from None
    backend: Backend = getattr(module, cls_name)(Path(model_dir), device)
    return backend
