"""One ROI geometry (model/preprocess.crop_roi + roi_bounds) for the numpy path and the torch path
(backends/gpu_preprocess.py): the same crop, the same clamping and the same refusal, each in its array type."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

preprocess = importlib.import_module("edge_inspector.model.preprocess")  # the package exports a function of that name

# (x, y, w, h) on a 50 x 70 frame -> (x0, y0, x1, y1) kept, or None when nothing is left
CASES = [
    ((0, 0, 70, 50), (0, 0, 70, 50)),
    ((10, 5, 20, 30), (10, 5, 30, 35)),
    ((-5, -8, 20, 20), (0, 0, 15, 12)),  # clamped at the top-left corner
    ((60, 40, 100, 100), (60, 40, 70, 50)),  # clamped at the bottom-right corner
    ((70, 0, 5, 5), None),  # right of the frame
    ((0, 50, 5, 5), None),  # below it
    ((3, 3, 0, 10), None),  # no width
    ((3, 3, 10, -4), None),  # negative height
]


@pytest.mark.parametrize(("roi", "kept"), CASES)
def test_numpy_and_torch_crop_the_same_pixels(roi: tuple[int, int, int, int],
                                              kept: tuple[int, int, int, int] | None) -> None:
    torch = pytest.importorskip("torch")
    from edge_inspector.backends import gpu_preprocess

    frame = np.arange(50 * 70 * 3, dtype=np.int32).reshape(50, 70, 3)
    tensor = torch.from_numpy(frame)
    if kept is None:
        with pytest.raises(ValueError) as from_numpy:
            preprocess.crop_roi(frame, roi)
        with pytest.raises(ValueError) as from_torch:
            gpu_preprocess.crop_roi(tensor, roi)
        assert str(from_numpy.value) == str(from_torch.value) == f"roi {roi} lies outside the 70x50 frame"
        return
    x0, y0, x1, y1 = kept
    got = preprocess.crop_roi(frame, roi)
    assert isinstance(got, np.ndarray) and np.shares_memory(got, frame)  # a view, numpy stays numpy
    np.testing.assert_array_equal(got, frame[y0:y1, x0:x1])
    on_torch = gpu_preprocess.crop_roi(tensor, roi)
    assert isinstance(on_torch, torch.Tensor) and on_torch.data_ptr() >= tensor.data_ptr()  # a view
    np.testing.assert_array_equal(on_torch.numpy(), got)


def test_one_definition_serves_both() -> None:
    pytest.importorskip("torch")
    from edge_inspector.backends import gpu_preprocess

    assert gpu_preprocess.crop_roi is preprocess.crop_roi
    assert preprocess.crop_roi(np.zeros((4, 5)), None).shape == (4, 5)  # no ROI: the frame itself
