"""The reject bridge process: verdicts (and triggers or capture notices) in over MQTT, pulses out, status on a
retained topic.

One MQTT connection (persistent session, QoS 1, a fixed client id, so the broker queues verdicts across a short
outage; whatever comes back too late is counted, never fired), one firing thread, and the caller's thread
publishing the status every `status.interval_s` until the stop event is set.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ..config.redact import cap
from ..publish.capture_notice import read_capture
from ..publish.log_throttle import KindThrottles
from ..service.triggers import TriggerError, parse_trigger
from .config import BridgeConfig
from .messages import MessageError, check_size, parse_verdict
from .outputs import Output
from .schedulers import build_schedule, schedule_detail
from .status import percentiles, status_payload, status_topic

log = logging.getLogger(__name__)


class RejectBridge:
    """Build with a config and an output; run(stop) blocks until stop is set."""

    def __init__(self, cfg: BridgeConfig, output: Output) -> None:
        self.cfg, self.output = cfg, output
        m = cfg.mqtt
        self.prefix = f"{m.topic_prefix}/{cfg.station}"
        self.verdict_topic, self.trigger_topic = f"{self.prefix}/verdict", f"{self.prefix}/trigger"
        self.capture_topic = f"{self.prefix}/captured"
        self.topic = status_topic(m.topic_prefix, cfg.station)
        self.planner, self.firing = build_schedule(cfg, output, on_fire=self._fired)  # delay or encoder mode
        self.drops = {"oversize": 0, "retained": 0, "invalid": 0, "trigger_refused": 0, "capture_refused": 0}
        self.connected = threading.Event()
        self.reconnects = 0
        self._warnings = KindThrottles()  # one warning per kind of refused message a minute at most
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, clean_session=False,
                                  client_id=m.client_id or f"edge-inspector-reject-bridge-{cfg.station}")
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 5)
        self.client.will_set(self.topic, status_payload(cfg.station, "offline", time.time(), clean=False),
                             qos=1, retain=True)
        self._auth()

    def _auth(self) -> None:
        m = self.cfg.mqtt
        password = None
        if m.password_file is not None:
            try:
                password = m.password_file.read_text(encoding="utf-8").strip()[:1024]
            except OSError as exc:
                from ..errors import UserError

                raise UserError(f"mqtt.password_file {m.password_file}: {exc.strerror or exc}") from None
        from ..publish.mqtt_auth import apply_auth

        apply_auth(self.client, username=m.username, password=password, tls=m.tls, ca_file=m.ca_file,
                   cert_file=m.cert_file, key_file=m.key_file)

    # MQTT thread -------------------------------------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, rc: Any, props: object) -> None:
        if getattr(rc, "is_failure", False):
            log.error("MQTT broker refused the connection: %s", rc)
            return
        announced = {"triggers": self.trigger_topic, "captures": self.capture_topic}.get(self.cfg.announce)
        topics = [(self.verdict_topic, 1)] + ([(announced, 1)] if announced else [])
        client.subscribe(topics)
        self.connected.set()
        self.publish_status()

    def _on_disconnect(self, client: mqtt.Client, *args: object) -> None:
        if self.connected.is_set():
            self.reconnects += 1
            log.warning("MQTT connection lost; reconnecting (verdicts that come back late are not fired)")
        self.connected.clear()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            self.handle(msg.topic, bytes(msg.payload), msg.retain, time.time())
        except Exception:  # noqa: BLE001 - a bug must not kill paho's network thread and stop the bridge
            log.exception("reject bridge: message on %s not handled", cap(msg.topic, 120))

    def handle(self, topic: str, payload: bytes, retained: bool, now: float) -> None:
        """One message: bounded, checked, planned. Never raises for bad input (counted and warned)."""
        try:
            check_size(payload, self.cfg.mqtt.max_message_bytes)
        except MessageError as exc:
            return self._refuse("oversize", f"{topic}: {exc}")
        if retained:  # a retained verdict or trigger is from the past: never an instruction
            return self._refuse("retained", f"{topic}: retained message dropped")
        if topic == self.trigger_topic:
            try:
                part_id, sent = parse_trigger(payload)
            except TriggerError as exc:
                return self._refuse("trigger_refused", f"trigger refused: {exc}")
            planned = self.planner.on_trigger(part_id, sent, now)
            self.firing.schedule([planned] if planned else [])
            return None
        if topic == self.capture_topic:
            try:
                notice = read_capture(payload, self.cfg.station, self.cfg.mqtt.max_message_bytes)
            except MessageError as exc:
                return self._refuse("capture_refused", f"capture notice refused: {exc}")
            planned = self.planner.on_capture(notice.key, notice.captured_ts, now)
            self.firing.schedule([planned] if planned else [])
            return None
        try:
            verdict = parse_verdict(payload, self.cfg.station, self.cfg.mqtt.max_message_bytes)
        except MessageError as exc:
            return self._refuse("invalid", f"verdict refused: {exc}")
        self.firing.schedule(self.planner.on_verdict(verdict, now))
        return None

    def _refuse(self, kind: str, text: str) -> None:
        self.drops[kind] += 1
        if self._warnings.hit(kind) is not None:
            log.warning("%s (%d %s so far)", text[:300], self.drops[kind], kind)

    def _fired(self, what: str, planned_at: float, written: float) -> None:
        log.info("fired %s planned %.3f written %.3f (%+.1f ms)", what, planned_at, written,
                 (written - planned_at) * 1000.0)

    # status ------------------------------------------------------------------------------------------------
    def detail(self) -> dict[str, object]:
        f = self.firing
        return {"output": {"target": self.output.describe(), "state": "error" if f.last_error else "ok",
                           "errors": f.output_errors, "last_error": f.last_error, "edges": f.edges},
                **schedule_detail(self.cfg, f),
                "counts": {**self.planner.snapshot(), **self.drops, "queue_overflow": f.overflow},
                "jitter_ms": percentiles(list(f.jitter_ms)), "mqtt": {"reconnects": self.reconnects}}

    def publish_status(self, state: str = "online", clean: bool | None = None) -> mqtt.MQTTMessageInfo:
        payload = status_payload(self.cfg.station, state, time.time(), clean=clean, detail=self.detail())
        return self.client.publish(self.topic, payload, qos=1, retain=True)

    def run(self, stop: threading.Event) -> None:
        """Connect (retrying in the background), fire until stop is set, then publish a clean offline status."""
        m = self.cfg.mqtt
        self.firing.start()
        self.client.connect_async(m.host, m.port, keepalive=m.keepalive)
        self.client.loop_start()
        s = self.cfg.schedule
        where = (f"delay {s.delay_ms:.0f} ms" if s.encoder is None
                 else f"encoder {s.encoder.host}:{s.encoder.port} +{s.encoder.counts_to_ejector} counts")
        log.info("reject bridge for station %s: %s, %s, pulse %.0f ms, parts from %s",
                 self.cfg.station, self.output.describe(), where, s.pulse_ms, self.cfg.announce)
        try:
            while not stop.wait(self.cfg.status_interval_s):
                if self.connected.is_set():
                    self.publish_status()
        finally:
            self.firing.stop()
            if self.connected.is_set():
                info = self.publish_status("offline", clean=True)
                with contextlib.suppress(RuntimeError, ValueError):  # not queued: the will says offline
                    info.wait_for_publish(timeout=3.0)
            self.connected.clear()  # a stop, not a lost connection
            self.client.disconnect()
            self.client.loop_stop()
            self.output.close()
