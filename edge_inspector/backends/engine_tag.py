"""The build tag of a TensorRT engine (engine.json) and the checks made before an engine is loaded.

A serialized TensorRT plan only runs on the TensorRT version and the GPU it was built on; loading it
anywhere else fails deep inside TensorRT or, worse, runs with a stale model. The tag records what the
plan was built with, and `check_tag` turns any difference into one line that says how to rebuild.
Pure python: tensorrt and pycuda are imported only by `load_tensorrt` and `current_runtime`.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import socket
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from .base import BackendError

ENGINE_FILE = "model.engine"
TAG_FILE = "engine.json"
TAG_KEYS = ("tensorrt_version", "gpu_name", "compute_capability", "precision", "max_batch", "onnx_sha256",
            "built_at", "host")
INSTALL_HINT = ("install it with `pip install edge-inspector[trt]` on a machine with NVIDIA's TensorRT libraries "
                "and a CUDA GPU; on a Jetson use the TensorRT that JetPack ships (python3-libnvinfer) and "
                "`pip install pycuda`")


@dataclass(frozen=True)
class RuntimeInfo:
    """What an engine would run on here: TensorRT version and GPU (name, compute capability "8.7")."""

    tensorrt_version: str
    gpu_name: str
    compute_capability: str


def rebuild_command(model_dir: Path | str, precision: str) -> str:
    """The command that builds an engine for this machine."""
    return f"edge-inspector build-engine --model {model_dir} --precision {precision}"


def make_tag(runtime: RuntimeInfo, precision: str, max_batch: int, onnx_sha256: str,
             built_at: str | None = None, host: str | None = None) -> dict[str, Any]:
    """The engine.json content for an engine just built on `runtime`."""
    return {
        "tensorrt_version": runtime.tensorrt_version,
        "gpu_name": runtime.gpu_name,
        "compute_capability": runtime.compute_capability,
        "precision": precision,
        "max_batch": int(max_batch),
        "onnx_sha256": onnx_sha256,
        "built_at": built_at or dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "host": host or socket.gethostname(),
    }


def write_tag(path: Path, tag: dict[str, Any]) -> Path:
    """Write engine.json."""
    path.write_text(json.dumps(tag, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def read_tag(path: Path, model_dir: Path | str, precision: str = "fp16") -> dict[str, Any]:
    """Read and check engine.json; a missing, unreadable or incomplete tag is a one-line BackendError."""
    rebuild = rebuild_command(model_dir, precision)
    try:
        tag = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackendError(f"{path}: not found (an engine without its build tag cannot be checked); "
                           f"rebuild it with `{rebuild}`") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise BackendError(f"{path}: unreadable ({exc}); rebuild it with `{rebuild}`") from None
    if not isinstance(tag, dict):
        raise BackendError(f"{path}: expected a JSON object; rebuild it with `{rebuild}`")
    for key in TAG_KEYS:
        if key not in tag:
            raise BackendError(f"{path}: missing key '{key}'; rebuild it with `{rebuild}`")
    return tag


def check_tag(tag: dict[str, Any], runtime: RuntimeInfo, model_dir: Path | str,
              onnx_sha256: str | None = None) -> str | None:
    """None when the engine may be loaded here, else one line: what differs and the rebuild command."""
    diffs = []
    if tag["tensorrt_version"] != runtime.tensorrt_version:
        diffs.append(f"TensorRT {tag['tensorrt_version']} (engine) vs {runtime.tensorrt_version} (here)")
    if tag["gpu_name"] != runtime.gpu_name or tag["compute_capability"] != runtime.compute_capability:
        diffs.append(f"GPU {tag['gpu_name']} sm {tag['compute_capability']} (engine) vs "
                     f"{runtime.gpu_name} sm {runtime.compute_capability} (here)")
    if onnx_sha256 and tag["onnx_sha256"] != onnx_sha256:
        diffs.append(f"model.onnx sha256 {str(tag['onnx_sha256'])[:12]} (engine) vs {onnx_sha256[:12]} "
                     "(metadata.json export)")
    if not diffs:
        return None
    return (f"{Path(model_dir) / ENGINE_FILE} was built for another setup: {'; '.join(diffs)}; "
            f"engines are specific to the TensorRT version, GPU and model, rebuild it on this machine with "
            f"`{rebuild_command(model_dir, tag['precision'])}`")


def parse_capability(cc: str) -> tuple[int, int]:
    """"8.7" -> (8, 7)."""
    major, _, minor = cc.partition(".")
    return int(major), int(minor or 0)


def fast_precision(precision: str, compute_capability: str) -> bool:
    """Whether the GPU runs `precision` natively, from its compute capability.

    TensorRT 10.5 deprecated Builder.platform_has_fast_fp16/int8 in favour of asking CUDA; these are the
    architectures those calls accepted: fp16 on sm 5.3, 6.0, 6.2 and 7.0+, int8 (dp4a) on sm 6.1 and 7.0+.
    """
    cc = parse_capability(compute_capability)
    if precision == "fp16":
        return cc in ((5, 3), (6, 0), (6, 2)) or cc >= (7, 0)
    if precision == "int8":
        return cc == (6, 1) or cc >= (7, 0)
    return precision == "fp32"


def device_index(device: str) -> int:
    """"auto"/"cuda" -> 0, "cuda:N" -> N; TensorRT has no CPU mode."""
    if device in ("auto", "cuda"):
        return 0
    prefix, _, index = device.partition(":")
    if prefix == "cuda" and index.isdigit():
        return int(index)
    raise BackendError(f"model.device {device!r}: the tensorrt backend needs a CUDA GPU (auto, cuda or cuda:N)")


def load_tensorrt() -> tuple[ModuleType, ModuleType]:
    """(tensorrt, pycuda.driver), or a one-line BackendError saying what is missing and how to get it."""
    modules = []
    for name in ("tensorrt", "pycuda.driver"):
        try:
            modules.append(importlib.import_module(name))
        except ImportError as exc:
            what = "TensorRT" if name == "tensorrt" else "pycuda"
            raise BackendError(f"{what} is not installed here (import {name} failed: {exc}); "
                               f"{INSTALL_HINT}") from None
    return modules[0], modules[1]


def current_runtime(trt: ModuleType, cuda: ModuleType, index: int = 0) -> RuntimeInfo:
    """The running TensorRT version and GPU `index` (cuda.init() is called; it is idempotent)."""
    cuda.init()
    if index >= cuda.Device.count():
        raise BackendError(f"model.device cuda:{index}: this machine has {cuda.Device.count()} CUDA device(s)")
    device = cuda.Device(index)
    major, minor = device.compute_capability()
    return RuntimeInfo(str(trt.__version__), str(device.name()), f"{major}.{minor}")
