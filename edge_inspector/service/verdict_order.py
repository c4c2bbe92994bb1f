"""Verdicts leave in seq order, also the FAULTs of frames that have no image to inspect.

Dropped frames and trigger timeouts (a part the PLC announced and no frame came for) become FAULT
verdicts without an inspection. A trigger timeout takes its seq on the inspection thread while the
capture thread may still be numbering a lower seq: a frame taken from the source but not yet in the
queue. Such a FAULT waits here until every lower seq has had its verdict, so subscribers never see a
seq before a lower one of the same run.
"""

from __future__ import annotations

from ..types import DroppedFrame


class DropOrder:
    """FAULTs waiting for their turn; used on the inspection thread only."""

    def __init__(self) -> None:
        self._pending: list[DroppedFrame] = []
        self._next = 0  # the lowest seq that has not had its verdict yet

    def add(self, dropped: list[DroppedFrame]) -> None:
        """Queue FAULTs (any order)."""
        if dropped:
            self._pending.extend(dropped)
            self._pending.sort(key=lambda d: d.seq)

    def emitted(self, seq: int) -> None:
        """A frame's verdict left (every lower seq has had its own)."""
        self._next = max(self._next, seq + 1)

    def due(self, before: int | None, final: bool = False) -> list[DroppedFrame]:
        """The FAULTs to publish now, in seq order, and count them as left.

        before: the seq of the frame in hand (handed over after every lower seq, so all lower FAULTs are
        due); None when there is none: then only FAULTs that follow the last verdict without a gap, since
        the gap may be a frame still being handed over. final: at stop, after the capture was sealed,
        nothing can fill a gap any more: everything is due.
        """
        out: list[DroppedFrame] = []
        while self._pending:
            seq = self._pending[0].seq
            if before is not None and seq >= before:
                break
            if before is None and not final and seq > self._next:
                break
            out.append(self._pending.pop(0))
            self.emitted(seq)
        return out

    def __len__(self) -> int:
        return len(self._pending)
