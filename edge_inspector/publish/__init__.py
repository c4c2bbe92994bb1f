"""Sinks that leave the process: MQTT contract and publisher, audit log, evidence archive."""

from .audit import AuditLog, read_audit
from .contract import (
    CONTRACT_VERSION,
    SCHEMA,
    STATUS_SCHEMA,
    Topics,
    encode,
    status_payload,
    topics,
    verdict_payload,
)
from .evidence import EvidenceWriter
from .mqtt_client import MqttConnectError, MqttPublisher, PublisherStats

__all__ = [
    "CONTRACT_VERSION",
    "SCHEMA",
    "STATUS_SCHEMA",
    "AuditLog",
    "EvidenceWriter",
    "MqttConnectError",
    "MqttPublisher",
    "PublisherStats",
    "Topics",
    "encode",
    "read_audit",
    "status_payload",
    "topics",
    "verdict_payload",
]
