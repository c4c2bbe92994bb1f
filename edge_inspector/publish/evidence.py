"""Evidence archive: annotated PNGs of rejected (and optionally passed) parts for the technician."""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import time
from pathlib import Path

import cv2
import numpy as np

from ..types import Inspection, Verdict
from .log_throttle import LogThrottle

log = logging.getLogger(__name__)

_RUN_ID = re.compile(r"[A-Za-z0-9._-]*")
# Huffman-only deflate: on noisy 1280x1024 frames (2 cores, 2026-11-30) as small as OpenCV's default and
# 5-15% faster; a lower level or no row filter saved no time and made files 1.5-2x larger.
PNG_PARAMS = [cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY]


class EvidenceWriter:
    """Writes `{dir}/{YYYYmmdd}/{run_id}_{seq:08d}_{verdict}.png` (UTC date of capture).

    FAIL and FAULT are always kept, PASS only with save_pass. For FAIL the raw frame is also kept
    as `..._raw.png` so that the part can be relabelled for training. run_id tells the daemon's runs
    apart (seq restarts at 0), so a restart never overwrites earlier evidence; with an empty run_id
    the name is just `{seq:08d}_{verdict}.png`. Below min_free_bytes of free disk space nothing is
    written and `skipped_low_disk` counts the skipped inspections.
    """

    def __init__(
        self,
        dir: Path | str,  # noqa: A002 - matches the config key
        save_pass: bool = False,
        run_id: str = "",
        min_free_bytes: int = 0,
    ) -> None:
        if not _RUN_ID.fullmatch(run_id):
            raise ValueError(f"EvidenceWriter.run_id: expected letters, digits, '.', '_' or '-', got {run_id!r}")
        if min_free_bytes < 0:
            raise ValueError(f"EvidenceWriter.min_free_bytes: expected >= 0, got {min_free_bytes}")
        self.dir = Path(dir)
        self.save_pass = save_pass
        self.run_id = run_id
        self.min_free_bytes = min_free_bytes
        self.written = 0  # files written (annotated and raw)
        self.skipped_low_disk = 0  # inspections whose evidence was not written for lack of disk space
        self._low_disk_warning = LogThrottle()  # once a minute, not once a frame

    def path_for(self, inspection: Inspection, suffix: str = "") -> Path:
        """Where the evidence of this inspection goes."""
        day = time.strftime("%Y%m%d", time.gmtime(inspection.captured_at))
        verdict = Verdict(inspection.verdict).value
        prefix = f"{self.run_id}_" if self.run_id else ""
        return self.dir / day / f"{prefix}{inspection.seq:08d}_{verdict}{suffix}.png"

    def write(self, inspection: Inspection, annotated: np.ndarray | None) -> Path | None:
        """Write the evidence when the verdict calls for it; returns the annotated PNG path or None.

        annotated is the frame drawn by annotate(); without it the raw frame stands in. A FAULT
        with no image (a dropped frame) has nothing to keep and returns None, and so does an
        inspection skipped for low disk space. Raises OSError, naming the file, when a file cannot
        be written; a partly written file is removed.
        """
        if annotated is None and inspection.image is None:
            return None
        path = self.plan(inspection)
        if path is not None:
            self.write_planned(inspection, annotated, path)
        return path

    def plan(self, inspection: Inspection) -> Path | None:
        """Where this inspection's evidence will go, or None when none is due: a PASS without save_pass,
        no image (a dropped frame), or too little free disk (counted in skipped_low_disk). Cheap: the
        daemon decides on the inspection thread and leaves the writing to write_planned on a worker."""
        if inspection.verdict is Verdict.PASS and not self.save_pass:
            return None
        if inspection.image is None or self._low_disk():
            return None
        return self.path_for(inspection)

    def write_planned(self, inspection: Inspection, annotated: np.ndarray | None, path: Path) -> None:
        """Write the evidence plan() chose: the annotated frame (or the raw one without it) to `path`, plus
        the raw frame for a FAIL. Raises OSError, naming the file; a partly written file is removed."""
        image = annotated if annotated is not None else inspection.image
        if image is None:
            return
        self._imwrite(path, image)
        if inspection.verdict is Verdict.FAIL and inspection.image is not None and annotated is not None:
            self._imwrite(self.path_for(inspection, "_raw"), inspection.image)

    def free_bytes(self) -> int | None:
        """Free disk space where evidence goes (nearest existing folder), or None when it cannot be read."""
        probe = self.dir.absolute()
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        try:
            return shutil.disk_usage(probe).free
        except OSError:
            return None

    def _low_disk(self) -> bool:
        if self.min_free_bytes <= 0:
            return False
        free = self.free_bytes()
        if free is None or free >= self.min_free_bytes:
            return False
        self.skipped_low_disk += 1
        if self._low_disk_warning.hit() is not None:
            log.warning(
                "evidence skipped: %d MB free under %s, below the %d MB minimum (%d skipped so far)",
                free // 2**20,
                self.dir,
                self.min_free_bytes // 2**20,
                self.skipped_low_disk,
            )
        return True

    def _imwrite(self, path: Path, image: np.ndarray) -> None:
        # Encode in memory and write with Python I/O: cv2.imwrite can miss a failed flush and
        # leave a truncated PNG that looks written.
        ok, encoded = cv2.imencode(".png", image, PNG_PARAMS)
        if not ok:
            raise OSError(f"cannot encode evidence image {path}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            file = path.open("wb")
        except OSError as exc:
            raise OSError(exc.errno, f"cannot write evidence image {path}: {exc.strerror or exc}") from exc
        try:
            with file:
                file.write(encoded.tobytes())
        except OSError as exc:
            with contextlib.suppress(OSError):
                path.unlink()
            raise OSError(exc.errno, f"cannot write evidence image {path}: {exc.strerror or exc}") from exc
        self.written += 1
        log.debug("evidence %s", path)
