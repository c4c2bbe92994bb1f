"""Sinks that leave the process: MQTT contract and publisher, audit log, evidence archive."""

from .audit import AuditLog, audit_files, read_audit, read_audit_all
from .contract import (
    CONTRACT_VERSION,
    SCHEMA,
    STATUS_SCHEMA,
    Topics,
    encode,
    stats_payload,
    status_payload,
    topics,
    verdict_payload,
)
from .evidence import EvidenceWriter
from .mqtt_client import MqttConnectError, MqttConnection
from .retention import PruneResult, RetentionJanitor, prune_evidence
from .sender import SenderStats, VerdictSender
from .spool import Spool, SpoolEntry, SpoolError, SpoolStats

__all__ = [
    "CONTRACT_VERSION",
    "SCHEMA",
    "STATUS_SCHEMA",
    "AuditLog",
    "EvidenceWriter",
    "MqttConnectError",
    "MqttConnection",
    "PruneResult",
    "RetentionJanitor",
    "SenderStats",
    "Spool",
    "SpoolEntry",
    "SpoolError",
    "SpoolStats",
    "Topics",
    "audit_files",
    "encode",
    "prune_evidence",
    "read_audit",
    "read_audit_all",
    "stats_payload",
    "status_payload",
    "topics",
    "VerdictSender",
    "verdict_payload",
]
