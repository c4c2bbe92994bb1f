"""The one way the offline tools read an image file: by Python, decoded from memory, checked, one-line errors.

OpenCV's imread crashes the process (SIGSEGV) on a file name that is not valid UTF-8, which Python hands over
with lone surrogates, and says nothing about why a file did not load (capture/sources.py reads frames the same
way for the same reason). So a file is opened by Python (a regular file, at most MAX_IMAGE_FILE_BYTES, never
a FIFO that would block), decoded with cv2.imdecode and refused with one line that names the file: training
images, evaluation sets, export's int8 and build-engine's calibration and check images, ignore masks.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ..errors import UserError

# Larger than any frame a line camera writes (a 16-bit 50 MP TIFF is ~300 MB uncompressed, ~150 MB packed);
# a file beyond it is not a part image and is refused before a byte is read.
MAX_IMAGE_FILE_BYTES = 256 * 2**20
_MAX_LABEL = 200


class ImageFileError(UserError, ValueError):
    """An image file that cannot be used: one line naming the file and why."""


class ImageFileMissing(ImageFileError, FileNotFoundError):
    """The image file is not there (a FileNotFoundError too, for handlers of missing files)."""


def file_label(path: Path | str) -> str:
    """The file's name for a one-line message: undecodable bytes and control characters escaped, at most
    200 characters (the middle cut, the file name at the end kept)."""
    text = str(path).encode("utf-8", "backslashreplace").decode("utf-8")
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    if len(text) > _MAX_LABEL:
        half = (_MAX_LABEL - 3) // 2
        text = f"{text[:half]}...{text[-half:]}"
    return text


def read_image_file(path: Path | str, flags: int = cv2.IMREAD_COLOR, *, what: str = "image") -> np.ndarray:
    """The decoded image (cv2.imdecode with `flags`: BGR uint8 by default); ImageFileError naming `what` and
    the file when it is missing, not a regular file, too large, empty or not an image."""
    name = f"{what} {file_label(path)}"
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ImageFileMissing(f"{name}: no such file") from None
    except OSError as exc:
        raise ImageFileError(f"{name}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    if not stat.S_ISREG(info.st_mode):
        raise ImageFileError(f"{name}: not a regular file")
    if info.st_size > MAX_IMAGE_FILE_BYTES:
        raise ImageFileError(f"{name}: {info.st_size} bytes, over the {MAX_IMAGE_FILE_BYTES}-byte limit for "
                             "an image file")
    try:
        data = np.fromfile(path, np.uint8, count=MAX_IMAGE_FILE_BYTES + 1)
        image = cv2.imdecode(data, flags) if data.size else None
    except OSError as exc:  # vanished or unreadable between stat and read
        raise ImageFileError(f"{name}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    except cv2.error:
        image = None
    if image is None:
        raise ImageFileError(f"{name}: not a readable image (empty, truncated or not PNG/JPEG/BMP/TIFF)")
    return image


def read_frames(files: Sequence[Path], *, what: str = "image") -> list[np.ndarray]:
    """BGR uint8 frames of `files`, in order (int8 calibration and check images, good parts for a
    precision check); the first file that cannot be read stops it with ImageFileError."""
    return [read_image_file(path, cv2.IMREAD_COLOR, what=what) for path in files]
