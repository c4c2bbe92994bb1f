"""Checks across fields, after the types are right: the source kind decides which field is required, a password
needs a username, numbers are in range, topic names are MQTT-safe. The HTTP servers' checks are http_checks.py."""

from __future__ import annotations

import math

from .http_checks import check_http_servers
from .key_problem import KeyProblem, describe, positive
from .models import Config
from .sparkplug_checks import check_sparkplug


def check_consistency(cfg: Config) -> None:
    """Cross-field checks (the kind of source decides which field is required, and so on)."""
    src = cfg.source
    needed = {"video": "path", "folder": "path", "camera": "device", "url": "url"}.get(src.kind)
    if needed is not None and getattr(src, needed) is None:
        raise KeyProblem(f"source.{needed}", f"required when source.kind is {src.kind}")
    positive("source.queue_size", src.queue_size)
    if src.fps is not None and src.fps <= 0:
        raise KeyProblem("source.fps", f"expected a positive number, got {src.fps}")
    if cfg.model.path is None:
        raise KeyProblem("model.path", "required: the model directory written by `edge-inspector train`")
    if cfg.model.defect_types is not None and cfg.model.defect_types == cfg.model.path:
        raise KeyProblem("model.defect_types", "must differ from model.path (a second model: the type classifier)")
    insp = cfg.inspection
    for key in ("threshold", "pixel_threshold"):
        value = getattr(insp, key)
        if value != "auto" and not (isinstance(value, float) and math.isfinite(value)):
            raise KeyProblem(f"inspection.{key}", f"expected a number or auto, got {value!r}")
    if insp.min_defect_area < 0:
        raise KeyProblem("inspection.min_defect_area", f"expected >= 0, got {insp.min_defect_area}")
    for key in ("open", "close"):
        if getattr(insp.morphology, key) < 0:
            raise KeyProblem(f"inspection.morphology.{key}", "expected a kernel size >= 0")
    positive("inspection.max_boxes", insp.max_boxes)
    mq = cfg.mqtt
    if not 1 <= mq.port <= 65535:
        raise KeyProblem("mqtt.port", f"expected 1..65535, got {mq.port}")
    if mq.qos not in (0, 1, 2):
        raise KeyProblem("mqtt.qos", f"expected 0, 1 or 2, got {mq.qos}")
    if mq.password is not None and mq.password_file is not None:
        raise KeyProblem("mqtt.password_file", "given together with mqtt.password: keep only the file")
    if mq.username is None and (mq.password is not None or mq.password_file is not None):
        raise KeyProblem("mqtt.username", "required when a password is given")
    for key in ("ca_file", "cert_file", "key_file"):
        if getattr(mq, key) is not None and not mq.tls:
            raise KeyProblem(f"mqtt.{key}", "given but mqtt.tls is false")
    if (mq.cert_file is None) != (mq.key_file is None):
        raise KeyProblem("mqtt.key_file" if mq.key_file is None else "mqtt.cert_file",
                         "a client certificate needs both cert_file and key_file")
    _check_topic_level("mqtt.topic_prefix", mq.topic_prefix, allow_slash=True)
    if mq.commands and not mq.enabled:
        raise KeyProblem("mqtt.commands", "true but mqtt.enabled is false (commands arrive over MQTT)")
    if not 1 <= mq.max_message_bytes <= 268_435_455:  # MQTT's own maximum
        raise KeyProblem("mqtt.max_message_bytes", f"expected 1..268435455 (bytes), got {mq.max_message_bytes}")
    if not (math.isfinite(mq.command_max_age_s) and mq.command_max_age_s >= 0):
        raise KeyProblem("mqtt.command_max_age_s", f"expected a number of seconds >= 0 (0 = off), got "
                                                   f"{mq.command_max_age_s}")
    _check_ranges(cfg)
    _check_tiling_and_trigger(cfg)
    check_http_servers(cfg)
    check_sparkplug(cfg)
    _check_topic_level("station_id", cfg.station_id, allow_slash=False)


def _check_ranges(cfg: Config) -> None:
    src, mq, out, sp = cfg.source, cfg.mqtt, cfg.output, cfg.spool
    if src.bit_depth not in (10, 12, 14, 16):
        raise KeyProblem("source.bit_depth", f"expected 10, 12, 14 or 16, got {src.bit_depth}")
    for key, value in (("source.open_timeout_ms", src.open_timeout_ms), ("source.read_timeout_ms", src.read_timeout_ms),
                       ("mqtt.max_inflight", mq.max_inflight), ("spool.max_entries", sp.max_entries)):
        positive(key, value)
    positive_numbers = (
        ("source.stall_seconds", src.stall_seconds), ("source.reconnect_seconds", src.reconnect_seconds),
        ("source.reconnect_max_seconds", src.reconnect_max_seconds),
        ("mqtt.keepalive", float(mq.keepalive)), ("mqtt.reconnect_max_delay", mq.reconnect_max_delay),
        ("mqtt.publish_timeout", mq.publish_timeout), ("mqtt.connect_timeout", mq.connect_timeout),
        ("spool.max_age_hours", sp.max_age_hours), ("output.audit_max_mb", out.audit_max_mb),
        ("output.evidence_max_age_days", out.evidence_max_age_days), ("output.evidence_max_mb", out.evidence_max_mb),
        ("output.shutdown_grace", out.shutdown_grace),
    )
    for key, number in positive_numbers:
        if not (math.isfinite(number) and number > 0):
            raise KeyProblem(key, f"expected a positive number, got {number}")
    non_negative = (
        ("mqtt.stats_interval", mq.stats_interval), ("output.min_free_mb", out.min_free_mb),
        ("spool.keep_delivered", float(sp.keep_delivered)), ("output.audit_keep", float(out.audit_keep)),
    )
    for key, number in non_negative:
        if not (math.isfinite(number) and number >= 0):
            raise KeyProblem(key, f"expected a number >= 0, got {number}")
    peak = cfg.inspection.min_region_peak
    if not (math.isfinite(peak) and peak >= 0):
        raise KeyProblem("inspection.min_region_peak", f"expected a number >= 0, got {peak}")
    if cfg.inspection.max_scorer_failures < 0:
        raise KeyProblem("inspection.max_scorer_failures",
                         f"expected an integer >= 0 (0 = never give up), got {cfg.inspection.max_scorer_failures}")
    if cfg.model.threads < 0:
        raise KeyProblem("model.threads", f"expected an integer >= 0, got {cfg.model.threads}")
    positive("model.max_batch", cfg.model.max_batch)
    deadline = cfg.inspection.deadline_ms
    if deadline is not None and not (math.isfinite(deadline) and deadline > 0):
        raise KeyProblem("inspection.deadline_ms", f"expected a positive number or null, got {deadline}")


def _check_topic_level(key: str, value: str, allow_slash: bool) -> None:
    """MQTT topic names: no wildcards, no empty level, not a $SYS-like name, no NUL, not too long."""
    bad = "+#\x00" + ("" if allow_slash else "/")
    if not value or any(c in value for c in bad) or value.startswith("$") or len(value.encode()) > 1024 \
            or (allow_slash and "" in value.split("/")):
        what = "levels separated by /" if allow_slash else "one level"
        raise KeyProblem(key, f"expected a topic name ({what}; no + or # wildcards, no empty level, not starting "
                              f"with $), got {describe(value)}")


def _check_tiling_and_trigger(cfg: Config) -> None:
    tiles = cfg.model.tiling
    try:
        tiles.spec()
    except ValueError as exc:
        key, _, problem = str(exc).partition(": ")
        raise KeyProblem(f"model.{key}", problem) from None
    t = cfg.trigger
    if not (math.isfinite(t.window_ms) and t.window_ms > 0):
        raise KeyProblem("trigger.window_ms", f"expected a positive number, got {t.window_ms}")
    if t.mode == "mqtt" and not cfg.mqtt.enabled:
        raise KeyProblem("trigger.mode", "mqtt but mqtt.enabled is false (triggers arrive over MQTT)")
