"""Evidence archive: annotated PNGs of rejected (and optionally passed) parts for the technician."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
import numpy as np

from ..types import Inspection, Verdict

log = logging.getLogger(__name__)


class EvidenceWriter:
    """Writes `{dir}/{YYYYmmdd}/{seq:08d}_{verdict}.png` (UTC date of capture).

    FAIL and FAULT are always kept, PASS only with save_pass. For FAIL the raw frame is also kept
    as `..._raw.png` so that the part can be relabelled for training.
    """

    def __init__(self, dir: Path | str, save_pass: bool = False) -> None:  # noqa: A002 - matches the config key
        self.dir = Path(dir)
        self.save_pass = save_pass
        self.written = 0  # files written (annotated and raw)

    def path_for(self, inspection: Inspection, suffix: str = "") -> Path:
        """Where the evidence of this inspection goes."""
        day = time.strftime("%Y%m%d", time.gmtime(inspection.captured_at))
        verdict = Verdict(inspection.verdict).value
        return self.dir / day / f"{inspection.seq:08d}_{verdict}{suffix}.png"

    def write(self, inspection: Inspection, annotated: np.ndarray | None) -> Path | None:
        """Write the evidence when the verdict calls for it; returns the annotated PNG path or None.

        annotated is the frame drawn by annotate(); without it the raw frame stands in. A FAULT
        with no image (a dropped frame) has nothing to keep and returns None. Raises OSError when
        a file cannot be written.
        """
        if inspection.verdict is Verdict.PASS and not self.save_pass:
            return None
        image = annotated if annotated is not None else inspection.image
        if image is None:
            return None
        path = self.path_for(inspection)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._imwrite(path, image)
        if inspection.verdict is Verdict.FAIL and inspection.image is not None and annotated is not None:
            self._imwrite(self.path_for(inspection, "_raw"), inspection.image)
        return path

    def _imwrite(self, path: Path, image: np.ndarray) -> None:
        if not cv2.imwrite(str(path), image):
            raise OSError(f"cannot write evidence image {path}")
        self.written += 1
        log.debug("evidence %s", path)
