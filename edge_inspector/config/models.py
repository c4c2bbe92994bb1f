"""Typed configuration models. Every field is documented; unknown keys are rejected by the loader.

Paths are resolved relative to the config file's directory by the loader, never the working directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal


@dataclass
class SourceConfig:
    """Where frames come from."""

    kind: Literal["video", "camera", "url", "folder"] = "video"
    path: Path | None = None  # video file or image folder
    device: int | str | None = None  # camera index (0) or V4L2 device path (/dev/video0)
    url: str | None = None  # rtsp://, http://, or a GStreamer pipeline ending in appsink
    loop: bool = False  # replay a video file / folder forever
    pacing: Literal["fastest", "realtime"] = "fastest"  # file replay: wait for the scorer, or behave like a live camera
    fps: float | None = None  # realtime pacing rate; None = the source's own rate
    queue_size: int = 4  # bounded queue between capture and scorer
    width: int | None = None  # requested camera resolution
    height: int | None = None
    reconnect_seconds: float = 2.0  # live sources: wait before reopening a stalled stream
    max_consecutive_failures: int = 50  # unreadable frames in a row before a live source is reopened


@dataclass
class ModelConfig:
    """Which trained model scores the frames and on what backend."""

    path: Path | None = None  # model directory written by `edge-inspector train`
    backend: Literal["torch", "onnxruntime", "tensorrt"] = "torch"
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    backbone_weights: Path | None = None  # ImageNet ResNet-50 weights for training the feature autoencoder


@dataclass
class MorphologyConfig:
    """Cleanup of the thresholded anomaly mask before contour search (kernel sizes in pixels, 0 = off)."""

    open: int = 3
    close: int = 5


@dataclass
class InspectionConfig:
    """How an anomaly map becomes a verdict."""

    threshold: float | Literal["auto"] = "auto"  # image score threshold; auto = the model's calibrated one
    pixel_threshold: float | Literal["auto"] = "auto"  # anomaly-map threshold for regions
    min_defect_area: int = 30  # regions smaller than this many pixels are ignored
    require_region: bool = True  # FAIL only when at least one region survives the area filter
    morphology: MorphologyConfig = field(default_factory=MorphologyConfig)
    max_boxes: int = 20  # report at most this many regions, largest peak first
    deadline_ms: float | None = None  # a frame decided later than this after capture is reported as FAULT


@dataclass
class MqttConfig:
    """MQTT broker and topics (contract documented in docs/mqtt-contract.md)."""

    enabled: bool = True
    host: str = "localhost"
    port: int = 1883
    client_id: str | None = None  # default: edge-inspector-<station_id>
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: Path | None = None
    topic_prefix: str = "edge-inspector"
    keepalive: int = 30
    qos: int = 1
    publish_timeout: float = 5.0  # seconds to wait for PUBACK before counting a publish as unconfirmed
    connect_timeout: float = 10.0


@dataclass
class OutputConfig:
    """What the daemon writes to disk."""

    dir: Path | None = None  # base dir; default $STATE_DIRECTORY or ./edge-inspector-state next to the config
    audit_log: Path | None = None  # default <dir>/audit.jsonl
    evidence_dir: Path | None = None  # default <dir>/evidence
    save_pass_evidence: bool = False  # also keep annotated PASS frames
    annotated_video: Path | None = None  # optional video of every annotated frame


@dataclass
class Config:
    """The whole daemon configuration (one YAML file)."""

    station_id: str = "station-1"
    source: SourceConfig = field(default_factory=SourceConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    inspection: InspectionConfig = field(default_factory=InspectionConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
