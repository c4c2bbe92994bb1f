"""The station's address space, laid out after OPC 40100-1 (OPC UA for Machine Vision) as far as it maps.

The companion nodeset (Opc.Ua.MachineVision.NodeSet2.xml) is not shipped with asyncua and not fetched at run
time, so the nodes live in our own namespace (opcua.namespace_uri) under the specification's names:

    Objects/VisionSystem                      (event notifier: ResultReadyEventType, one event per verdict;
                                              history of those events: result_events.py)
      VisionStateMachine/CurrentState         LocalizedText Preoperational/Halted/Error/Operational
        CurrentState/Number                   UInt32 StateNumber of OPC 40100-1 Table 82 (1/2/3/4)
      VisionStateMachine/StateReason          why (the station's status in one sentence)
      SystemState/...                         station, run id, online/offline, capture state and detail
      RecipeManagement/ActiveRecipe/...       model id and calibration profile (product, revision) in force
      ResultManagement/LastResult/...         the last verdict: the RESULT_FIELDS below
      ResultManagement/Diagnostics/...        results received, duplicates dropped, messages rejected

Every node has a string NodeId of its browse path (`ns=<idx>;s=VisionSystem.ResultManagement.LastResult.Seq`).
Every variable is read-only (asyncua's default access level): nothing a client sends changes the station.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from asyncua import Node, Server, ua

from .messages import Status, Verdict
from .state import VisionState

V = ua.VariantType


def _boxes(v: Verdict) -> str:
    return json.dumps([{"x": b.x, "y": b.y, "w": b.w, "h": b.h, "area": b.area, "peak": b.peak} for b in v.boxes],
                      separators=(",", ":"))


# name, OPC UA type, value of a verdict: the LastResult variables and the ResultReady event's fields alike
RESULT_FIELDS: list[tuple[str, ua.VariantType, Callable[[Verdict], Any]]] = [
    ("ResultId", V.String, lambda v: f"{v.station}/{v.run_id}/{v.seq}"),
    ("Station", V.String, lambda v: v.station),
    ("RunId", V.String, lambda v: v.run_id),
    ("Seq", V.Int64, lambda v: v.seq),
    ("PartId", V.String, lambda v: v.part_id),  # null when no trigger named the part
    ("Verdict", V.String, lambda v: v.verdict),
    ("Score", V.Double, lambda v: v.score),  # null for a FAULT that could not be scored
    ("Threshold", V.Double, lambda v: v.threshold),
    ("BoxCount", V.UInt32, lambda v: len(v.boxes)),
    ("Boxes", V.String, _boxes),  # JSON list of {x,y,w,h,area,peak}, highest peak first
    ("Frame", V.String, lambda v: v.frame),
    ("CaptureTime", V.DateTime, lambda v: v.captured_at),
    ("DecisionTime", V.DateTime, lambda v: v.decided_at),
    ("LatencyMs", V.Double, lambda v: v.latency_ms),
    ("Reason", V.String, lambda v: v.reason),
    ("ModelId", V.String, lambda v: v.model_id),
    ("Replayed", V.Boolean, lambda v: v.replayed),
    ("IsPartial", V.Boolean, lambda v: False),  # OPC 40100-1 result fields: every verdict is a final result
    ("IsSimulated", V.Boolean, lambda v: False),
]
SYSTEM_FIELDS: list[tuple[str, ua.VariantType]] = [
    ("Station", V.String), ("RunId", V.String), ("DaemonState", V.String), ("CaptureState", V.String),
    ("CaptureDetail", V.String), ("StatusTime", V.DateTime), ("MqttConnected", V.Boolean)]
RECIPE_FIELDS: list[tuple[str, ua.VariantType]] = [
    ("ModelId", V.String), ("ProfileProduct", V.String), ("ProfileRevision", V.Int32)]
DIAGNOSTIC_FIELDS: list[tuple[str, ua.VariantType]] = [
    ("ResultsReceived", V.UInt64), ("DuplicatesDropped", V.UInt64), ("MessagesRejected", V.UInt64)]


@dataclass
class StationNodes:
    """The nodes the server updates, by name, and the event generators of ResultReadyEventType."""

    idx: int
    vision_system: Node
    event_type: Node
    state: Node
    state_number: Node
    state_reason: Node
    system: dict[str, Node] = field(default_factory=dict)
    recipe: dict[str, Node] = field(default_factory=dict)
    result: dict[str, Node] = field(default_factory=dict)
    diagnostics: dict[str, Node] = field(default_factory=dict)
    generators: list[Any] = field(default_factory=list)


async def build(server: Server, namespace_uri: str) -> StationNodes:
    """Create the nodes and the event type (see module doc); call before server.start()."""
    idx = await server.register_namespace(namespace_uri)
    # as server.create_custom_event_type() does, with string NodeIds (it would give the fields the type's id)
    event_type = await server.nodes.base_event_type.add_object_type(_id(idx, "ResultReadyEventType"),
                                                                    f"{idx}:ResultReadyEventType")
    for name, kind, _ in RESULT_FIELDS:
        await event_type.add_property(_id(idx, f"ResultReadyEventType.{name}"), f"{idx}:{name}",
                                      ua.get_default_value(kind), varianttype=kind)
    vs = await server.nodes.objects.add_object(_id(idx, "VisionSystem"), f"{idx}:VisionSystem")
    machine = await vs.add_object(_id(idx, "VisionSystem.VisionStateMachine"), f"{idx}:VisionStateMachine")
    state = await machine.add_variable(_id(idx, "VisionSystem.VisionStateMachine.CurrentState"),
                                       f"{idx}:CurrentState", ua.LocalizedText("Preoperational"))
    number = await state.add_property(_id(idx, "VisionSystem.VisionStateMachine.CurrentState.Number"),
                                      f"{idx}:Number", ua.Variant(1, V.UInt32))
    reason = await machine.add_variable(_id(idx, "VisionSystem.VisionStateMachine.StateReason"),
                                        f"{idx}:StateReason", "no status from the station yet")
    nodes = StationNodes(idx, vs, event_type, state, number, reason)
    nodes.system = await _group(vs, idx, "VisionSystem.SystemState", SYSTEM_FIELDS)
    recipes = await vs.add_object(_id(idx, "VisionSystem.RecipeManagement"), f"{idx}:RecipeManagement")
    nodes.recipe = await _group(recipes, idx, "VisionSystem.RecipeManagement.ActiveRecipe", RECIPE_FIELDS)
    results = await vs.add_object(_id(idx, "VisionSystem.ResultManagement"), f"{idx}:ResultManagement")
    nodes.result = await _group(results, idx, "VisionSystem.ResultManagement.LastResult",
                                [(n, k) for n, k, _ in RESULT_FIELDS])
    nodes.diagnostics = await _group(results, idx, "VisionSystem.ResultManagement.Diagnostics", DIAGNOSTIC_FIELDS)
    # one event to the VisionSystem's subscribers and one to the Server object's (where many clients listen)
    for emitter in (vs.nodeid, ua.NodeId(ua.Int32(ua.ObjectIds.Server))):
        gen = await server.get_event_generator(event_type, emitter)
        gen.event.SourceNode = vs.nodeid
        gen.event.SourceName = "VisionSystem"
        nodes.generators.append(gen)
    # both notifiers also serve the ResultReady history (result_events.EventHistory)
    notifier = (1 << ua.EventNotifier.SubscribeToEvents) | (1 << ua.EventNotifier.HistoryRead)  # bit numbers
    for obj in (vs, server.nodes.server):
        await obj.write_attribute(ua.AttributeIds.EventNotifier, ua.DataValue(ua.Variant(notifier, V.Byte)))
    return nodes


def _id(idx: int, path: str) -> ua.NodeId:
    """A stable string NodeId (`ns=<idx>;s=VisionSystem.ResultManagement.LastResult.Verdict`): a PLC's client
    configuration can name nodes by id, not only by browse path."""
    return ua.NodeId(ua.String(path), ua.Int16(idx))


async def _group(parent: Node, idx: int, path: str, spec: list[tuple[str, ua.VariantType]]) -> dict[str, Node]:
    folder = await parent.add_object(_id(idx, path), f"{idx}:{path.rsplit('.', 1)[-1]}")
    # a Null value until the station says something; the DataType is fixed all the same
    return {key: await folder.add_variable(_id(idx, f"{path}.{key}"), f"{idx}:{key}", ua.Variant(None),
                                           datatype=ua.NodeId(ua.Int32(kind.value)))
            for key, kind in spec}


async def show_result(nodes: StationNodes, verdict: Verdict) -> None:
    """Write LastResult (result_events.emit fires the ResultReady event carrying the same fields)."""
    for name, kind, fn in RESULT_FIELDS:
        await nodes.result[name].write_value(variant(fn(verdict), kind))


async def show_state(nodes: StationNodes, state: VisionState, status: Status | None, connected: bool) -> None:
    """Write the vision state, the system state and the recipe in force from the latest status."""
    await nodes.state.write_value(ua.LocalizedText(state.name))
    await nodes.state_number.write_value(ua.Variant(state.number, V.UInt32))
    await nodes.state_reason.write_value(state.reason)
    await nodes.system["MqttConnected"].write_value(ua.Variant(connected, V.Boolean))
    if status is None:
        return
    system: dict[str, Any] = {"Station": status.station, "RunId": status.run_id, "DaemonState": status.state,
                              "CaptureState": status.capture_state, "CaptureDetail": status.capture_detail,
                              "StatusTime": status.at}
    recipe = {"ModelId": status.model_id, "ProfileProduct": status.profile_product,
              "ProfileRevision": status.profile_revision}
    for group, values in ((nodes.system, system), (nodes.recipe, recipe)):
        for name, value in values.items():
            kind = dict(SYSTEM_FIELDS + RECIPE_FIELDS)[name]
            if status.state == "offline" and name == "ModelId" and value is None:
                continue  # the last will names no model: keep showing the one that was in service
            await group[name].write_value(variant(value, kind))


async def show_counters(nodes: StationNodes, received: int, duplicates: int, rejected: int) -> None:
    for name, value in (("ResultsReceived", received), ("DuplicatesDropped", duplicates),
                        ("MessagesRejected", rejected)):
        await nodes.diagnostics[name].write_value(ua.Variant(value, V.UInt64))


# what a variable shows for "none" (a typed node takes no Null): no part id "", an unscored FAULT NaN, no profile -1
NONE_VALUES: dict[ua.VariantType, Any] = {V.String: "", V.Double: math.nan, V.Int32: -1}


def variant(value: Any, kind: ua.VariantType) -> ua.Variant:
    """`value` as a Variant of `kind`, with NONE_VALUES standing for None."""
    return ua.Variant(NONE_VALUES[kind] if value is None else value, kind)
