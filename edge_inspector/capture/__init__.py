"""Frame sources and the capture thread that feeds the bounded queue."""

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
    "CaptureStats",
    "CaptureThread",
    "FrameSource",
    "ImageFolderSource",
    "ReadResult",
    "SourceError",
    "UrlSource",
    "VideoFileSource",
    "open_source",
]
