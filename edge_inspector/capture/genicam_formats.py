"""GenICam (PFNC) pixel formats -> the arrays capture/convert.py takes.

Mono8 -> HxW uint8; Mono10/12/14/16 (unpacked, little-endian) -> HxW uint16, which convert.to_bgr8 shifts
by `source.bit_depth`; RGB8/BGR8 -> HxWx3 BGR; Bayer 8-bit mosaics -> HxWx3 BGR by OpenCV's demosaicing.
OpenCV names a Bayer pattern by the second row's second and third pixels, one pixel off the PFNC name
(which is the top-left 2x2 cell): PFNC BayerRG8 (R at 0,0) is COLOR_BayerBG2BGR. The newer 4-letter
aliases (COLOR_BayerRGGB2BGR) are not used because older OpenCV builds, e.g. JetPack's, lack them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class PixelFormat:
    """One supported PFNC pixel format: its code, bytes per pixel and how it is decoded."""

    name: str
    code: int
    bytes_per_pixel: int
    decode: str  # "mono8", "mono16", "rgb", "bgr" or "bayer"
    bayer_code: int = 0  # the cv2.COLOR_Bayer*2BGR constant for "bayer"


FORMATS = {f.name: f for f in (
    PixelFormat("Mono8", 0x01080001, 1, "mono8"),
    PixelFormat("Mono10", 0x01100003, 2, "mono16"),
    PixelFormat("Mono12", 0x01100005, 2, "mono16"),
    PixelFormat("Mono14", 0x01100025, 2, "mono16"),
    PixelFormat("Mono16", 0x01100007, 2, "mono16"),
    PixelFormat("RGB8", 0x02180014, 3, "rgb"),
    PixelFormat("BGR8", 0x02180015, 3, "bgr"),
    PixelFormat("BayerRG8", 0x01080009, 1, "bayer", cv2.COLOR_BayerBG2BGR),
    PixelFormat("BayerGB8", 0x0108000A, 1, "bayer", cv2.COLOR_BayerGR2BGR),
    PixelFormat("BayerGR8", 0x01080008, 1, "bayer", cv2.COLOR_BayerGB2BGR),
    PixelFormat("BayerBG8", 0x0108000B, 1, "bayer", cv2.COLOR_BayerRG2BGR),
)}
BY_CODE = {f.code: f for f in FORMATS.values()}


class FrameDecodeError(ValueError):
    """A buffer whose size or pixel format does not match what was configured."""


def decode(data: bytes, code: int, width: int, height: int) -> np.ndarray:
    """The image in one buffer: uint8 HxW (Mono8), uint16 HxW (Mono10..16) or uint8 HxWx3 BGR.

    Raises FrameDecodeError for an unsupported format code or a buffer shorter than the image.
    """
    fmt = BY_CODE.get(code)
    if fmt is None:
        raise FrameDecodeError(f"unsupported pixel format 0x{code:08x}")
    size = width * height * fmt.bytes_per_pixel
    if width <= 0 or height <= 0 or len(data) < size:
        raise FrameDecodeError(f"{fmt.name} {width}x{height} needs {size} bytes, the buffer has {len(data)}")
    if fmt.decode == "mono16":
        return np.frombuffer(data, "<u2", width * height).reshape(height, width).astype(np.uint16)
    raw = np.frombuffer(data, np.uint8, size)
    if fmt.decode == "mono8":
        return raw.reshape(height, width).copy()
    if fmt.decode == "bayer":
        return cv2.cvtColor(raw.reshape(height, width), fmt.bayer_code)
    image = raw.reshape(height, width, 3)
    return np.ascontiguousarray(image[:, :, ::-1]) if fmt.decode == "rgb" else image.copy()
