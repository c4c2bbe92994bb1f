"""`backend: auto`: TensorRT > CUDA (torch, then ONNX Runtime) > ONNX Runtime on CPU > torch on CPU.

The candidates depend on what the model directory holds (model.engine, model.onnx, model.pt) and what
is installed; packages are probed without importing torch unless a torch candidate is reached.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from .base import BackendError

ENGINE_FILE = "model.engine"
ONNX_FILE = "model.onnx"
TORCH_FILE = "model.pt"


@dataclass(frozen=True)
class Candidate:
    """A backend `auto` may use, with the device it would run on and why it qualifies."""

    name: str
    device: str
    reason: str


def _importable(module: str) -> bool:
    """True when `module` imports (a bindings wheel without its libraries fails here, not later)."""
    if importlib.util.find_spec(module) is None:
        return False
    try:
        importlib.import_module(module)
    except (ImportError, OSError):
        return False
    return True


def _torch_cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _ort_cuda() -> bool:
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


def candidates(model_dir: Path, device: str = "auto") -> tuple[list[Candidate], list[str]]:
    """Usable backends for `model_dir` in preference order, and why each other option was not usable."""
    has = {f: (model_dir / f).is_file() for f in (ENGINE_FILE, ONNX_FILE, TORCH_FILE)}
    gpu_ok = device != "cpu"
    cuda = "cuda" if device == "auto" else device
    found: list[Candidate] = []
    skipped: list[str] = []
    torch_ok = has[TORCH_FILE] and _importable("torch")
    ort_ok = has[ONNX_FILE] and _importable("onnxruntime")
    if not has[TORCH_FILE]:
        skipped.append(f"no {TORCH_FILE}")
    elif not torch_ok:
        skipped.append(f"{TORCH_FILE} but torch is not installed")
    if not has[ONNX_FILE]:
        skipped.append(f"no {ONNX_FILE}")
    elif not ort_ok:
        skipped.append(f"{ONNX_FILE} but onnxruntime is not installed")
    if gpu_ok:
        if has[ENGINE_FILE] and _importable("tensorrt"):
            found.append(Candidate("tensorrt", cuda, f"{ENGINE_FILE} and TensorRT are present"))
        elif has[ENGINE_FILE]:
            skipped.append(f"{ENGINE_FILE} but TensorRT does not import")
        if torch_ok and _torch_cuda():
            found.append(Candidate("torch", cuda, "CUDA GPU with torch (fp16, CUDA graph)"))
        if ort_ok and _ort_cuda():
            found.append(Candidate("onnxruntime", cuda, "CUDA GPU with ONNX Runtime's CUDA provider"))
    if device in ("auto", "cpu"):
        if ort_ok:
            found.append(Candidate("onnxruntime", "cpu", f"{ONNX_FILE} on the CPU (ONNX Runtime, no GPU used)"))
        if torch_ok:
            found.append(Candidate("torch", "cpu", f"{TORCH_FILE} on the CPU (torch, no GPU used)"))
    return found, skipped


def select_backend(model_dir: Path, device: str = "auto") -> list[Candidate]:
    """The candidates `auto` tries in order; none is a one-line BackendError saying what is missing."""
    found, skipped = candidates(Path(model_dir), device)
    if not found:
        where = "on a GPU" if device not in ("auto", "cpu") else "here"
        raise BackendError(f"{model_dir}: no backend can score this model {where} ({'; '.join(skipped)}): "
                           "export it with `edge-inspector export` and pip install edge-inspector[onnx], "
                           "or pip install edge-inspector[torch]")
    return found
