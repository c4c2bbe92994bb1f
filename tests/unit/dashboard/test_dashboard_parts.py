"""The dashboard's pure parts: token file, upload decoding, CSV of audited verdicts, config checks."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from edge_inspector.config import ConfigError, load_config
from edge_inspector.dashboard import DashboardError, read_token
from edge_inspector.dashboard.csv_export import parse_time, verdicts_csv
from edge_inspector.dashboard.inspect_images import decode_upload
from edge_inspector.publish import AuditLog
from edge_inspector.publish.contract import verdict_payload
from edge_inspector.types import Inspection, Verdict


@pytest.mark.parametrize(("content", "message"), [
    (None, "cannot be read"),
    ("short", "at least 16 characters"),
    ("two words of token text here", "without spaces"),
    ("", ": empty"),  # config/secrets.read_secret's rule, as for the MQTT password
    ("0123456789abcdef0123\n0123456789abcdef0123\n", "2 lines; expected the secret alone on one line"),
])
def test_a_bad_token_file_is_refused_naming_it(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "dashboard.token"
    if content is not None:
        path.write_text(content)
        path.chmod(0o600)  # a token file others can read is refused (tests/unit/config/test_file_doors.py)
    with pytest.raises(DashboardError, match=message) as info:
        read_token(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_the_token_is_read_without_surrounding_whitespace(tmp_path: Path) -> None:
    path = tmp_path / "t"
    path.write_text("  0123456789abcdef0123\n")
    path.chmod(0o600)
    assert read_token(path) == "0123456789abcdef0123"


def test_uploads_must_be_png_or_jpeg() -> None:
    image = np.zeros((8, 10, 3), np.uint8)
    image[2:4, 3:5] = (10, 200, 30)
    for ext in (".png", ".jpg"):
        decoded = decode_upload(cv2.imencode(ext, image)[1].tobytes(), f"part{ext}")
        assert decoded.shape == (8, 10, 3)
    with pytest.raises(ValueError, match=r"^notes.txt: not a PNG or JPEG image$"):
        decode_upload(b"hello", "notes.txt")
    with pytest.raises(ValueError, match="broken.png: PNG without an IHDR header"):
        decode_upload(b"\x89PNG\r\n\x1a\n" + bytes(64), "broken.png")
    with pytest.raises(ValueError, match="could not be decoded"):
        decode_upload(cv2.imencode(".png", image)[1].tobytes()[:40], "truncated.png")
    with pytest.raises(ValueError, match="not a PNG or JPEG"):
        decode_upload(cv2.imencode(".bmp", image)[1].tobytes(), "part.bmp")


def verdict(seq: int, decided_at: float, v: Verdict = Verdict.PASS) -> Inspection:
    return Inspection(seq=seq, source_index=seq, name=f"frame_{seq:06d}", captured_at=decided_at - 0.05,
                      decided_at=decided_at, verdict=v, score=0.3 if v is not Verdict.FAULT else None,
                      threshold=0.5, reason="because", latency_ms=50.0, model_id="m")


def test_csv_export_reads_rotated_files_skips_events_and_filters_the_range(tmp_path: Path) -> None:
    t0 = parse_time("2026-11-30T08:00:00Z", "from")
    assert t0 is not None
    log = tmp_path / "audit.jsonl"
    clock = [t0]
    with AuditLog(log, max_bytes=2000, rotate_daily=False, keep=50, clock=lambda: clock[0]) as audit:
        for seq in range(12):
            clock[0] = t0 + seq * 60
            audit.write(verdict_payload(verdict(seq, t0 + seq * 60, Verdict.FAIL if seq % 4 == 0 else Verdict.PASS),
                                        "s1", "run-1"), evidence=None)
            audit.write_event({"kind": "command", "id": f"c{seq}"})
    assert len(list(tmp_path.glob("audit-*.jsonl"))) >= 2, "the test needs rotated files"
    rows = list(csv.DictReader(io.StringIO("".join(verdicts_csv(log, None, None)))))
    assert [int(r["seq"]) for r in rows] == list(range(12))
    assert rows[4]["verdict"] == "FAIL" and rows[4]["station"] == "s1" and rows[4]["reason"] == "because"
    ranged = list(csv.DictReader(io.StringIO("".join(verdicts_csv(log, t0 + 120, t0 + 300)))))
    assert [int(r["seq"]) for r in ranged] == [2, 3, 4]


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-30T08:00:00Z", 1796025600.0),
    ("2026-11-30T08:00:00", 1796025600.0),  # naive is UTC
    ("2026-11-30T09:00:00+01:00", 1796025600.0),
    ("", None),
    (None, None),
])
def test_time_range_bounds_parse_as_iso_8601(text: str | None, expected: float | None) -> None:
    assert parse_time(text, "from") == expected


def test_a_bad_time_names_the_key() -> None:
    with pytest.raises(ValueError, match=r"^to: expected an ISO 8601 time"):
        parse_time("yesterday", "to")


@pytest.mark.parametrize(("dashboard", "key"), [
    ({"port": 0}, "dashboard.port"),
    ({"what_if_frames": -1}, "dashboard.what_if_frames"),
    ({"what_if_max_mb": 0}, "dashboard.what_if_max_mb"),
    ({"max_upload_mb": -1}, "dashboard.max_upload_mb"),
    ({"threads": 0}, "dashboard.threads"),
    ({"colour": "red"}, "dashboard.colour"),
    ({"max_upload_megapixels": 0}, "dashboard.max_upload_megapixels"),
    ({"max_upload_megapixels": float("inf")}, "dashboard.max_upload_megapixels"),
    ({"requests_per_s": -1}, "dashboard.requests_per_s"),
    ({"request_burst": 5}, "dashboard.request_burst"),
    ({"allowed_hosts": "localhost"}, "dashboard.allowed_hosts"),
    ({"allowed_hosts": ["a"] * 33}, "dashboard.allowed_hosts"),
    ({"allowed_hosts": ["x" * 300]}, r"dashboard.allowed_hosts\[0\]"),
    ({"allowed_hosts": ["a b"]}, r"dashboard.allowed_hosts\[0\]"),
    ({"allowed_hosts": [7]}, r"dashboard.allowed_hosts\[0\]"),
    ({"host": "0.0.0.0", "allow_plain_http": True}, "dashboard.allowed_hosts"),
    ({"host": "192.0.2.7"}, "dashboard.host: 192.0.2.7 is reachable beyond this device"),
    ({"tls_proxy": "yes"}, "dashboard.tls_proxy"),
])
def test_bad_dashboard_config_names_the_key(tmp_path: Path, dashboard: dict[str, object], key: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"model": {"path": str(tmp_path)}, "source": {"kind": "video", "path": "x.avi"},
                                    "dashboard": dashboard}))
    with pytest.raises(ConfigError, match=key):
        load_config(path)
