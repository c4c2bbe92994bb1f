"""Typed configuration models. Every field is documented; unknown keys are rejected by the loader.

Paths are resolved relative to the config file's directory by the loader, never the working directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ..backends.registry import BACKEND_NAMES

if TYPE_CHECKING:
    from ..model.tiling import TileSpec

    BackendName = str
else:  # the registry is the one list of backend names; the loader checks a Literal's values
    BackendName = Literal[BACKEND_NAMES]


@dataclass
class GenICamConfig:
    """An industrial GigE Vision / USB3 Vision camera through Aravis (source.kind: genicam)."""

    camera: str | None = None  # Aravis device id (e.g. "Aravis-Fake-GV01", a serial or an IP); None = the first found
    pixel_format: str | None = None  # Mono8, Mono16, BayerRG8, RGB8, ...; None = the camera's current one
    exposure_us: float | None = None  # exposure time in microseconds; None = leave as configured in the camera
    gain: float | None = None  # analog gain (camera units); None = leave
    frame_rate: float | None = None  # free-running acquisition rate; None = leave
    trigger: Literal["off", "software", "line"] = "off"  # off: free running; software: TriggerSoftware; line: hardware
    trigger_source: str = "Line1"  # for trigger: line, the camera's input line
    timeout_ms: int = 2000  # a buffer not delivered within this long is a failed read
    buffers: int = 8  # buffers queued in the stream


@dataclass
class SourceConfig:
    """Where frames come from."""

    kind: Literal["video", "camera", "url", "folder", "genicam"] = "video"
    path: Path | None = None  # video file or image folder
    device: int | str | None = None  # camera index (0) or V4L2 device path (/dev/video0)
    url: str | None = None  # rtsp://, http://, or a GStreamer pipeline ending in appsink
    loop: bool = False  # replay a video file / folder forever
    pacing: Literal["fastest", "realtime"] = "fastest"  # file replay: wait for the scorer, or behave like a live camera
    fps: float | None = None  # realtime pacing rate; None = the source's own rate
    queue_size: int = 4  # bounded queue between capture and scorer
    width: int | None = None  # requested camera resolution
    height: int | None = None
    reconnect_seconds: float = 2.0  # live sources: wait before reopening a stalled stream ...
    reconnect_max_seconds: float = 30.0  # ... doubling after each failed attempt up to this
    max_consecutive_failures: int = 50  # failed reads in a row before a live source is reopened
    bit_depth: int = 16  # significant bits of 16-bit frames (10, 12, 14 or 16): value >> (bit_depth - 8)
    open_timeout_ms: int = 10000  # network streams (FFmpeg): give up opening after this long
    read_timeout_ms: int = 5000  # network streams (FFmpeg): a read that waits longer fails
    stall_seconds: float = 10.0  # no frame for this long: capture is "stalled" (status topic, watchdog stops)
    idle_ok: bool = False  # a source that may legitimately wait for parts (trigger): no frame is not a stall
    genicam: GenICamConfig = field(default_factory=GenICamConfig)  # source.kind: genicam


@dataclass
class TilingConfig:
    """Native-resolution scoring: frames cut into overlapping model-sized tiles (docs/benchmarks.md, Tiling)."""

    enabled: bool = False
    working_size: int = 0  # the frame's longer side is resized to this first (aspect kept; 0 = native)
    overlap: int = 32  # pixels shared by neighbouring tiles (blended)
    score: Literal["max", "topk"] = "max"  # the frame's score: the stitched map's max, or its top_k mean
    top_k: int = 100

    def spec(self) -> TileSpec | None:
        """The TileSpec for BackendOptions (None when off); the tile size comes from the model."""
        from ..model.tiling import TileSpec

        return TileSpec(0, self.overlap, self.working_size, self.score, self.top_k) if self.enabled else None


@dataclass
class ModelConfig:
    """Which trained model scores the frames and on what backend."""

    path: Path | None = None  # model directory written by `edge-inspector train` or `export`
    # auto: TensorRT engine > CUDA (torch or ONNX Runtime) > ONNX Runtime on CPU > torch on CPU, by what
    # the model directory holds and what is installed; the choice and the reason are logged.
    backend: BackendName = "auto"  # auto or a name in backends/registry.py REGISTRY
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: Literal["auto", "fp32", "fp16", "bf16", "int8"] = "auto"  # auto: fp16 on a GPU, fp32 on a CPU
    threads: int = 0  # CPU inference threads (0 = the library's default: all cores)
    max_batch: int = 8  # the largest batch sent to the device in one call
    cuda_graph: bool = True  # torch on CUDA: replay the scoring step as a CUDA graph
    backbone_weights: Path | None = None  # ImageNet ResNet-50 weights for training the feature autoencoder
    tiling: TilingConfig = field(default_factory=TilingConfig)
    defect_types: Path | None = None  # model dir of `train --kind defect-types`: names the defect of each FAIL


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
    min_region_peak: float = 0.0  # regions whose highest map value is below this are ignored (0 = off)
    profile: Path | None = None  # a calibration profile (`edge-inspector calibrate`): its thresholds, region
    # filters and ROI replace the ones above; refused when it was calibrated for another model
    require_region: bool = True  # FAIL only when at least one region survives the area filter
    morphology: MorphologyConfig = field(default_factory=MorphologyConfig)
    max_boxes: int = 20  # report at most this many regions, largest peak first
    deadline_ms: float | None = None  # a frame decided later than this after capture is reported as FAULT
    # this many scorer failures in a row (a sticky CUDA error, a corrupt engine): said on the status topic, then
    # the daemon exits 1 so systemd restarts it, instead of FAULTing every part forever (0 = never)
    max_scorer_failures: int = 50


@dataclass
class MqttConfig:
    """MQTT broker and topics (contract documented in docs/mqtt-contract.md)."""

    enabled: bool = True
    host: str = "localhost"
    port: int = 1883
    client_id: str | None = None  # default: edge-inspector-<station_id>
    username: str | None = None
    password: str | None = None  # plaintext in the YAML still works, with a warning: prefer password_file
    # a file holding the password (e.g. /etc/edge-inspector/line1.mqtt-password, mode 0640); without either, a
    # username takes the password from systemd's $CREDENTIALS_DIRECTORY/mqtt-password (LoadCredential=)
    password_file: Path | None = None
    tls: bool = False
    ca_file: Path | None = None  # the CA that signed the broker's certificate (None: the system's CAs)
    cert_file: Path | None = None  # client certificate (PEM), for brokers that authenticate clients by certificate
    key_file: Path | None = None  # its private key (PEM)
    topic_prefix: str = "edge-inspector"
    keepalive: int = 30
    qos: int = 1
    publish_timeout: float = 5.0  # seconds to wait for the offline status PUBACK at shutdown
    connect_timeout: float = 10.0
    reconnect_max_delay: float = 5.0  # reconnect backoff grows from 0.5 s to this many seconds
    max_inflight: int = 100  # verdict messages sent and not yet acknowledged (the sender's window)
    stats_interval: float = 10.0  # seconds between `stats` messages (0 = none)
    # accept threshold commands on {prefix}/{station}/command (docs/mqtt-contract.md, "Commands"); access
    # control is the broker's ACL: only the technicians' account may write a station's command topic
    commands: bool = False
    max_message_bytes: int = 65536  # a command or trigger message longer than this is dropped unread (counted)
    command_max_age_s: float = 60.0  # a command whose `ts` is older than this (or as far ahead) is refused; 0 = off
    # a notice on {prefix}/{station}/captured the moment each frame is numbered, before it is judged: a reject
    # bridge (parts.announce: captures) then rejects a part whose verdict is late or never comes
    announce_captures: bool = True


@dataclass
class SpoolConfig:
    """The durable outbox: every verdict is written here before it is published (SQLite, WAL)."""

    path: Path | None = None  # default <output.dir>/spool.sqlite
    fsync: Literal["normal", "full"] = "normal"  # normal: survives a process crash; full: also a power cut
    max_entries: int = 1_000_000  # undelivered verdicts kept at most; past it the oldest are dropped (counted)
    max_age_hours: float = 168.0  # undelivered verdicts older than this are dropped (counted)
    keep_delivered: int = 1000  # delivered verdicts kept for inspection before they are deleted


@dataclass
class OutputConfig:
    """What the daemon writes to disk."""

    dir: Path | None = None  # base dir; default $STATE_DIRECTORY or ./edge-inspector-state next to the config
    audit_log: Path | None = None  # default <dir>/audit.jsonl
    evidence_dir: Path | None = None  # default <dir>/evidence
    save_pass_evidence: bool = False  # also keep annotated PASS frames
    annotated_video: Path | None = None  # optional video of every annotated frame
    audit_max_mb: float = 100.0  # rotate audit.jsonl when it reaches this size ...
    audit_rotate_daily: bool = True  # ... or when the UTC day changes
    audit_keep: int = 30  # rotated audit files kept (oldest deleted first)
    evidence_max_age_days: float = 30.0  # evidence older than this is deleted
    evidence_max_mb: float = 2000.0  # evidence folder quota; oldest files deleted first
    min_free_mb: float = 500.0  # below this much free disk, evidence is skipped (counted); verdicts go on
    shutdown_grace: float = 10.0  # seconds SIGTERM may take to flush the spool and sinks (below TimeoutStopSec)


@dataclass
class DashboardConfig:
    """The web dashboard and HTTP command API (docs/dashboard.md), served beside the daemon."""

    enabled: bool = False
    host: str = "127.0.0.1"  # localhost unless the plant engineer binds it elsewhere
    port: int = 8088
    token_file: Path | None = None  # required when enabled: every POST needs `Authorization: Bearer <its content>`
    what_if_frames: int = 100  # last inspections kept (score + anomaly map) for what-if replays; 0 = none
    what_if_max_mb: float = 256.0  # ... within this much memory for their maps (a 1280x1024 map is 5 MB)
    max_upload_mb: float = 16.0  # the inspect page's upload limit
    max_upload_megapixels: float = 40.0  # an upload's size read from its header; above this it is refused (413)
    threads: int = 4  # HTTP worker threads
    allowed_hosts: list[str] = field(default_factory=list)  # Host names answered; empty: loopback + bound host
    tls_proxy: bool = False  # a TLS reverse proxy terminates in front (reads need the token, cookie Secure)
    allow_plain_http: bool = False  # acknowledges plain HTTP when bound beyond loopback without tls_proxy
    requests_per_s: float = 20.0  # per client address: a token bucket of this rate (history/what-if cost 5)
    request_burst: float = 60.0  # ... holding at most this many
    labels_dir: Path | None = None  # where technicians' defect-type labels of rejects go (MVTec layout); None: off
    defect_types: list[str] = field(default_factory=list)  # types the Rejects page suggests (free text allowed too)


@dataclass
class TriggerConfig:
    """Triggered operation: one frame = one part, with the part's id in its verdict (docs/mqtt-contract.md)."""

    # off: every frame is a part, no id; mqtt: the PLC publishes {"part_id": ...} on {prefix}/{station}/trigger
    # and the next frame within window_ms is that part; frame_id: the camera's frame id is the part id
    mode: Literal["off", "mqtt", "frame_id"] = "off"
    window_ms: float = 500.0  # mqtt: a trigger with no frame this long after it is published as FAULT
    fire_source: bool = True  # mqtt: also fire the source's software trigger (a GenICam camera in trigger mode)


@dataclass
class MetricsConfig:
    """Prometheus metrics and /healthz on a local HTTP port (docs/metrics.md)."""

    enabled: bool = False
    host: str = "127.0.0.1"  # localhost unless the plant engineer binds it elsewhere
    port: int = 9108
    broker_down_s: float = 30.0  # /healthz turns unhealthy when the broker connection is down this long


@dataclass
class SparkplugConfig:
    """A Sparkplug B edge node beside the contract, on the `mqtt` section's broker (docs/deploy.md, "Sparkplug B")."""

    enabled: bool = False
    group_id: str = "edge-inspector"  # the Sparkplug group: topics spBv1.0/{group_id}/...
    edge_node_id: str | None = None  # the edge node; default: station_id
    device_id: str = "inspection"  # the station's device under the node
    primary_host_id: str | None = None  # publish only while this host's STATE is online; unset: whenever connected
    client_id: str | None = None  # default edge-inspector-<station_id>-sparkplug (never the contract's)
    spool_path: Path | None = None  # the node's own outbox; default <output.dir>/sparkplug-spool.sqlite
    max_entries: int = 1_000_000  # verdicts held at most; past it the oldest are dropped (counted)
    max_age_hours: float = 168.0  # held verdicts older than this are dropped (counted)
    max_inflight: int = 100  # verdict DDATA sent and not yet acknowledged
    max_message_bytes: int = 65536  # an NCMD or STATE longer than this is dropped unread (counted)


@dataclass
class Config:
    """The whole daemon configuration (one YAML file)."""

    station_id: str = "station-1"
    source: SourceConfig = field(default_factory=SourceConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    inspection: InspectionConfig = field(default_factory=InspectionConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    spool: SpoolConfig = field(default_factory=SpoolConfig)
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    trigger: TriggerConfig = field(default_factory=TriggerConfig)
    sparkplug: SparkplugConfig = field(default_factory=SparkplugConfig)
