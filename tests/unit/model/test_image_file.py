"""model/image_file.py: the one image-file reader. Bad files fail with one line naming the file; names OpenCV's
imread cannot take are read; every former cv2.imread caller (training data, export's int8 loops, build-engine's
calibration and check images) gives the same refusal."""

from __future__ import annotations

import os
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import edge_inspector
from edge_inspector.errors import USER_ERRORS
from edge_inspector.model import image_file
from edge_inspector.model.image_file import ImageFileError, ImageFileMissing, file_label, read_frames, read_image_file
from edge_inspector.model.metadata import ModelMetadata

NOT_AN_IMAGE = "not a readable image"


def png(path: Path, image: np.ndarray | None = None) -> Path:
    ok, data = cv2.imencode(".png", np.full((12, 16, 3), 90, np.uint8) if image is None else image)
    assert ok
    path.write_bytes(data.tobytes())
    return path


def one_line(exc: BaseException, path: Path | str) -> str:
    message = str(exc)
    assert "\n" not in message and len(message) < 400, message
    assert file_label(path) in message
    return message


def test_a_good_file_decodes_as_bgr(tmp_path: Path) -> None:
    image = np.zeros((12, 16, 3), np.uint8)
    image[..., 2] = 250  # red in BGR
    got = read_image_file(png(tmp_path / "a.png", image))
    assert got.shape == (12, 16, 3) and got.dtype == np.uint8 and (got[..., 2] == 250).all()
    assert read_image_file(tmp_path / "a.png", cv2.IMREAD_GRAYSCALE).shape == (12, 16)


def test_a_missing_file_is_a_user_error_and_a_file_not_found(tmp_path: Path) -> None:
    path = tmp_path / "gone.png"
    with pytest.raises(ImageFileMissing) as info:
        read_image_file(path, what="calibration image")
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, USER_ERRORS)
    assert one_line(info.value, path) == f"calibration image {path}: no such file"


@pytest.mark.parametrize(("content", "why"), [
    (b"", NOT_AN_IMAGE),
    (b"not a png at all", NOT_AN_IMAGE),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, NOT_AN_IMAGE),  # a PNG signature, then nothing that decodes
])
def test_a_file_that_is_not_an_image_is_refused_naming_it(tmp_path: Path, content: bytes, why: str) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes(content)
    with pytest.raises(ImageFileError) as info:
        read_image_file(path)
    assert why in one_line(info.value, path)


def test_a_folder_or_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    with pytest.raises(ImageFileError, match="not a regular file"):
        read_image_file(tmp_path)
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    with pytest.raises(ImageFileError) as info:
        read_image_file(fifo)
    assert "not a regular file" in one_line(info.value, fifo)


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = png(tmp_path / "big.png")
    monkeypatch.setattr(image_file, "MAX_IMAGE_FILE_BYTES", 32)
    with pytest.raises(ImageFileError) as info:
        read_image_file(path)
    assert "over the 32-byte limit" in one_line(info.value, path)


def test_odd_names_are_read_and_named_on_one_line(tmp_path: Path) -> None:
    """Non-ASCII, a newline and bytes that are not UTF-8 (which crash OpenCV's imread) in a file name."""
    for name in ("teil_überprüft_部品.png", "two\nlines.png"):
        assert read_image_file(png(tmp_path / name)).shape == (12, 16, 3)
    raw = os.fsencode(tmp_path) + b"/bad-\xff\xfe.png"  # not UTF-8: Python hands it over with lone surrogates
    with open(raw, "wb") as fh:
        fh.write(png(tmp_path / "x.png").read_bytes())
    odd = Path(os.fsdecode(raw))
    assert read_image_file(odd).shape == (12, 16, 3)
    for path in (odd, tmp_path / "two\nlines.png", tmp_path / "teil_überprüft_部品.png"):
        path.write_bytes(b"garbage")
        with pytest.raises(ImageFileError) as info:
            read_image_file(path)
        message = one_line(info.value, path)
        message.encode("utf-8")  # printable and encodable: a log file handler cannot choke on it
    assert "\\udcff\\udcfe" in file_label(odd) and "two\\nlines.png" in file_label(tmp_path / "two\nlines.png")


def test_a_very_long_name_is_capped_keeping_the_file_name(tmp_path: Path) -> None:
    label = file_label("/" + "d" * 5000 + "/part_0042.png")
    assert len(label) <= 200 and label.endswith("part_0042.png")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=600), prefix=st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM"]))
def test_random_bytes_decode_or_fail_with_one_line(tmp_path: Path, content: bytes, prefix: bytes) -> None:
    path = tmp_path / "fuzz.png"
    path.write_bytes(prefix + content)
    try:
        image = read_image_file(path)
    except ImageFileError as exc:
        one_line(exc, path)
    else:
        assert image.ndim == 3 and image.dtype == np.uint8


# --- the former cv2.imread callers all use it -------------------------------------------------------------------

def meta() -> ModelMetadata:
    return ModelMetadata(model_id="m", kind="scratch", input_size=(8, 8), arch={})


def test_every_former_caller_refuses_a_broken_file_with_the_same_rule(tmp_path: Path) -> None:
    from edge_inspector.export import quantize, tensorrt_build
    from edge_inspector.training import data

    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    expected = f"{broken}: {NOT_AN_IMAGE}"
    calls = {
        "training read_bgr": lambda: data.read_bgr(broken),
        "training load_images": lambda: data.load_images([broken], (8, 8)),
        "int8 calibration (ONNX Runtime)": lambda: list(quantize.calibration_batches([broken], meta())),
        "TensorRT calibration": lambda: list(tensorrt_build.calibration_batches([broken], meta(), 1)),
        "precision check images": lambda: read_frames([broken], what="check image"),
    }
    for caller, call in calls.items():
        with pytest.raises(ImageFileError) as info:
            call()
        assert expected in one_line(info.value, broken), caller


def test_the_int8_check_images_use_the_shared_reader(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from edge_inspector.export.export_api import checkpoint_scores
    from edge_inspector.model.checkpoint import save_model
    from edge_inspector.model.networks import build_model

    torch.manual_seed(0)
    arch = {"encoder_layers": 2, "width": 16}
    save_model(build_model("scratch", (32, 32), arch),
               ModelMetadata(model_id="t", kind="scratch", input_size=(32, 32), arch=arch), tmp_path / "model")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(ImageFileError) as info:
        checkpoint_scores(tmp_path / "model", ModelMetadata.load(tmp_path / "model"),
                          [png(tmp_path / "ok.png"), broken])
    assert one_line(info.value, broken) == f"int8 check image {broken}: {NOT_AN_IMAGE} " \
                                           "(empty, truncated or not PNG/JPEG/BMP/TIFF)"


def test_no_module_reads_image_files_with_cv2_imread() -> None:
    root = Path(edge_inspector.__file__).parent
    found = [str(p.relative_to(root)) for p in root.rglob("*.py")
             if re.search(r"cv2\.imread\(", p.read_text(encoding="utf-8"))]
    assert found == [], "read image files with model/image_file.read_image_file"
