"""Write before send without a broker: the edge node takes every verdict into its outbox while nothing listens,
publishes nothing, and leaves them all there at stop for the next run (a daemon restart replays them)."""

from __future__ import annotations

import json
from pathlib import Path

from edge_inspector.config.models import MqttConfig
from edge_inspector.publish.broker import free_port
from edge_inspector.publish.spool import Spool
from edge_inspector.sparkplug.edge_node import NodeIds, SparkplugEdgeNode


def test_no_broker_every_verdict_stays_in_the_outbox(tmp_path: Path) -> None:
    path = tmp_path / "sparkplug-spool.sqlite"
    node = SparkplugEdgeNode(NodeIds("g", "n", "d", "host"), MqttConfig(port=free_port(), reconnect_max_delay=1.0),
                             "st", "r1", Spool(path), client_id="t", bd_seq_file=tmp_path / "bd")
    node.start()
    for seq in range(50):
        node.submit("r1", seq, json.dumps({"seq": seq, "verdict": "PASS"}).encode(), False)
    node.stop(0.5)
    stats = node.stats()
    assert (stats.published, stats.births, stats.connected) == (0, 0, False)
    again = Spool(path)
    try:
        assert [e.seq for e in again.pending(limit=100)] == list(range(50))
    finally:
        again.close()
    assert (tmp_path / "bd").read_text().strip() == "0"  # the first session's bdSeq, armed in the will
