"""Frame sources: video file, image folder, camera (index or V4L2 device), stream URL (RTSP/HTTP/GStreamer).

A source returns ReadResult values: a frame as decoded (any dtype or channel count: the capture thread
converts it with convert.to_bgr8), an unreadable frame (a frame that exists but cannot be decoded: it
becomes a FAULT), a failed read of a live source (no frame came: counted, never a FAULT) or the end of a
finite source. Opening failures raise SourceError with one line naming the path/device/URL.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from pathlib import Path

import cv2
import numpy as np

from ..config import SourceConfig
from ..config.redact import redact_url
from .base import END, FrameSource, ReadResult, SourceError

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


class _CaptureSource(FrameSource):
    """Anything cv2.VideoCapture reads."""

    def __init__(self) -> None:
        self._cap: cv2.VideoCapture | None = None
        self._index = 0

    def _open_capture(self, target: int | str, api: int, what: str, params: list[int] | None = None) -> None:
        cap = cv2.VideoCapture(target, api, params) if params else cv2.VideoCapture(target, api)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"cannot open {what}")
        self._cap = cap
        self._index = 0

    @property
    def fps(self) -> float | None:
        value = self._cap.get(cv2.CAP_PROP_FPS) if self._cap is not None else 0.0
        return float(value) if value and value > 0 else None

    def _grab(self) -> tuple[np.ndarray | None, str]:
        """(image, "") or (None, why the read failed)."""
        assert self._cap is not None, "open() first"
        try:
            ok, image = self._cap.read()
        except cv2.error as exc:  # a backend error is a failed read, like read() returning False
            return None, "read raised " + " ".join(str(exc).split())[:200]
        return (image, "") if ok and image is not None else (None, "read failed")

    def read(self) -> ReadResult:
        """Live sources: a failed read is "failed" (nothing came, which is not a frame: no index is used)."""
        image, why = self._grab()
        if image is None:
            return ReadResult("failed", reason=why)
        index = self._index
        self._index += 1
        return ReadResult("frame", image, index, f"frame_{index:06d}")

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class VideoFileSource(_CaptureSource):
    """A video file, optionally looping.

    A failed read followed by a readable frame is an undecodable frame (it exists: "unreadable"). Failed
    reads up to the end of the file, or MAX_GAP of them in a row, are the end: a truncated file ends where
    its data ends, without a FAULT for every frame its header promised.
    """

    MAX_GAP = 25

    def __init__(self, path: Path, loop: bool = False) -> None:
        super().__init__()
        self.path, self.loop = Path(path), loop
        self._frames = 0
        self._ahead: deque[ReadResult] = deque()

    def open(self) -> None:
        if not self.path.is_file():
            raise SourceError(f"video file not found: {self.path}")
        self._open_capture(str(self.path), cv2.CAP_ANY, f"video file {self.path}")
        assert self._cap is not None
        self._frames = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self._ahead.clear()

    def read(self) -> ReadResult:
        if self._ahead:
            return self._ahead.popleft()
        failed: list[ReadResult] = []
        while True:
            image, why = self._grab()
            index = self._index
            self._index += 1
            if image is not None:
                break
            failed.append(ReadResult("unreadable", source_index=index, name=f"frame_{index:06d}",
                                     reason=f"undecodable frame ({why})"))
            if len(failed) >= self.MAX_GAP or (self._frames > 0 and index >= self._frames - 1):
                return self._end(failed[0].source_index)
        self._ahead.extend(failed[1:] + [ReadResult("frame", image, index, f"frame_{index:06d}")])
        return failed[0] if failed else self._ahead.popleft()

    def _end(self, at: int) -> ReadResult:
        if self._frames and at < self._frames - 1:
            log.warning("%s: no readable frame after frame %d of %d (truncated?)", self.describe(), at,
                        self._frames)
        if self.loop and at > 0:  # at 0 nothing is readable: looping would spin
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
    """RTSP/HTTP streams through FFmpeg, or a GStreamer pipeline ending in appsink.

    FFmpeg streams get open and read timeouts, so a hung camera makes read() fail after read_timeout_ms
    instead of blocking forever (where the installed OpenCV supports them; otherwise a warning at open).
    """

    live = True

    def __init__(self, url: str, open_timeout_ms: int = 10000, read_timeout_ms: int = 5000) -> None:
        super().__init__()
        self.url, self.open_timeout_ms, self.read_timeout_ms = url, open_timeout_ms, read_timeout_ms

    def open(self) -> None:
        if "appsink" in self.url:
            self._open_capture(self.url, cv2.CAP_GSTREAMER, f"stream {redact_url(self.url)}")
            return
        self._open_capture(self.url, cv2.CAP_FFMPEG, f"stream {redact_url(self.url)}",
                           ffmpeg_timeouts(self.open_timeout_ms, self.read_timeout_ms))

    def describe(self) -> str:
        return f"stream {redact_url(self.url)}"


def ffmpeg_timeouts(open_timeout_ms: int, read_timeout_ms: int) -> list[int]:
    """VideoCapture open parameters for FFmpeg timeouts; empty (with a warning) where OpenCV lacks them."""
    open_prop = getattr(cv2, "CAP_PROP_OPEN_TIMEOUT_MSEC", None)
    read_prop = getattr(cv2, "CAP_PROP_READ_TIMEOUT_MSEC", None)
    if open_prop is None or read_prop is None:
        log.warning("OpenCV %s has no stream timeouts: a hung stream blocks read() until it recovers",
                    cv2.__version__)
        return []
    return [int(open_prop), int(open_timeout_ms), int(read_prop), int(read_timeout_ms)]


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
        try:
            # read by Python, decoded from memory: OpenCV's imread crashes the process (SIGSEGV) on a file name
            # that is not valid UTF-8, which Python hands over with lone surrogates
            data = np.fromfile(path, np.uint8)
            image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
        except (OSError, cv2.error):  # a file that vanished or a decoder error: an undecodable part
            image = None
        if image is None:
            return ReadResult("unreadable", source_index=index, name=path.name, reason=f"cannot decode {path.name}")
        return ReadResult("frame", image, index, path.name)

    def close(self) -> None:
        self._files = []

    def describe(self) -> str:
        return f"image folder {self.path} ({len(self._files)} images)"


# The registry's factories (capture/registry.py): a config in, an unopened source out. The loader checks the
# required field for a kind; these check again for a SourceConfig built in code.
def video_source(cfg: SourceConfig) -> FrameSource:
    """source.kind video: a video file (source.path), looping with source.loop."""
    if cfg.path is None:
        raise ValueError("source.path: required for a video or folder source")
    return VideoFileSource(cfg.path, cfg.loop)


def folder_source(cfg: SourceConfig) -> FrameSource:
    """source.kind folder: the images of a folder (source.path), looping with source.loop."""
    if cfg.path is None:
        raise ValueError("source.path: required for a video or folder source")
    return ImageFolderSource(cfg.path, cfg.loop)


def camera_source(cfg: SourceConfig) -> FrameSource:
    """source.kind camera: a camera index or V4L2 device (source.device)."""
    if cfg.device is None:
        raise ValueError("source.device: required for a camera source")
    return CameraSource(cfg.device, cfg.width, cfg.height)


def url_source(cfg: SourceConfig) -> FrameSource:
    """source.kind url: an RTSP/HTTP stream or a GStreamer pipeline (source.url)."""
    if not cfg.url:
        raise ValueError("source.url: required for a url source")
    return UrlSource(cfg.url, cfg.open_timeout_ms, cfg.read_timeout_ms)
