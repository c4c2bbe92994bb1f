"""What if: replay proposed settings over the last N inspections before a technician applies them.

The daemon keeps each judged frame's image score and its raw anomaly map (before the ROI mask), exactly
as the scorer returned them: keeping a reference costs the inspection thread nothing, and a replay runs
the same InspectionSettings.judge() the daemon runs, so its answer is what the daemon would have decided. Memory is
bounded twice: at most `frames` inspections and at most `max_bytes` of maps (a 1280x1024 float32 map is
5 MB, so 256 MB keeps about 50 camera frames). FAULTs have no map and are not replayed. A frame judged
with other settings than those in force now (before a change) is first judged again with the current ones,
so "before" is always what the daemon would decide now, and "after" what it will decide once applied.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..types import Verdict
from .profile_settings import InspectionSettings

FLIPPED_LIMIT = 200  # flipped parts listed in one answer (newest first); the counts are always complete


@dataclass(frozen=True)
class Kept:
    """One judged frame as the daemon saw it."""

    seq: int
    name: str
    score: float
    verdict: Verdict
    anomaly_map: np.ndarray  # raw (unmasked) float32 map at frame resolution; never written to
    settings: InspectionSettings | None = None  # what judged it (None: unknown, judged again)


class InspectionMemory:
    """Bounded memory of the last judged frames; add() on the inspection thread, snapshot() from any thread."""

    def __init__(self, frames: int, max_bytes: int) -> None:
        if frames < 0 or max_bytes < 0:
            raise ValueError(f"InspectionMemory: frames and max_bytes must be >= 0, got {frames}, {max_bytes}")
        self.frames, self.max_bytes = frames, max_bytes
        self._items: deque[Kept] = deque()
        self._bytes = 0
        self._lock = threading.Lock()

    def add(self, seq: int, name: str, score: float, verdict: Verdict, anomaly_map: np.ndarray,
            settings: InspectionSettings | None = None) -> None:
        """Keep one PASS/FAIL (its map by reference) and the settings that judged it; the oldest go when a
        limit is reached."""
        if verdict is Verdict.FAULT or self.frames == 0 or anomaly_map.nbytes > self.max_bytes:
            return
        with self._lock:
            self._items.append(Kept(seq, name, score, verdict, anomaly_map, settings))
            self._bytes += anomaly_map.nbytes
            while len(self._items) > self.frames or self._bytes > self.max_bytes:
                self._bytes -= self._items.popleft().anomaly_map.nbytes

    def snapshot(self) -> list[Kept]:
        """The kept frames, oldest first (a copy of the list; the maps are shared and read-only)."""
        with self._lock:
            return list(self._items)

    def __len__(self) -> int:
        return len(self._items)


def settings_view(settings: InspectionSettings) -> dict[str, Any]:
    """The four numbers a what-if proposes, as in force in `settings`."""
    insp = settings.inspection
    return {"image_threshold": settings.threshold, "pixel_threshold": settings.pixel_threshold,
            "min_area": int(insp.min_defect_area), "min_peak": float(insp.min_region_peak)}


def _judge(k: Kept, settings: InspectionSettings) -> tuple[Verdict, float]:
    verdict, _, _, score = settings.judge_scored(k.anomaly_map, k.score)
    return verdict, score


def replay(kept: list[Kept], proposed: InspectionSettings, current: InspectionSettings | None = None,
           ) -> dict[str, Any]:
    """Judge every kept frame under `proposed`; counts now/after and the parts that flip. `now` is the kept
    verdict, or the verdict under `current` for a frame that other settings judged."""
    now = dict.fromkeys((Verdict.PASS.value, Verdict.FAIL.value), 0)
    after = dict(now)
    flipped: list[dict[str, Any]] = []
    up = down = 0
    for k in kept:
        before = k.verdict if current is None or k.settings is current else _judge(k, current)[0]
        verdict, score = _judge(k, proposed)  # the score over the pixels the proposal inspects
        now[before.value] += 1
        after[verdict.value] = after.get(verdict.value, 0) + 1
        if verdict is before:
            continue
        up += before is Verdict.PASS and verdict is Verdict.FAIL
        down += before is Verdict.FAIL and verdict is Verdict.PASS
        flipped.append({"seq": k.seq, "name": k.name, "score": score, "before": before.value,
                        "after": verdict.value})
    return {"replayed": len(kept), "proposed": settings_view(proposed), "now": now, "after": after,
            "pass_to_fail": up, "fail_to_pass": down, "flipped": flipped[::-1][:FLIPPED_LIMIT]}
