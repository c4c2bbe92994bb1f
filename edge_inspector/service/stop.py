"""The inspection side of a stop: every frame the capture numbered gets exactly one verdict, in seq order.

The capture is sealed first (a read that returns later is not numbered), then the frames still queued,
the one the capture could not queue and the dropped ones are judged, or published as FAULT once half the
grace is spent: a part on the belt never goes without a verdict.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable

from ..capture import CaptureThread
from ..types import DroppedFrame, Frame

EmitDropped = Callable[[list[DroppedFrame], int | None, bool], None]  # (dropped, before, final)


def flush_at_stop(capture: CaptureThread, frames: queue.Queue[object], seconds: float,
                  judge: Callable[[Frame], None], emit_dropped: EmitDropped) -> None:
    """Judge (`judge`: inspect and emit one frame) what is left for up to `seconds`, FAULT the rest."""
    capture.seal()
    until = time.monotonic() + seconds
    left: list[object] = []
    while True:
        try:
            left.append(frames.get_nowait())
        except queue.Empty:
            break
    if capture.unqueued is not None:
        left.append(capture.unqueued)
    for item in left:
        if not isinstance(item, Frame):
            continue
        emit_dropped(capture.take_dropped(), item.seq, False)
        if time.monotonic() < until:
            judge(item)
            continue
        emit_dropped([DroppedFrame(item.seq, item.captured_at, item.captured_mono, item.source_index, item.name,
                                   "daemon stopping before the frame was inspected", kind="queue_full")],
                     item.seq + 1, False)
    emit_dropped(capture.take_dropped(), None, True)
