"""PyTorch on CUDA, the fast path: fp16/bf16 channels-last network, CUDA graphs, preprocessing on the GPU.

One call: raw BGR frames -> one pinned staging buffer -> one async upload on the backend's own stream ->
GPU preprocessing (gpu_preprocess) into a static input buffer -> graph replay of network + map + score
-> float32 map at input size and score into pinned host buffers -> map_to_frame on the CPU.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..model.checkpoint import load_model
from ..model.metadata import MetadataError
from .base import Backend, BackendError, BackendOptions
from .gpu_preprocess import FramePreprocessor
from .precision_parity import PRECISION_TOLERANCE, PrecisionParity, check_frames, compare_precision
from .torch_backend import TorchBackend

log = logging.getLogger(__name__)

DTYPES = {"auto": torch.float16, "fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
DTYPE_NAMES = {torch.float16: "fp16", torch.bfloat16: "bf16", torch.float32: "fp32"}
WARMUP_ITERS = 3  # eager runs before a capture: cuDNN autotuning, cuBLAS handles, allocator warm
STAGING_QUANTUM = 1 << 20  # grow the upload buffers in MiB steps, not per odd frame size


def select_dtype(precision: str) -> torch.dtype:
    """BackendOptions.precision -> the network dtype; int8 is refused (it needs a TensorRT engine)."""
    if precision == "int8":
        raise BackendError("model.precision 'int8': not supported by the torch-cuda backend (build an int8 engine)")
    if precision not in DTYPES:
        raise BackendError(f"model.precision {precision!r}: expected one of {', '.join(DTYPES)}")
    return DTYPES[precision]


def pack_frames(frames: Sequence[np.ndarray], staging: np.ndarray) -> list[tuple[int, tuple[int, int, int]]]:
    """Copy BGR uint8 frames back to back into a flat uint8 buffer; returns (offset, shape) of each."""
    placed, offset = [], 0
    for i, frame in enumerate(frames):
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frame {i}: expected HxWx3 uint8, got shape {frame.shape} dtype {frame.dtype}")
        staging[offset:offset + frame.size].reshape(frame.shape)[...] = frame
        placed.append((offset, (int(frame.shape[0]), int(frame.shape[1]), 3)))
        offset += frame.size
    return placed


@dataclass
class _Slot:
    """One batch size: static input, pinned result buffers and, once captured, the graph and its outputs."""

    inputs: torch.Tensor
    host_map: torch.Tensor
    host_score: torch.Tensor
    graph: torch.cuda.CUDAGraph | None = None
    outputs: tuple[torch.Tensor, torch.Tensor] | None = None


class TorchCudaBackend(Backend):
    """Scores frames on one CUDA device; batches of 1 and of options.max_batch each get their own graph.

    options.threads does not apply (the CPU only resizes maps back to frame size).
    """

    def __init__(self, model_dir: Path, device: str = "cuda", options: BackendOptions | None = None) -> None:
        options = options or BackendOptions()
        self.dtype = select_dtype(options.precision)
        if not device.startswith("cuda"):
            raise BackendError(f"model.device {device!r}: the torch-cuda backend needs cuda or cuda:N")
        if not torch.cuda.is_available():
            raise BackendError(f"model.device {device!r}: CUDA is not available on this machine")
        dev = torch.device(device)
        self.device = dev if dev.index is not None else torch.device("cuda", torch.cuda.current_device())
        if self.device.index is not None and self.device.index >= torch.cuda.device_count():
            raise BackendError(f"model.device {device!r}: only {torch.cuda.device_count()} CUDA device(s) here")
        if self.dtype is torch.bfloat16 and not torch.cuda.is_bf16_supported(including_emulation=False):
            raise BackendError(f"model.precision 'bf16': {torch.cuda.get_device_name(self.device)} lacks bf16")
        try:
            model, self.metadata = load_model(model_dir, str(self.device))
        except (MetadataError, FileNotFoundError, ValueError) as exc:
            raise BackendError(f"{model_dir}: {exc}" if str(model_dir) not in str(exc) else str(exc)) from None
        self.model: torch.nn.Module | None = model.to(self.dtype).to(memory_format=torch.channels_last).eval()
        self.max_batch = options.max_batch
        self.use_graphs = options.cuda_graph
        # The input shape never changes, so autotuning the convolutions once pays for itself.
        torch.backends.cudnn.benchmark = True
        self._stream = torch.cuda.Stream(self.device)
        self._uploaded = torch.cuda.Event()
        self._pre = FramePreprocessor(self.metadata)
        self._slots: dict[int, _Slot] = {}
        self._host_in = torch.empty(0, dtype=torch.uint8)
        self._dev_in = torch.empty(0, dtype=torch.uint8, device=self.device)
        torch.cuda.synchronize(self.device)  # weights were written on the default stream; ours must see them
        self.model_dir = Path(model_dir)
        # fp16/bf16 is checked against fp32 once, at warm-up, before it judges a part.
        self.check_precision = True
        self.parity_tolerance = PRECISION_TOLERANCE
        self.precision_parity: PrecisionParity | None = None
        self._set_name()
        log.info("loaded %s (%s) as %s on %s", self.metadata.model_id, self.metadata.kind, self.name, self.device)

    def _set_name(self) -> None:
        self.name = f"torch-cuda:{DTYPE_NAMES[self.dtype]}:{'graph' if self.use_graphs else 'eager'}"

    def is_open(self) -> bool:
        return self.model is not None

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """Inference mode on this backend's device and stream, around one infer call."""
        with torch.inference_mode(), torch.cuda.device(self.device), torch.cuda.stream(self._stream):
            yield

    def score_batch(self, chunk: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """At most max_batch frames (inside scope()); returns views of the pinned result buffers."""
        n = len(chunk)
        slot = self._slot(1 if n == 1 else self.max_batch)
        meta = self.metadata  # read per call: a tiling wrapper clears the ROI for its tiles
        for j, frame in enumerate(self._upload(chunk)):
            slot.inputs[j].copy_(self._pre(frame, meta))
        amap, score = self._run(slot, n)
        slot.host_map[:n].copy_(amap[:n], non_blocking=True)
        slot.host_score[:n].copy_(score[:n], non_blocking=True)
        self._stream.synchronize()
        return slot.host_map[:n].numpy(), slot.host_score[:n].numpy()

    def _upload(self, chunk: Sequence[np.ndarray]) -> list[torch.Tensor]:
        """Frames -> pinned staging -> one async copy to the device; returns HxWx3 uint8 device views."""
        total = sum(int(f.size) for f in chunk)
        self._uploaded.synchronize()  # the previous upload may still be reading the staging buffer
        if self._host_in.numel() < total:
            size = -(-total // STAGING_QUANTUM) * STAGING_QUANTUM
            self._host_in = torch.empty(size, dtype=torch.uint8, pin_memory=True)
            self._dev_in = torch.empty(size, dtype=torch.uint8, device=self.device)
        placed = pack_frames(chunk, self._host_in.numpy())
        self._dev_in[:total].copy_(self._host_in[:total], non_blocking=True)
        self._uploaded.record(self._stream)
        return [self._dev_in[o:o + h * w * 3].view(h, w, 3) for o, (h, w, _) in placed]

    def _slot(self, batch: int) -> _Slot:
        slot = self._slots.get(batch)
        if slot is None:
            h, w = self.metadata.input_size
            inputs = torch.empty((batch, 3, h, w), dtype=self.dtype, device=self.device,
                                 memory_format=torch.channels_last).zero_()
            slot = _Slot(inputs, torch.empty((batch, h, w), dtype=torch.float32, pin_memory=True),
                         torch.empty((batch,), dtype=torch.float32, pin_memory=True))
            self._slots[batch] = slot
        return slot

    def _step(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """network + map + score; what a graph captures. Outputs are float32 [B, h, w] and [B]."""
        assert self.model is not None
        amap, score = self.model(x)
        return amap[:, 0].float(), score.float()

    def _run(self, slot: _Slot, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.use_graphs and slot.graph is None:
            self._capture(slot)
        if self.use_graphs and slot.graph is not None and slot.outputs is not None:
            slot.graph.replay()
            return slot.outputs
        return self._step(slot.inputs[:n])

    def _capture(self, slot: _Slot) -> None:
        """Capture _step on slot.inputs (which already holds this call's batch), then check one replay."""
        try:
            for _ in range(WARMUP_ITERS):  # on self._stream, a side stream, as capture requires
                expected = self._step(slot.inputs)
            graph = torch.cuda.CUDAGraph()
            # thread_local: CUDA calls from the daemon's other threads must not invalidate this capture.
            with torch.cuda.graph(graph, stream=self._stream, capture_error_mode="thread_local"):
                outputs = self._step(slot.inputs)
            graph.replay()
            same = all(torch.allclose(a, b, rtol=1e-2, atol=1e-3, equal_nan=True) for a, b in zip(outputs, expected))
        except RuntimeError as exc:
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            self._disable_graphs(f"capture of batch {slot.inputs.shape[0]} failed: {first}")
            return
        if not same:
            self._disable_graphs(f"replay of batch {slot.inputs.shape[0]} differs from the eager result")
            return
        slot.graph, slot.outputs = graph, outputs

    def _disable_graphs(self, reason: str) -> None:
        log.warning("%s: CUDA graphs disabled, scoring eagerly from now on: %s", self.name, reason)
        self.use_graphs = False
        for slot in self._slots.values():
            slot.graph, slot.outputs = None, None
        self._set_name()

    def warmup(self, n: int = 3, frame_size: tuple[int, int] | None = None) -> None:
        """Check the reduced precision against fp32 (precision_parity; fp32 from here on if it fails), then
        run the real path for batch 1 and max_batch so graphs are captured before the line starts.

        frame_size: (height, width) of the camera's frames, so their resize weights and staging
        buffers exist too; defaults to the model's input size.
        """
        if self.dtype is not torch.float32 and self.check_precision:
            self.check_precision = False
            parity = self._precision_parity()
            self.precision_parity = parity
            if parity.ok:
                log.info("%s: %s", self.name, parity.summary())
            else:
                log.warning("%s: scoring in fp32 from now on: %s", self.name, parity.summary())
                self._use_dtype(torch.float32)
        h, w = frame_size or self.metadata.input_size
        frame = np.full((h, w, 3), 127, np.uint8)
        for batch in self.warmup_batches():
            for _ in range(n):
                self.infer([frame] * batch)

    def _precision_parity(self) -> PrecisionParity:
        """This backend's precision against the eager fp32 network on the same device, on check frames."""
        reference = TorchBackend(self.model_dir, str(self.device), BackendOptions(precision="fp32"))
        try:
            reference.metadata = self.metadata  # the same ROI (a tiling wrapper clears it for tiles)
            frames = check_frames(self.metadata)
            return compare_precision(reference, self, frames, DTYPE_NAMES[self.dtype], self.parity_tolerance)
        finally:
            reference.close()

    def _use_dtype(self, dtype: torch.dtype) -> None:
        """Reload the network in `dtype` and drop graphs and input buffers made for the old one."""
        assert self.model is not None
        torch.cuda.synchronize(self.device)
        self.dtype = dtype
        # reload rather than upcast: the reduced copy's weights were already rounded
        model, _ = load_model(self.model_dir, str(self.device))
        self.model = model.to(dtype).to(memory_format=torch.channels_last).eval()
        self._slots.clear()
        torch.cuda.synchronize(self.device)
        self._set_name()

    def close(self) -> None:
        """Drop graphs, network and buffers and return cached GPU memory."""
        if self.model is None:
            return
        torch.cuda.synchronize(self.device)
        self.model = None
        self._slots.clear()
        self._pre.clear()
        self._host_in = torch.empty(0, dtype=torch.uint8)
        self._dev_in = torch.empty(0, dtype=torch.uint8)
        torch.cuda.empty_cache()
