"""TensorRT backend: runs a plan built on this machine by `edge-inspector build-engine` (no torch needed).

The model dir holds model.engine, engine.json (its build tag) and metadata.json. The tag is checked against
the running TensorRT and GPU before the plan is deserialised, so an engine copied from another machine is
refused with the command that rebuilds it. Memory is pycuda (see export/tensorrt_build.py for why):
page-locked host buffers and device buffers are allocated once for the largest batch, tensors are bound
by name once, and each call copies frames in, runs execute_async_v3 on the backend's own stream and copies
only the anomaly maps and scores back.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..model.metadata import MetadataError, ModelMetadata
from ..model.preprocess import to_input_images
from .base import Backend, BackendError, BackendOptions
from .engine_tag import (
    ENGINE_FILE,
    TAG_FILE,
    check_tag,
    current_runtime,
    device_index,
    load_tensorrt,
    read_tag,
    rebuild_command,
)

log = logging.getLogger(__name__)
OUTPUTS = ("anomaly_map", "score")


class TensorRTBackend(Backend):
    """Scores frames with model_dir/model.engine in batches of up to max_batch (options or the engine's)."""

    name = "tensorrt"

    def __init__(self, model_dir: Path, device: str = "auto", options: BackendOptions | None = None) -> None:
        options = options or BackendOptions()
        model_dir = Path(model_dir)
        engine_path = model_dir / ENGINE_FILE
        if not engine_path.is_file():
            raise BackendError(f"{engine_path}: not found; build it on this machine with "
                               f"`{rebuild_command(model_dir, 'fp16')}`")
        try:
            self.metadata = ModelMetadata.load(model_dir)
        except MetadataError as exc:
            raise BackendError(str(exc)) from None
        tag = read_tag(model_dir / TAG_FILE, model_dir)
        if options.precision not in ("auto", tag["precision"]):
            raise BackendError(f"{model_dir / TAG_FILE}: the engine is {tag['precision']}, model.precision asks "
                               f"for {options.precision}; rebuild with "
                               f"`{rebuild_command(model_dir, options.precision)}` or set precision: auto")
        trt, cuda = load_tensorrt()
        index = device_index(device)
        problem = check_tag(tag, current_runtime(trt, cuda, index), model_dir,
                            onnx_sha256=self.metadata.export.get("onnx_sha256"))
        if problem:
            raise BackendError(problem)
        self._cuda = cuda
        # The CUDA runtime under TensorRT uses the primary context; pycuda pushes the same one around every
        # call, so the backend works from whichever thread the scorer runs on.
        self._ctx = cuda.Device(index).retain_primary_context()
        self._ctx.push()
        try:
            self._load(trt, engine_path, options.max_batch)
        except BaseException:
            self._ctx.pop()
            self._ctx.detach()
            raise
        self._ctx.pop()
        self._open = True
        self.name = f"tensorrt:cuda:{index}"
        log.info("loaded %s (%s engine, TensorRT %s, batch <= %d) on %s", self.metadata.model_id,
                 tag["precision"], trt.__version__, self.max_batch, tag["gpu_name"])

    def _load(self, trt: Any, engine_path: Path, want_batch: int) -> None:
        """Deserialise, check the I/O contract, allocate buffers for the largest batch and bind them by name."""
        self._runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self._engine = self._runtime.deserialize_cuda_engine(engine_path.read_bytes())
        if self._engine is None:
            raise BackendError(f"{engine_path}: TensorRT could not deserialise it (see its messages above); "
                               f"rebuild it with `{rebuild_command(engine_path.parent, 'fp16')}`")
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        inputs = [n for n in names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        if len(inputs) != 1 or any(o not in names for o in OUTPUTS):
            raise BackendError(f"{engine_path}: expected one input and outputs {', '.join(OUTPUTS)}, "
                               f"got tensors {', '.join(names)}")
        self._input = inputs[0]
        if trt.nptype(self._engine.get_tensor_dtype(self._input)) != np.uint8:
            raise BackendError(f"{engine_path}: input '{self._input}' is not uint8 (export contract: uint8 NHWC)")
        shape = tuple(self._engine.get_tensor_shape(self._input))
        self._dynamic = shape[0] == -1
        engine_max = self._engine.get_tensor_profile_shape(self._input, 0)[2][0] if self._dynamic else shape[0]
        # A static engine always runs its own batch (short chunks are padded); a dynamic one up to its max.
        self.max_batch = min(want_batch, engine_max) if self._dynamic else shape[0]
        self._context = self._engine.create_execution_context()
        full = (self.max_batch, *shape[1:])
        if self._dynamic:
            self._context.set_input_shape(self._input, full)
        self._stream = self._cuda.Stream()
        self._host: dict[str, np.ndarray] = {}
        self._device: dict[str, Any] = {}
        for name in (self._input, *OUTPUTS):
            dims = full if name == self._input else tuple(self._context.get_tensor_shape(name))
            dtype = trt.nptype(self._engine.get_tensor_dtype(name))
            self._host[name] = self._cuda.pagelocked_empty(dims, dtype)
            self._device[name] = self._cuda.mem_alloc(self._host[name].nbytes)
            self._context.set_tensor_address(name, int(self._device[name]))

    def is_open(self) -> bool:
        return bool(getattr(self, "_open", False))

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """The device's primary context, pushed on whichever thread calls infer."""
        self._ctx.push()
        try:
            yield
        finally:
            self._ctx.pop()

    def score_batch(self, chunk: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """At most max_batch frames through the engine (inside scope()); maps at the model's input size."""
        maps, scores = self._run(to_input_images(chunk, self.metadata))
        return maps[:, 0], scores

    def _run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One batch through the engine; returns views of the page-locked output buffers (first n rows)."""
        n = len(batch)
        rows = n if self._dynamic else self.max_batch
        host_in = self._host[self._input]
        host_in[:n] = batch
        if rows > n:
            host_in[n:rows] = 0
        if self._dynamic and not self._context.set_input_shape(self._input, (n, *host_in.shape[1:])):
            raise BackendError(f"{self.name}: TensorRT refused input shape {(n, *host_in.shape[1:])}")
        cuda, stream = self._cuda, self._stream
        cuda.memcpy_htod_async(self._device[self._input], host_in[:rows], stream)
        if not self._context.execute_async_v3(stream.handle):
            raise BackendError(f"{self.name}: TensorRT execute_async_v3 failed (see its messages above)")
        for name in OUTPUTS:
            # Batch is the outer dimension, so the first n rows are contiguous on the device too.
            cuda.memcpy_dtoh_async(self._host[name][:n], self._device[name], stream)
        stream.synchronize()
        return self._host["anomaly_map"][:n], self._host["score"][:n]

    def close(self) -> None:
        """Free device and page-locked memory, the execution context and the engine; idempotent."""
        if not getattr(self, "_open", False):
            return
        self._open = False
        self._ctx.push()
        try:
            for buf in self._device.values():
                buf.free()
            for arr in self._host.values():
                allocation: Any = arr.base  # the PagelockedHostAllocation behind the array
                allocation.free()
            self._device.clear()
            self._host.clear()
            del self._context, self._engine, self._runtime, self._stream
        finally:
            self._ctx.pop()
            self._ctx.detach()
