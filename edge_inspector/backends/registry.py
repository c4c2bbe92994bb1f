"""Backend registry: a name in the config picks an implementation, imported only when used."""

from __future__ import annotations

import importlib
from pathlib import Path

from .base import Backend, BackendError

REGISTRY: dict[str, str] = {
    "torch": "edge_inspector.backends.torch_backend:TorchBackend",
}


def create_backend(name: str, model_dir: Path, device: str = "auto") -> Backend:
    """Instantiate the backend `name` for a model directory."""
    target = REGISTRY.get(name)
    if target is None:
        raise BackendError(f"backend {name!r} is not available (known: {', '.join(sorted(REGISTRY))})")
    module_name, cls_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendError(f"backend {name!r} needs a package that is not installed: {exc.name}") from None
    backend: Backend = getattr(module, cls_name)(Path(model_dir), device)
    return backend
