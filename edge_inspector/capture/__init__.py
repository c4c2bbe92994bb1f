"""Frame sources (base types, a registry of kinds, one module per kind) and the capture thread that feeds
the bounded queue."""

from .base import FrameSource, ReadResult, SourceError
from .convert import UnsupportedFrame, to_bgr8
from .health import CaptureHealth
from .memory import MemorySource
from .registry import SOURCE_KINDS, open_source
from .sources import CameraSource, ImageFolderSource, UrlSource, VideoFileSource
from .thread import END_OF_STREAM, CaptureStats, CaptureThread

__all__ = [
    "END_OF_STREAM",
    "CameraSource",
    "CaptureHealth",
    "CaptureStats",
    "CaptureThread",
    "FrameSource",
    "ImageFolderSource",
    "MemorySource",
    "SOURCE_KINDS",
    "ReadResult",
    "SourceError",
    "UnsupportedFrame",
    "UrlSource",
    "VideoFileSource",
    "open_source",
    "to_bgr8",
]
