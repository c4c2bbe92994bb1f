"""The edge node from the station's config: its outbox (the spool, its own file), its bdSeq file, its ids."""

from __future__ import annotations

from ..config.models import Config
from ..config.sparkplug_checks import sparkplug_client_id
from ..publish.spool import Spool
from .edge_node import NodeIds, SparkplugEdgeNode


def build_edge_node(cfg: Config, run_id: str) -> SparkplugEdgeNode:
    """Open the outbox (SpoolError naming the file when it cannot) and make the node; start() connects."""
    sp = cfg.sparkplug
    assert sp.spool_path is not None, "config paths resolve sparkplug.spool_path"
    spool = Spool(sp.spool_path, fsync=cfg.spool.fsync, max_entries=sp.max_entries,
                  max_age_s=sp.max_age_hours * 3600.0)
    ids = NodeIds(sp.group_id, sp.edge_node_id or cfg.station_id, sp.device_id, sp.primary_host_id)
    return SparkplugEdgeNode(
        ids, cfg.mqtt, cfg.station_id, run_id, spool, client_id=sparkplug_client_id(cfg),
        bd_seq_file=sp.spool_path.with_name(sp.spool_path.name + ".bdseq"), max_inflight=sp.max_inflight,
        max_message_bytes=sp.max_message_bytes)
