"""Frame sources and the capture thread that feeds the bounded queue."""

from .convert import UnsupportedFrame, to_bgr8
from .health import CaptureHealth
from .memory import MemorySource
from .sources import (
    CameraSource,
    FrameSource,
    ImageFolderSource,
    ReadResult,
    SourceError,
    UrlSource,
    VideoFileSource,
    open_source,
)
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
    "ReadResult",
    "SourceError",
    "UnsupportedFrame",
    "UrlSource",
    "VideoFileSource",
    "open_source",
    "to_bgr8",
]
