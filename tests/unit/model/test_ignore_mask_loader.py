"""model/part_mask.load_ignore: the one ignore-mask loader (daemon, calibrate, evaluate, training) and its checks:
exists, decodes, 8-bit grey, not everything ignored, the frames' aspect where the caller knows the frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_inspector.model.image_file import ImageFileError, ImageFileMissing, file_label
from edge_inspector.model.part_mask import check_fits, load_ignore
from edge_inspector.service.inspection_mask import InspectionMask


def write(path: Path, image: np.ndarray) -> Path:
    ok, data = cv2.imencode(".png", image)
    assert ok
    path.write_bytes(data.tobytes())
    return path


def half_ignored(shape: tuple[int, ...] = (40, 60), dtype: type = np.uint8, value: int = 255) -> np.ndarray:
    mask = np.zeros(shape, dtype)
    mask[:, shape[1] // 2:] = value
    return mask


def refused(path: Path, **kwargs: object) -> str:
    with pytest.raises(ImageFileError) as info:
        load_ignore(path, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"ignore mask {file_label(path)}: "), message
    return message


def test_a_grey_mask_loads_as_drawn(tmp_path: Path) -> None:
    got = load_ignore(write(tmp_path / "m.png", half_ignored()))
    assert got.shape == (40, 60) and got.dtype == np.uint8
    assert (got[:, :30] == 0).all() and (got[:, 30:] == 255).all()


def test_a_grey_mask_saved_as_rgb_or_rgba_is_accepted(tmp_path: Path) -> None:
    grey = half_ignored()
    opaque = np.full_like(grey, 255)
    for name, image in (("rgb.png", np.dstack([grey] * 3)), ("rgba.png", np.dstack([grey, grey, grey, opaque]))):
        np.testing.assert_array_equal(load_ignore(write(tmp_path / name, image)), grey)


def test_missing_and_undecodable_masks_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ImageFileMissing):
        load_ignore(tmp_path / "none.png")
    assert refused(tmp_path / "none.png").endswith("no such file")
    (tmp_path / "text.png").write_text("a mask, honestly")
    assert "not a readable image" in refused(tmp_path / "text.png")


def test_a_colour_mask_is_refused(tmp_path: Path) -> None:
    """IMREAD_GRAYSCALE used to turn it into luminance levels: a red mark became 'ignored' at level 76."""
    image = np.zeros((40, 60, 3), np.uint8)
    image[:, 30:, 2] = 255  # a red half
    assert "3 channels in colour; expected one grey channel" in refused(write(tmp_path / "red.png", image))


def test_a_16_bit_mask_is_refused(tmp_path: Path) -> None:
    """Scaled to 8 bits it lost its 1..255 levels (1 became 0: inspected)."""
    path = write(tmp_path / "deep.png", half_ignored(dtype=np.uint16, value=1))
    assert "uint16 pixels; expected an 8-bit grey PNG" in refused(path)


def test_a_mask_that_ignores_every_pixel_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "all.png", np.full((40, 60), 255, np.uint8))
    assert refused(path).endswith("every pixel is ignored, nothing would be inspected")
    assert load_ignore(write(tmp_path / "none.png", np.zeros((40, 60), np.uint8))).max() == 0  # all inspected


def test_a_mask_of_another_aspect_than_the_frames_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "m.png", half_ignored((40, 60)))
    assert load_ignore(path, frame_shape=(80, 120)).shape == (40, 60)  # half size, same aspect: resized
    assert "60x40 pixels, the frames are 60x60" in refused(path, frame_shape=(60, 60))
    with pytest.raises(ImageFileError, match="the frames are 100x40"):
        check_fits(np.zeros((40, 60), np.uint8), (40, 100), path)


def test_odd_file_names_load_and_are_named_on_one_line(tmp_path: Path) -> None:
    path = write(tmp_path / "maske_für_teil_\n7.png", half_ignored())
    assert load_ignore(path).shape == (40, 60)
    write(path, np.full((4, 4), 255, np.uint8))
    assert "\\n7.png" in refused(path)


def test_the_daemon_mask_uses_the_same_checks(tmp_path: Path) -> None:
    """service/inspection_mask.InspectionMask (profiles and model part masks) refuses what load_ignore refuses,
    with the same message (it used to accept a white or colour mask: every part would pass)."""
    image = np.zeros((40, 60, 3), np.uint8)
    image[:, 30:, 1] = 200
    for path in (write(tmp_path / "white.png", np.full((40, 60), 255, np.uint8)),
                 write(tmp_path / "green.png", image), tmp_path / "absent.png"):
        with pytest.raises(ImageFileError) as info:
            InspectionMask(None, path)
        assert str(info.value) == refused(path)
    keep = InspectionMask(None, write(tmp_path / "ok.png", half_ignored()))._keep((40, 60))
    assert keep is not None and keep[:, :30].all() and not keep[:, 30:].any()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(h=st.integers(1, 24), w=st.integers(1, 24), channels=st.sampled_from([1, 3, 4]), seed=st.integers(0, 2**16),
       junk=st.binary(max_size=64))
def test_any_small_png_or_junk_loads_or_fails_with_one_line(tmp_path: Path, h: int, w: int, channels: int, seed: int,
                                                            junk: bytes) -> None:
    rng = np.random.default_rng(seed)
    image = rng.choice(np.array([0, 255], np.uint8), size=(h, w) if channels == 1 else (h, w, channels))
    path = write(tmp_path / "fuzz.png", image)
    for content in (path.read_bytes(), junk, path.read_bytes()[: max(1, len(junk))]):
        path.write_bytes(content)
        try:
            got = load_ignore(path)
        except ImageFileError as exc:
            assert "\n" not in str(exc) and str(path) in str(exc)
        else:
            assert got.ndim == 2 and got.dtype == np.uint8 and got.shape == (h, w)
            assert not (got.min() == got.max() > 0)
