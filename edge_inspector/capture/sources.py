"""Frame sources: video file, image folder, camera (index or V4L2 device), stream URL (RTSP/HTTP/GStreamer).

A source returns ReadResult values: a frame, an unreadable frame (counted, never fatal) or the end of
a finite source. Opening failures raise SourceError with one line naming the path/device/URL.
"""

from __future__ import annotations

import abc
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..config import SourceConfig

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


class SourceError(RuntimeError):
    """A source cannot be opened (missing file, empty folder, camera absent)."""


@dataclass(frozen=True)
class ReadResult:
    """One read: kind is "frame", "unreadable" or "end"."""

    kind: str
    image: np.ndarray | None = None
    source_index: int = -1
    name: str = ""
    reason: str = ""


END = ReadResult("end")


def _as_bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.dtype != np.uint8:  # 16-bit industrial images
        image = cv2.convertScaleAbs(image, alpha=255.0 / max(1.0, float(image.max())))
    return image


class FrameSource(abc.ABC):
    """Base of all sources. `live` sources never block the line and may be reopened."""

    live = False

    @abc.abstractmethod
    def open(self) -> None: ...

    @abc.abstractmethod
    def read(self) -> ReadResult: ...

    @abc.abstractmethod
    def close(self) -> None:
        """Release the device or file."""

    @property
    def fps(self) -> float | None:
        return None

    @abc.abstractmethod
    def describe(self) -> str: ...


class _CaptureSource(FrameSource):
    """Anything cv2.VideoCapture reads."""

    def __init__(self) -> None:
        self._cap: cv2.VideoCapture | None = None
        self._index = 0

    def _open_capture(self, target: int | str, api: int, what: str) -> None:
        cap = cv2.VideoCapture(target, api)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"cannot open {what}")
        self._cap = cap
        self._index = 0

    @property
    def fps(self) -> float | None:
        value = self._cap.get(cv2.CAP_PROP_FPS) if self._cap is not None else 0.0
        return float(value) if value and value > 0 else None

    def read(self) -> ReadResult:
        assert self._cap is not None, "open() first"
        ok, image = self._cap.read()
        index = self._index
        self._index += 1
        if not ok or image is None:
            return self._on_failed_read(index)
        return ReadResult("frame", _as_bgr(image), index, f"frame_{index:06d}")

    def _on_failed_read(self, index: int) -> ReadResult:
        return ReadResult("unreadable", source_index=index, name=f"frame_{index:06d}", reason="read failed")

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class VideoFileSource(_CaptureSource):
    """A video file, optionally looping; a failed read at the end of the file is the end."""

    def __init__(self, path: Path, loop: bool = False) -> None:
        super().__init__()
        self.path, self.loop = Path(path), loop
        self._frames = 0

    def open(self) -> None:
        if not self.path.is_file():
            raise SourceError(f"video file not found: {self.path}")
        self._open_capture(str(self.path), cv2.CAP_ANY, f"video file {self.path}")
        assert self._cap is not None
        self._frames = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)

    def _on_failed_read(self, index: int) -> ReadResult:
        if self._frames and index < self._frames - 1:
            return ReadResult("unreadable", source_index=index, name=f"frame_{index:06d}", reason="undecodable frame")
        if self.loop:
            self.close()
            self.open()
            return self.read()
        return END

    def describe(self) -> str:
        return f"video file {self.path}" + (" (looping)" if self.loop else "")


class CameraSource(_CaptureSource):
    """A camera by index (0) or V4L2 device path (/dev/video0)."""

    live = True

    def __init__(self, device: int | str, width: int | None = None, height: int | None = None) -> None:
        super().__init__()
        self.device, self.width, self.height = device, width, height

    def open(self) -> None:
        api = cv2.CAP_V4L2 if isinstance(self.device, str) else cv2.CAP_ANY
        self._open_capture(self.device, api, f"camera {self.device}")
        assert self._cap is not None
        if self.width:
            self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        if self.height:
            self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)

    def describe(self) -> str:
        return f"camera {self.device}"


class UrlSource(_CaptureSource):
    """RTSP/HTTP streams through FFmpeg, or a GStreamer pipeline ending in appsink."""

    live = True

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def open(self) -> None:
        api = cv2.CAP_GSTREAMER if "appsink" in self.url else cv2.CAP_FFMPEG
        self._open_capture(self.url, api, f"stream {self.url}")

    def describe(self) -> str:
        return f"stream {self.url}"


def _natural_key(path: Path) -> list[object]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


class ImageFolderSource(FrameSource):
    """Images of a folder in natural name order (2.png before 10.png), for replaying recorded parts."""

    def __init__(self, path: Path, loop: bool = False) -> None:
        self.path, self.loop = Path(path), loop
        self._files: list[Path] = []
        self._pos = 0

    def open(self) -> None:
        if not self.path.is_dir():
            raise SourceError(f"image folder not found: {self.path}")
        files = [p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
        if not files:
            raise SourceError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in folder {self.path}")
        self._files = sorted(files, key=_natural_key)
        self._pos = 0

    def read(self) -> ReadResult:
        if self._pos >= len(self._files):
            if not self.loop:
                return END
            self._pos = 0
        index = self._pos
        path = self._files[index]
        self._pos += 1
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:
            return ReadResult("unreadable", source_index=index, name=path.name, reason=f"cannot decode {path.name}")
        return ReadResult("frame", _as_bgr(image), index, path.name)

    def close(self) -> None:
        self._files = []

    def describe(self) -> str:
        return f"image folder {self.path} ({len(self._files)} images)"


def open_source(cfg: SourceConfig) -> FrameSource:
    """Build and open the source a config describes."""
    if cfg.kind in ("video", "folder"):
        if cfg.path is None:
            raise ValueError("source.path: required for a video or folder source")
        source: FrameSource = (VideoFileSource if cfg.kind == "video" else ImageFolderSource)(cfg.path, cfg.loop)
    elif cfg.kind == "camera":
        if cfg.device is None:
            raise ValueError("source.device: required for a camera source")
        source = CameraSource(cfg.device, cfg.width, cfg.height)
    else:
        if not cfg.url:
            raise ValueError("source.url: required for a url source")
        source = UrlSource(cfg.url)
    source.open()
    log.info("opened %s", source.describe())
    return source
