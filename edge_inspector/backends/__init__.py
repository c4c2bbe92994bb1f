"""Scoring backends behind one interface; `create_backend(name, model_dir, device, options)` picks one."""

from .base import Backend, BackendError, BackendOptions
from .devices import resolve_device
from .registry import BACKEND_NAMES, REGISTRY, create_backend

__all__ = ["BACKEND_NAMES", "REGISTRY", "Backend", "BackendError", "BackendOptions", "create_backend",
           "resolve_device"]
