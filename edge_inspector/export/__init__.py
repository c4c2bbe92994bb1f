"""Exporting a trained model: the whole scoring graph to ONNX (torch needed), int8 quantisation for
ONNX Runtime on CPUs, and TensorRT engine building (on the machine that will run the engine)."""

from ..errors import UserError


class ExportError(UserError, ValueError):
    """An export or engine build cannot proceed; one line naming the model dir, file or op."""


__all__ = ["ExportError"]
