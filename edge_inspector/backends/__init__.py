"""Scoring backends behind one interface; `create_backend(name, model_dir, device)` picks one."""

from .base import Backend, BackendError
from .registry import REGISTRY, create_backend, resolve_device

__all__ = ["REGISTRY", "Backend", "BackendError", "create_backend", "resolve_device"]
