"""An upload's pixel size read from its header (PNG IHDR, JPEG SOFn) before anything is decoded.

A 27 KB PNG can declare 15000x15000 pixels and decode to 675 MB (a decompression bomb); the size in the
header is what the decoder will allocate, so it is checked against dashboard.max_upload_megapixels first.
"""

from __future__ import annotations

import struct

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# SOF0..SOF15 carry the frame size; C4 (DHT), C8 (JPG extension) and CC (DAC) share the range but do not
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD9)})  # TEM, RSTn, SOI: no length field


class TooLarge(ValueError):
    """The header declares more pixels than allowed (HTTP 413)."""


def image_size(data: bytes, name: str) -> tuple[int, int]:
    """(width, height) declared by a PNG or JPEG header; ValueError (one line, naming the file) otherwise."""
    if data.startswith(PNG_SIGNATURE):
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise ValueError(f"{name}: PNG without an IHDR header")
        width, height = struct.unpack(">II", data[16:24])
    elif data.startswith(b"\xff\xd8\xff"):
        width, height = _jpeg_size(data, name)
    else:
        raise ValueError(f"{name}: not a PNG or JPEG image")
    if width < 1 or height < 1:
        raise ValueError(f"{name}: the header declares {width}x{height} pixels")
    return width, height


def _jpeg_size(data: bytes, name: str) -> tuple[int, int]:
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise ValueError(f"{name}: damaged JPEG (no marker at byte {i})")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker in _STANDALONE:
            i += 2
            continue
        if marker == 0xDA:  # start of scan before any frame header
            break
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in _SOF:
            if i + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        if length < 2:
            raise ValueError(f"{name}: damaged JPEG (segment length {length} at byte {i})")
        i += 2 + length
    raise ValueError(f"{name}: JPEG without a frame header (SOF)")


def check_pixels(data: bytes, name: str, max_megapixels: float) -> tuple[int, int]:
    """(width, height) when within the cap; TooLarge naming the file and both sizes otherwise."""
    width, height = image_size(data, name)
    megapixels = width * height / 1e6
    if megapixels > max_megapixels:
        raise TooLarge(f"{name}: {width}x{height} pixels ({megapixels:.1f} MP) is above "
                       f"dashboard.max_upload_megapixels ({max_megapixels:g} MP)")
    return width, height
