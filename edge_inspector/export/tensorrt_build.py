"""`build-engine`: an exported model directory (model.onnx + metadata.json) -> a TensorRT plan for this GPU.

Written against the TensorRT 10 Python API (explicit batch is the only mode, so the network is created
with no flags; it is not STRONGLY_TYPED because the FP16/INT8 builder flags choose the precision).
TensorRT 11 removed those flags and the calibrators, so fp16/int8 builds need TensorRT 10.x.

Output, in `out` (default: the model dir): model.engine, engine.json (the build tag the tensorrt backend
checks before loading, see backends/engine_tag.py), metadata.json when `out` is another directory, and
calibration.cache for int8. The timing cache (default DIR/timing.cache) makes rebuilds on the same GPU fast.

CUDA memory: pycuda, not cuda-python. pycuda is the `[trt]` extra's named dependency, its page-locked
arrays are plain numpy arrays and `retain_primary_context()` shares the CUDA runtime's primary context
with TensorRT, so one context serves both on any thread. Neither path needs torch. tensorrt and pycuda are
imported inside functions so this module imports (and its image batching is testable) without them.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ..atomic_file import write_atomic
from ..backends.engine_tag import (
    ENGINE_FILE,
    TAG_FILE,
    current_runtime,
    fast_precision,
    load_tensorrt,
    make_tag,
    write_tag,
)
from ..backends.precision_parity import PRECISION_TOLERANCE
from ..model.image_file import read_frames
from ..model.metadata import METADATA_FILE, ModelMetadata
from ..model.part_mask import copy_part_mask
from ..model.preprocess import to_input_images
from . import ExportError
from .engine_precision import check_plan
from .onnx_export import ONNX_FILE, file_sha256

BUILD_PRECISIONS = ("fp16", "fp32", "int8")
TIMING_CACHE_FILE = "timing.cache"
CALIB_CACHE_FILE = "calibration.cache"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
OUTPUTS = ("anomaly_map", "score")

Progress = Callable[[str], None]


def calibration_files(folder: Path, limit: int) -> list[Path]:
    """The first `limit` images of a folder of good parts, sorted by name."""
    if not folder.is_dir():
        raise ExportError(f"{folder}: calibration image folder not found")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ExportError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) to calibrate with")
    return files[:limit]


def calibration_batches(files: list[Path], meta: ModelMetadata, batch: int) -> Iterator[np.ndarray]:
    """uint8 RGB [batch, h, w, 3] arrays, prepared exactly as the daemon prepares frames.

    The images that do not fill a last batch are left out: a calibration batch has one fixed shape.
    """
    for i in range(0, len(files) - batch + 1, batch):
        frames = read_frames(files[i:i + batch], what="calibration image")
        yield np.ascontiguousarray(to_input_images(frames, meta))


def build_engine(model_dir: Path, precision: str = "fp16", calib_dir: Path | None = None,
                 calib_images: int = 500, max_batch: int = 8, workspace_mb: int = 2048,
                 timing_cache: Path | None = None, out: Path | None = None,
                 progress: Progress | None = None, parity_dir: Path | None = None, parity_images: int = 64,
                 parity_tolerance: float = PRECISION_TOLERANCE) -> Path:
    """Build out/model.engine (+ engine.json) for GPU 0 from model_dir/model.onnx; returns the engine path.

    A dynamic batch dimension gets one optimisation profile: min 1, opt = max = max_batch. int8 calibrates
    with an entropy calibrator on calib_dir's good images (or reuses out/calibration.cache).
    An fp16 or int8 plan is first scored against the fp32 ONNX graph (engine_precision.py) on up to
    `parity_images` good images from parity_dir (default calib_dir) plus synthetic check frames, and refused,
    with nothing written, when it changes a verdict or moves a score beyond `parity_tolerance` x |threshold|.
    """
    say = progress or (lambda _msg: None)
    model_dir, out_dir = Path(model_dir), Path(out or model_dir)
    if precision not in BUILD_PRECISIONS:
        raise ExportError(f"precision {precision!r}: expected one of {', '.join(BUILD_PRECISIONS)}")
    if max_batch < 1 or workspace_mb < 1:
        raise ExportError(f"max_batch and workspace_mb must be >= 1, got {max_batch} and {workspace_mb}")
    onnx_path = model_dir / ONNX_FILE
    if not onnx_path.is_file():
        raise ExportError(f"{onnx_path}: not found (write it with `edge-inspector export` first)")
    meta = ModelMetadata.load(model_dir)
    digest = file_sha256(onnx_path)
    expected = meta.export.get("onnx_sha256")
    if expected and expected != digest:
        raise ExportError(f"{onnx_path}: sha256 {digest[:12]} differs from metadata.json export.onnx_sha256 "
                          f"{str(expected)[:12]}; export the model again")
    calib_cache = out_dir / CALIB_CACHE_FILE
    if precision == "int8" and calib_dir is None and not calib_cache.is_file():
        raise ExportError("precision int8 needs calibration images: pass a folder of good parts (--calib-data)")
    trt, cuda = load_tensorrt()
    runtime = current_runtime(trt, cuda, 0)
    _check_platform(trt, runtime.gpu_name, runtime.compute_capability, precision)
    timing_path = Path(timing_cache or model_dir / TIMING_CACHE_FILE)
    say(f"building a {precision} engine from {onnx_path} on {runtime.gpu_name} (sm {runtime.compute_capability}), "
        f"TensorRT {runtime.tensorrt_version}; this takes minutes")
    ctx = cuda.Device(0).retain_primary_context()
    ctx.push()  # TensorRT (CUDA runtime) and pycuda then share the device's primary context
    try:
        plan, engine_batch = _build(trt, cuda, onnx_path, meta, precision, max_batch, workspace_mb, timing_path,
                                    calib_dir, calib_images, calib_cache, say,
                                    fp16=fast_precision("fp16", runtime.compute_capability))
    finally:
        ctx.pop()
        ctx.detach()
    out_dir.mkdir(parents=True, exist_ok=True)
    if precision != "fp32":
        folder = parity_dir or calib_dir
        images = [] if folder is None else read_frames(calibration_files(folder, parity_images), what="check image")
        say(f"checking the {precision} engine against the fp32 graph on {len(images)} good images"
            f"{f' from {folder}' if folder else ''} and synthetic check frames")
        parity = check_plan(plan, precision, model_dir, out_dir, runtime, digest, engine_batch, images,
                            parity_tolerance)
        if not parity.ok:
            raise ExportError(f"{precision} engine refused, nothing written: {parity.summary()}; build with "
                              "--precision fp32 (or check another precision with more good images)")
        say(parity.summary())
    engine_path = out_dir / ENGINE_FILE
    (out_dir / TAG_FILE).unlink(missing_ok=True)  # a crash below leaves no tag, so the engine is refused
    _atomic_write(engine_path, plan)
    write_tag(out_dir / TAG_FILE, make_tag(runtime, precision, engine_batch, digest))
    if out_dir.resolve() != model_dir.resolve():
        shutil.copy2(model_dir / METADATA_FILE, out_dir / METADATA_FILE)
        copy_part_mask(ModelMetadata.load(model_dir), model_dir, out_dir)
    say(f"wrote {engine_path} and {out_dir / TAG_FILE}")
    return engine_path


def _check_platform(trt: ModuleType, gpu: str, cc: str, precision: str) -> None:
    """Refuse what this TensorRT or GPU cannot build, with the precision that would work."""
    major = int(str(trt.__version__).split(".")[0])
    if major < 10 or (major > 10 and precision != "fp32"):
        raise ExportError(f"TensorRT {trt.__version__}: {precision} builds need TensorRT 10.x "
                          "(TensorRT 11 removed the FP16/INT8 builder flags; --precision fp32 still works)")
    if not fast_precision(precision, cc):
        fallback = "fp16" if precision == "int8" and fast_precision("fp16", cc) else "fp32"
        raise ExportError(f"precision {precision}: {gpu} (sm {cc}) has no fast native {precision.upper()}; "
                          f"build with --precision {fallback}")


def _build(trt: ModuleType, cuda: ModuleType, onnx_path: Path, meta: ModelMetadata, precision: str,
           max_batch: int, workspace_mb: int, timing_path: Path, calib_dir: Path | None, calib_images: int,
           calib_cache: Path, say: Progress, fp16: bool) -> tuple[Any, int]:
    """Parse, configure and build; returns (serialized plan, the engine's max batch)."""
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [" ".join(str(parser.get_error(i)).split()) for i in range(parser.num_errors)]
        raise ExportError(f"{onnx_path}: TensorRT's ONNX parser failed ({len(errors)} errors): {' | '.join(errors)}")
    name, shape = _check_io(network, onnx_path, meta)
    dynamic = shape[0] == -1
    engine_batch = max_batch if dynamic else shape[0]
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    if dynamic:
        config.add_optimization_profile(_profile(builder, name, shape, 1, max_batch))
    if precision != "fp32" and fp16:
        config.set_flag(trt.BuilderFlag.FP16)  # with int8: layers TensorRT cannot quantise fall back to fp16
    calibrator = None
    if precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)
        batch = engine_batch
        files: list[Path] = []
        if calib_dir is not None and not calib_cache.is_file():
            files = calibration_files(calib_dir, calib_images)
            batch = shape[0] if not dynamic else max(1, min(max_batch, len(files)))
            say(f"calibrating int8 on {len(files) // batch * batch} images from {calib_dir} (batch {batch})")
        else:
            say(f"int8 calibration: reusing {calib_cache} (delete it to calibrate again)")
        calibrator = _entropy_calibrator(trt, cuda, calibration_batches(files, meta, batch), batch,
                                         (batch, *shape[1:]), calib_cache)
        config.int8_calibrator = calibrator
        if dynamic:
            config.set_calibration_profile(_profile(builder, name, shape, batch, batch))
    _load_timing_cache(config, timing_path, say)
    try:
        plan = builder.build_serialized_network(network, config)
    finally:
        if calibrator is not None:
            calibrator.free()
    if calibrator is not None and calibrator.error is not None:
        calib_cache.unlink(missing_ok=True)  # TensorRT wrote it from the batches read before the error
        raise calibrator.error
    if plan is None:
        raise ExportError(f"{onnx_path}: TensorRT could not build a {precision} engine (its messages are above)")
    timing_path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(timing_path, config.get_timing_cache().serialize())
    return plan, engine_batch


def _check_io(network: Any, onnx_path: Path, meta: ModelMetadata) -> tuple[str, tuple[int, ...]]:
    """The input's name and shape, checked against the export contract: uint8 [N, h, w, 3] in, maps and scores out."""
    spec = meta.export.get("input")
    name = str(spec.get("name", "image")) if isinstance(spec, dict) else "image"
    inputs = {network.get_input(i).name: network.get_input(i) for i in range(network.num_inputs)}
    if name not in inputs:
        raise ExportError(f"{onnx_path}: no input '{name}' (inputs: {', '.join(inputs)})")
    shape = tuple(int(d) for d in inputs[name].shape)
    h, w = meta.input_size
    if len(shape) != 4 or shape[1:] != (h, w, 3) or shape[0] == 0 or shape[0] < -1:
        raise ExportError(f"{onnx_path}: input '{name}' has shape {list(shape)}, expected [N, {h}, {w}, 3] "
                          "(metadata.json input_size)")
    outputs = {network.get_output(i).name for i in range(network.num_outputs)}
    missing = [o for o in OUTPUTS if o not in outputs]
    if missing:
        raise ExportError(f"{onnx_path}: missing output '{missing[0]}' (outputs: {', '.join(sorted(outputs))})")
    return name, shape


def _profile(builder: Any, name: str, shape: tuple[int, ...], low: int, high: int) -> Any:
    profile = builder.create_optimization_profile()
    rest = shape[1:]
    profile.set_shape(name, (low, *rest), (high, *rest), (high, *rest))
    return profile


def _load_timing_cache(config: Any, path: Path, say: Progress) -> None:
    """Reuse path's timing cache; one from another GPU or TensorRT version is replaced by a fresh one."""
    data = path.read_bytes() if path.is_file() else b""
    cache = config.create_timing_cache(data) if data else None
    if cache is not None and config.set_timing_cache(cache, False):
        say(f"timing cache: reusing {path}")
        return
    if data:
        say(f"timing cache {path} does not match this GPU or TensorRT; starting a fresh one")
    config.set_timing_cache(config.create_timing_cache(b""), False)


def _atomic_write(path: Path, data: Any) -> None:
    """Write a buffer (bytes, IHostMemory) so a crash never leaves half a file under the final name."""
    write_atomic(path, memoryview(data))


def _entropy_calibrator(trt: ModuleType, cuda: ModuleType, batches: Iterator[np.ndarray], batch: int,
                        shape: tuple[int, ...], cache: Path) -> Any:
    """An IInt8EntropyCalibrator2 that feeds `batches` through one device buffer and keeps a cache file."""

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):  # type: ignore[name-defined,misc]
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.device = cuda.mem_alloc(int(np.prod(shape)) * np.dtype(np.uint8).itemsize)
            self.error: Exception | None = None

        def get_batch_size(self) -> int:
            return batch

        def get_batch(self, names: list[str]) -> list[int] | None:
            try:
                data = next(batches, None)
                if data is None:
                    return None
                cuda.memcpy_htod(self.device, data)
            except Exception as exc:  # an exception must not cross into TensorRT's C++ callback
                self.error = exc
                return None
            return [int(self.device)]

        def read_calibration_cache(self) -> bytes | None:
            return cache.read_bytes() if cache.is_file() else None

        def write_calibration_cache(self, data: Any) -> None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(cache, data)

        def free(self) -> None:
            self.device.free()

    return EntropyCalibrator()
