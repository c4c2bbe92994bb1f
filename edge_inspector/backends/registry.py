"""Backend registry: a name in the config picks an implementation, imported only when used.

Nothing here imports torch at module level: the daemon may run ONNX Runtime or TensorRT engines on a
machine without it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..model.defect_type_names import is_type_classifier
from ..model.metadata import MetadataError, ModelMetadata
from .base import Backend, BackendError, BackendOptions
from .devices import check_device
from .lazy_lookup import UnknownName, lazy_lookup

log = logging.getLogger(__name__)

# name -> "module:factory"; factory(model_dir, device, options) -> Backend.
REGISTRY: dict[str, str] = {
    "torch": "edge_inspector.backends.torch_open:open_torch_backend",
    "onnxruntime": "edge_inspector.backends.onnxruntime_backend:OnnxRuntimeBackend",
    "tensorrt": "edge_inspector.backends.tensorrt_backend:TensorRTBackend",
}
# What `model.backend` accepts: the registered backends and `auto`, which picks one of them.
BACKEND_NAMES = ("auto", *REGISTRY)
# The pip extra that installs what a backend's module needs.
EXTRAS = {"torch": "torch", "onnxruntime": "onnx", "tensorrt": "trt"}


def create_backend(name: str, model_dir: Path, device: str = "auto",
                   options: BackendOptions | None = None) -> Backend:
    """Instantiate the backend `name` for a model directory; `auto` tries the usable ones in preference
    order and logs the one it took and why (and why a better one failed to load)."""
    options = options or BackendOptions()
    model_dir = Path(model_dir)
    check_device(device)
    refuse_type_classifier(model_dir)
    if name != "auto":
        return _create(name, model_dir, device, options)
    from .selection import select_backend

    first_error: BackendError | None = None
    for choice in select_backend(model_dir, device):
        try:
            backend = _create(choice.name, model_dir, choice.device, options)
        except BackendError as exc:
            log.warning("backend auto: %s on %s not usable: %s", choice.name, choice.device, exc)
            first_error = first_error or exc
            continue
        log.info("backend auto -> %s (%s): %s", backend.name, choice.device, choice.reason)
        return backend
    assert first_error is not None  # select_backend raises when there is no candidate
    raise first_error


def refuse_type_classifier(model_dir: Path) -> None:
    """BackendError (one line) for a defect-type classifier's dir: it names defects, it judges no part. A dir
    without readable metadata is left to the backend, whose own error names the problem."""
    try:
        meta = ModelMetadata.load(model_dir)
    except MetadataError:
        return
    if is_type_classifier(meta):
        raise BackendError(f"{model_dir}: model kind {meta.kind} names the defect types of failed parts, it does not "
                           "judge parts: give it as model.defect_types, and an inspection model as model.path")


def _create(name: str, model_dir: Path, device: str, options: BackendOptions) -> Backend:
    try:
        factory = lazy_lookup(REGISTRY, name)
    except UnknownName:
        raise BackendError(f"backend {name!r} is not available (known: {', '.join(BACKEND_NAMES)})") from None
    except ImportError as exc:
        raise BackendError(f"backend {name!r} needs a package that is not installed: {exc.name} "
                           f"(pip install edge-inspector[{EXTRAS[name]}])") from None
    backend: Backend = factory(model_dir, device, options)
    if options.tiling is not None:
        from .tiled import TiledBackend

        return TiledBackend(backend, options.tiling)
    return backend
