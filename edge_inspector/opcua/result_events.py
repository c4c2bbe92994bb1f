"""ResultReady events, live and historical: the same event, with the same EventId, Time and fields, whether a
client receives it through a subscription or reads it later with HistoryRead (ReadEventDetails).

Live: `emit` fires one event per recorded result on each of the station's event generators. History:
`EventHistory` is asyncua's history storage for these events, reading the result store (result_store.py) of
the results already emitted; the VisionSystem and Server objects advertise HistoryRead in their EventNotifier.
A client that was away (or whose server restarted) subscribes again, then reads the history from the Time of
the last event it saw, and drops the events it already has by EventId (or ResultId).
"""

from __future__ import annotations

import copy
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from asyncua import ua
from asyncua.common.events import Event
from asyncua.server.history import HistoryStorageInterface

from .address_space import RESULT_FIELDS, StationNodes, variant
from .messages import MessageError, Verdict, parse_verdict
from .result_store import ResultStore, StoredResult

log = logging.getLogger(__name__)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
PAGE = 1000  # events in one HistoryRead answer; the rest follows with a continuation point


def event_time(time_us: int) -> datetime:
    return EPOCH + timedelta(microseconds=time_us)


def fill(event: Any, verdict: Verdict, time_us: int) -> Any:
    """Set the ResultReady fields, EventId (the ResultId's bytes: one id per result), Time and Message."""
    for name, kind, fn in RESULT_FIELDS:
        setattr(event, name, variant(fn(verdict), kind).Value)
    event.EventId = f"{verdict.station}/{verdict.run_id}/{verdict.seq}".encode()
    event.Time = event.ReceiveTime = event_time(time_us)
    event.Message = ua.LocalizedText(f"{verdict.verdict} {verdict.station} run {verdict.run_id} seq {verdict.seq}")
    return event


async def emit(nodes: StationNodes, verdict: Verdict, time_us: int) -> None:
    """Fire the ResultReady event of a recorded result on every generator (VisionSystem and Server object).

    Not EventGenerator.trigger(): it would give the event a random EventId and the time of now, and the
    history could not serve the same event again."""
    for gen in nodes.generators:
        fill(gen.event, verdict, time_us)
        await gen.isession.subscription_service.trigger_event(gen.event)


class EventHistory(HistoryStorageInterface):
    """Serves the result store as the event history of the VisionSystem and Server objects (read only)."""

    def __init__(self, store: ResultStore, nodes: StationNodes, station: str, limit: int) -> None:
        super().__init__(PAGE)
        self.store, self.station, self.limit = store, station, limit
        self.template = copy.deepcopy(nodes.generators[0].event)
        self.sources = {nodes.vision_system.nodeid, ua.NodeId(ua.Int32(ua.ObjectIds.Server))}
        self.unreadable = 0  # stored rows that no longer parse (skipped, counted)

    async def init(self) -> None:
        pass

    async def new_historized_node(self, node_id: ua.NodeId, period: timedelta | None, count: int = 0) -> None:
        pass

    async def save_node_value(self, node_id: ua.NodeId, datavalue: ua.DataValue) -> None:
        pass

    async def read_node_history(self, node_id: ua.NodeId, start: datetime | None, end: datetime | None,
                                nb_values: int) -> tuple[list[ua.DataValue], datetime | None]:
        return [], None

    async def new_historized_event(self, source_id: ua.NodeId, evtypes: Any, period: timedelta | None,
                                   count: int = 0) -> None:
        pass

    async def save_event(self, event: Event) -> None:
        pass  # the server records each result itself, before the event fires (result_store.py)

    async def read_event_history(self, source_id: ua.NodeId, start: datetime | None, end: datetime | None,
                                 nb_values: int, evfilter: Any) -> tuple[list[Any], datetime | None]:
        if source_id not in self.sources:
            return [], None
        page = min(nb_values, PAGE) if nb_values else PAGE
        rows = self.store.read(_micros(start), _micros(end), page + 1)
        more = rows[page].time_us if len(rows) > page else None
        events = [e for e in (self.event(r) for r in rows[:page]) if e is not None]
        return events, None if more is None else event_time(more)

    def verdict(self, row: StoredResult) -> Verdict | None:
        """The stored verdict, checked again like a message (the file is input too); None, counted, if bad."""
        try:
            return parse_verdict(row.payload, self.station, self.limit)
        except MessageError as exc:
            self.unreadable += 1
            log.warning("OPC UA history: stored result %d is unreadable (%s); skipped", row.row, str(exc)[:200])
            return None

    def event(self, row: StoredResult) -> Any | None:
        verdict = self.verdict(row)
        return None if verdict is None else fill(copy.deepcopy(self.template), verdict, row.time_us)

    async def stop(self) -> None:
        pass


def _micros(when: datetime | None) -> int | None:
    """Microseconds since 1970 of a ReadEventDetails time; None for an unset one (DateTime 0, 1601-01-01)."""
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    if when <= datetime(1601, 1, 2, tzinfo=timezone.utc):
        return None
    return max(0, (when - EPOCH) // timedelta(microseconds=1))
