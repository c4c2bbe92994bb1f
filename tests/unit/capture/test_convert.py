"""The fixed frame conversion rule (capture/convert.py): expected values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from edge_inspector.capture import UnsupportedFrame, to_bgr8


def px(value: object, dtype: object, shape: tuple[int, ...] = (2, 3)) -> np.ndarray:
    return np.full(shape, value, dtype=dtype)  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("image", "bit_depth", "expected_bgr"),
    [
        (px(7, np.uint8, (2, 3, 3)), 16, (7, 7, 7)),
        (px(200, np.uint8), 16, (200, 200, 200)),  # grey HxW -> three equal channels
        (px(9, np.uint8, (2, 3, 1)), 16, (9, 9, 9)),  # HxWx1 too
        (px(65535, np.uint16, (2, 3, 3)), 16, (255, 255, 255)),
        (px(256, np.uint16), 16, (1, 1, 1)),  # 256 >> 8
        (px(255, np.uint16), 16, (0, 0, 0)),  # 255 >> 8: a fixed rule, not stretched to the frame's max
        (px(4095, np.uint16), 12, (255, 255, 255)),  # 4095 >> 4
        (px(2048, np.uint16), 12, (128, 128, 128)),  # 2048 >> 4
        (px(5000, np.uint16), 12, (255, 255, 255)),  # 312, clipped
        (px(1023, np.uint16), 10, (255, 255, 255)),  # 1023 >> 2
        (px(512, np.uint16), 10, (128, 128, 128)),
        (px(8192, np.uint16), 14, (128, 128, 128)),  # 8192 >> 6
        (px(0.5, np.float32), 16, (128, 128, 128)),  # 127.5 rounds to even: 128
        (px(1.0, np.float64, (2, 3, 3)), 16, (255, 255, 255)),
        (px(0.0, np.float32), 16, (0, 0, 0)),
        (px(0.2, np.float16), 16, (51, 51, 51)),  # 0.2 * 255 = 51
    ],
)
def test_uniform_images_convert_by_the_rule(image: np.ndarray, bit_depth: int,
                                            expected_bgr: tuple[int, int, int]) -> None:
    out = to_bgr8(image, bit_depth)
    assert out.dtype == np.uint8 and out.shape == (2, 3, 3) and out.flags.c_contiguous
    assert {tuple(int(v) for v in p) for p in out.reshape(-1, 3)} == {expected_bgr}


def test_channels_keep_their_order_and_bgra_loses_alpha() -> None:
    bgra = np.zeros((2, 2, 4), np.uint8)
    bgra[..., 0], bgra[..., 1], bgra[..., 2], bgra[..., 3] = 10, 20, 30, 99
    assert to_bgr8(bgra)[0, 0].tolist() == [10, 20, 30]
    bgr16 = np.zeros((1, 1, 3), np.uint16)
    bgr16[0, 0] = (4095, 2048, 16)
    assert to_bgr8(bgr16, 12)[0, 0].tolist() == [255, 128, 1]


def test_same_value_gives_same_grey_whatever_else_is_in_the_frame() -> None:
    dark = px(1024, np.uint16)
    with_highlight = dark.copy()
    with_highlight[0, 0] = 4095
    assert to_bgr8(dark, 12)[1, 1, 0] == to_bgr8(with_highlight, 12)[1, 1, 0] == 64


def test_uint8_bgr_passes_unchanged() -> None:
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    assert to_bgr8(image) is image


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((4, 4, 2), np.uint8), "got shape (4, 4, 2) dtype uint8"),
        (np.zeros((4, 4, 5), np.uint8), "got shape (4, 4, 5) dtype uint8"),
        (np.zeros((4,), np.uint8), "got shape (4,) dtype uint8"),
        (np.zeros((2, 4, 4, 3), np.uint8), "got shape (2, 4, 4, 3) dtype uint8"),
        (np.zeros((0, 4, 3), np.uint8), "non-empty image, got shape (0, 4, 3) dtype uint8"),
        (np.zeros((4, 4), bool), "got shape (4, 4) dtype bool"),
        (np.zeros((4, 4, 3), np.int16), "uint8, uint16 or float in [0, 1], got shape (4, 4, 3) dtype int16"),
        (np.zeros((4, 4), np.uint32), "got shape (4, 4) dtype uint32"),
        (px(1.5, np.float32), "found 1.5..1.5, got shape (2, 3) dtype float32"),
        (px(-0.1, np.float64), "float values in [0, 1], found -0.1..-0.1, got shape (2, 3) dtype float64"),
        (px(np.nan, np.float32), "NaN or infinity, got shape (2, 3) dtype float32"),
    ],
)
def test_unsupported_frames_are_refused_with_shape_and_dtype(image: np.ndarray, message: str) -> None:
    with pytest.raises(UnsupportedFrame) as err:
        to_bgr8(image)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unsupported_is_a_value_error_and_a_bad_bit_depth_is_a_config_error() -> None:
    assert issubclass(UnsupportedFrame, ValueError)
    with pytest.raises(UnsupportedFrame, match="expected a numpy array, got NoneType"):
        to_bgr8(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bit_depth: expected 8..16, got 20"):
        to_bgr8(px(1, np.uint16), 20)
