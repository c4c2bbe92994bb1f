"""The edge node's rules without a broker: births with every metric and type, seq 0-255 across messages, bdSeq,
DDATA per verdict at its capture time, historical flag, counts. Decoded with pysparkplug (Tahu's classes)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from edge_inspector.sparkplug.node import NodeState, Topics
from edge_inspector.sparkplug.session import read_bd_seq, write_bd_seq

if not os.environ.get("CI"):  # .ci/run installs it: in CI a missing decoder fails instead of skipping
    pytest.importorskip("pysparkplug", reason="the independent Sparkplug decoder: pip install --no-deps "
                        "-c constraints.txt pysparkplug==0.6.1 (.ci/run does)")
import pysparkplug as spb  # noqa: E402

TOPICS = Topics.of("Plant1", "line1", "inspection", "ignition")
VERDICT = {"schema": "edge-inspector/verdict", "version": 2, "station": "line1", "run_id": "r1", "seq": 7,
           "frame": "frame_000007", "captured_ts": 1714564800.123, "latency_ms": 48.2, "verdict": "FAIL",
           "score": 0.8123, "threshold": 0.5, "boxes": [{"x": 1}, {"x": 2}], "reason": "score high",
           "model_id": "m-1", "part_id": "P-9", "replayed": False}
# what the docs promise a SCADA host: name -> Sparkplug type name (Tahu's DataType)
NODE_TYPES = {"bdSeq": "INT64", "Node Control/Rebirth": "BOOLEAN", "Properties/Station": "STRING",
              "Properties/Run ID": "STRING", "Properties/Software": "STRING"}
DEVICE_TYPES = {"Inspection/Verdict": "STRING", "Inspection/Reject": "BOOLEAN", "Inspection/Score": "DOUBLE",
                "Inspection/Threshold": "DOUBLE", "Inspection/Seq": "UINT64", "Inspection/Run ID": "STRING",
                "Inspection/Part ID": "STRING", "Inspection/Frame": "STRING", "Inspection/Captured At": "DATETIME",
                "Inspection/Latency ms": "DOUBLE", "Inspection/Regions": "INT32", "Inspection/Reason": "STRING",
                "Model/ID": "STRING", "Counts/Total": "UINT64", "Counts/Pass": "UINT64", "Counts/Fail": "UINT64",
                "Counts/Fault": "UINT64", "Camera/State": "STRING", "Profile/Revision": "INT64"}


def _types(birth: object) -> dict[str, str]:
    return {m.name: m.datatype.name for m in birth.metrics}  # type: ignore[attr-defined]


def test_topics() -> None:
    assert TOPICS.nbirth == "spBv1.0/Plant1/NBIRTH/line1"
    assert TOPICS.ddata == "spBv1.0/Plant1/DDATA/line1/inspection"
    assert TOPICS.ncmd == "spBv1.0/Plant1/NCMD/line1"
    assert TOPICS.state == "spBv1.0/STATE/ignition"


def test_births_carry_every_metric_with_its_type_and_seq_0_1() -> None:
    node = NodeState(TOPICS, "line1", "r1", bd_seq=4)
    (t1, nb), (t2, db) = node.birth(1000)
    assert (t1, t2) == (TOPICS.nbirth, TOPICS.dbirth)
    nbirth, dbirth = spb.NBirth.decode(nb), spb.DBirth.decode(db)
    assert (nbirth.seq, dbirth.seq) == (0, 1)
    assert _types(nbirth) == NODE_TYPES and _types(dbirth) == DEVICE_TYPES
    values = {m.name: m.value for m in nbirth.metrics}
    assert values["bdSeq"] == 4 and values["Node Control/Rebirth"] is False
    dvalues = {m.name: m for m in dbirth.metrics}
    assert dvalues["Inspection/Score"].is_null and dvalues["Counts/Total"].value == 0


def test_ddata_per_verdict_at_its_capture_time_and_counts() -> None:
    node = NodeState(TOPICS, "line1", "r1")
    node.birth(1000)
    data = spb.DData.decode(node.verdict_data(VERDICT, historical=True, count=True, now_ms=2000))
    assert data.seq == 2 and data.timestamp == 2000
    m = {x.name: x for x in data.metrics}
    assert all(x.timestamp == 1714564800123 and x.is_historical for x in data.metrics)
    assert m["Inspection/Verdict"].value == "FAIL" and m["Inspection/Reject"].value is True
    assert m["Inspection/Score"].value == 0.8123 and m["Inspection/Seq"].value == 7
    assert m["Inspection/Regions"].value == 2 and m["Inspection/Part ID"].value == "P-9"
    assert m["Inspection/Captured At"].value == dt.datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=dt.timezone.utc)
    assert (m["Counts/Total"].value, m["Counts/Fail"].value, m["Counts/Pass"].value) == (1, 1, 0)
    # sent again after a reconnect (count=False): counts do not grow
    again = spb.DData.decode(node.verdict_data(VERDICT, historical=True, count=False, now_ms=3000))
    assert {x.name: x.value for x in again.metrics}["Counts/Total"] == 1


def test_fault_score_is_null() -> None:
    node = NodeState(TOPICS, "line1", "r1")
    fault = dict(VERDICT, verdict="FAULT", score=None, boxes=[])
    m = {x.name: x for x in spb.DData.decode(node.verdict_data(fault, historical=False, count=True,
                                                                now_ms=1)).metrics}
    assert m["Inspection/Score"].is_null and m["Inspection/Reject"].value is True
    assert m["Counts/Fault"].value == 1 and not m["Inspection/Verdict"].is_historical


def test_seq_wraps_255_to_0_and_rebirth_restarts_it() -> None:
    node = NodeState(TOPICS, "line1", "r1")
    node.birth(0)
    seqs = [spb.DData.decode(node.verdict_data(VERDICT, historical=False, count=True, now_ms=0)).seq
            for _ in range(300)]
    assert seqs[:3] == [2, 3, 4] and seqs[253] == 255 and seqs[254] == 0 and seqs[299] == 45
    (_, nb), (_, db) = node.birth(0)
    assert (spb.NBirth.decode(nb).seq, spb.DBirth.decode(db).seq) == (0, 1)


def test_live_values_reach_the_next_birth_historical_ones_do_not() -> None:
    node = NodeState(TOPICS, "line1", "r1")
    node.verdict_data(dict(VERDICT, verdict="PASS", seq=1), historical=False, count=True, now_ms=0)
    node.verdict_data(dict(VERDICT, verdict="FAIL", seq=0), historical=True, count=True, now_ms=0)
    node.status_data({"capture": {"state": "stalled"}, "model_id": "m-2", "profile": {"revision": 3}}, 0,
                     born=False)
    m = {x.name: x.value for x in spb.DBirth.decode(node.birth(0)[1][1]).metrics}
    assert m["Inspection/Verdict"] == "PASS" and m["Inspection/Seq"] == 1
    assert m["Camera/State"] == "stalled" and m["Model/ID"] == "m-2" and m["Profile/Revision"] == 3
    assert m["Counts/Total"] == 2


def test_status_ddata_only_for_changes() -> None:
    node = NodeState(TOPICS, "line1", "r1")
    node.birth(0)
    raw = node.status_data({"capture": {"state": "running"}}, 5, born=True)
    assert raw is not None
    data = spb.DData.decode(raw)
    assert data.seq == 2 and [(m.name, m.value) for m in data.metrics] == [("Camera/State", "running")]
    assert node.status_data({"capture": {"state": "running"}}, 6, born=True) is None


def test_ndeath_carries_the_sessions_bdseq_without_seq() -> None:
    node = NodeState(TOPICS, "line1", "r1")
    raw = node.death(9, 256 + 3)
    death = spb.NDeath.decode(raw)
    assert (death.bd_seq_metric.name, death.bd_seq_metric.value) == ("bdSeq", 3)
    assert not spb._protobuf.sparkplug_b_pb2.Payload.FromString(raw).HasField("seq")


def test_bdseq_file(tmp_path: Path) -> None:
    path = tmp_path / "state" / "sparkplug.bdseq"
    assert read_bd_seq(path) == 255  # so that the first session is 0
    write_bd_seq(path, 17)
    assert read_bd_seq(path) == 17
    path.write_text("garbage")
    assert read_bd_seq(path) == 255
    path.write_text("9" * 100000)  # a huge file is not read whole
    assert 0 <= read_bd_seq(path) <= 255
