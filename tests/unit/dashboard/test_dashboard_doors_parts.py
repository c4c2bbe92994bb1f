"""The dashboard doors' pure parts: image sizes from headers, Host names, the per-client token bucket, the
cached history reader and the CSV's relative evidence paths; crafted and random inputs."""

from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_inspector.calibration import Profile
from edge_inspector.calibration.history_cache import MAX_LIMIT, HistoryReader
from edge_inspector.dashboard.csv_export import relative_evidence
from edge_inspector.dashboard.doors import RateLimiter, allowed_hosts, host_name, is_loopback, session_value
from edge_inspector.dashboard.image_header import TooLarge, check_pixels, image_size
from edge_inspector.dashboard.inspect_images import decode_upload, fit_pixels


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height: signature, IHDR and a tiny compressed IDAT (never a real image)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(1000))) + \
        chunk(b"IEND", b"")


def jpeg_header(width: int, height: int) -> bytes:
    """A JPEG whose APP0 and SOF0 segments declare width x height (no scan data follows)."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + bytes(9)
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def test_the_pixel_size_comes_from_the_header_before_decoding() -> None:
    assert image_size(png_header(30000, 30000), "bomb.png") == (30000, 30000)
    assert image_size(jpeg_header(60000, 60000), "bomb.jpg") == (60000, 60000)
    real = np.zeros((7, 11, 3), np.uint8)
    for ext in (".png", ".jpg"):
        assert image_size(cv2.imencode(ext, real)[1].tobytes(), "real" + ext) == (11, 7)


@pytest.mark.parametrize(("data", "name", "size"), [
    (png_header(30000, 30000), "bomb.png", "30000x30000 pixels (900.0 MP)"),
    (jpeg_header(60000, 60000), "bomb.jpg", "60000x60000 pixels (3600.0 MP)"),
    (png_header(10000, 4001), "wide.png", "10000x4001 pixels (40.0 MP)"),
])
def test_a_decompression_bomb_is_refused_in_one_line_naming_the_file_and_size(data: bytes, name: str,
                                                                              size: str) -> None:
    assert len(data) < 2000
    with pytest.raises(TooLarge) as info:
        decode_upload(data, name, 40.0)
    text = str(info.value)
    assert text.startswith(f"{name}: {size} is above dashboard.max_upload_megapixels (40 MP)")
    assert "\n" not in text and len(text) < 200
    assert check_pixels(png_header(5000, 8000), "ok.png", 40.0) == (5000, 8000)  # exactly 40 MP is allowed


@pytest.mark.parametrize(("data", "message"), [
    (png_header(0, 10), "declares 0x10 pixels"),
    (b"\xff\xd8\xff\xda\x00\x02", "JPEG without a frame header"),
    (b"\xff\xd8\xff\xe0\x00\x01", "segment length 1"),
    (b"\xff\xd8\xff\xe0\x00\x04\x00\x00\x12\x34\x56\x78", "no marker at byte 8"),
    (b"GIF89a" + bytes(20), "not a PNG or JPEG"),
])
def test_damaged_headers_are_refused_naming_the_file(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=f"^up.bin: .*{message}"):
        image_size(data, "up.bin")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64), st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b""]))
def test_random_headers_give_a_size_or_one_line_value_error(tail: bytes, head: bytes) -> None:
    try:
        w, h = image_size(head + tail, "fuzz.bin")
    except ValueError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("fuzz.bin: ")
    else:
        assert w >= 1 and h >= 1


def test_a_large_upload_is_scaled_to_the_line_frame_area_with_its_aspect() -> None:
    image = np.zeros((3000, 4000, 3), np.uint8)
    small = fit_pixels(image, 640 * 480)
    assert small.shape[0] * small.shape[1] <= 640 * 480 and abs(small.shape[1] / small.shape[0] - 4 / 3) < 0.01
    assert fit_pixels(small, 640 * 480) is small


@pytest.mark.parametrize(("header", "name"), [
    ("localhost:8088", "localhost"), ("127.0.0.1", "127.0.0.1"), ("[::1]:8088", "::1"), ("::1", "::1"),
    ("Evil.Example:80", "evil.example"), ("", ""),
])
def test_host_header_names(header: str, name: str) -> None:
    assert host_name(header) == name


def test_allowed_hosts_default_to_loopback_and_the_bound_address() -> None:
    assert allowed_hosts("10.1.2.3", []) == {"localhost", "127.0.0.1", "::1", "10.1.2.3"}
    assert allowed_hosts("0.0.0.0", ["Line1.Plant"]) == {"line1.plant"}
    assert is_loopback("127.0.0.2") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1") and not is_loopback("example.org")
    assert session_value("a" * 20) != "a" * 20 and len(session_value("a" * 20)) == 64


def test_the_token_bucket_limits_each_client_and_refills() -> None:
    limiter = RateLimiter(rate=1000.0, burst=10.0)
    assert all(limiter.take("a", 5) == 0 for _ in range(2))
    assert limiter.take("a", 5) > 0, "the burst is spent"
    assert limiter.take("b", 5) == 0, "another client has its own bucket"
    time.sleep(0.02)  # 1000 tokens a second: the bucket is full again well within this
    assert limiter.take("a", 5) == 0
    slow = RateLimiter(rate=0.5, burst=10.0)
    slow.take("c", 10)
    assert RateLimiter.retry_after(slow.take("c", 5)) == "10"


def test_the_limiter_forgets_the_oldest_client_beyond_its_bound() -> None:
    limiter = RateLimiter(rate=0.001, burst=1.0, clients=3)
    for client in "abcd":
        limiter.take(client, 1)
    assert limiter.take("a", 1) == 0, "a was forgotten: a fresh bucket"
    assert limiter.take("d", 1) > 0


def write_revisions(root: Path, n: int) -> None:
    """n revisions of plate/s1 in history/, written as save_profile writes them (Profile.to_dict as YAML)."""
    folder = root / "plate" / "history"
    folder.mkdir(parents=True)
    for r in range(1, n + 1):
        p = Profile(product="plate", station="s1", author="ana", reason=f"r{r}",
                    model={"model_id": "m", "fingerprint": "f"}, policy={"name": "fixed", "params": {}},
                    thresholds={"image": 0.5, "pixel": 0.4}, regions={"min_area": 4, "min_peak": 0.0},
                    samples={"good": 10, "defect": 0}, expected={"false_reject_rate": 0.0,
                    "false_reject_upper": 0.1, "escape_rate": None, "escape_upper": None}, revision=r)
        (folder / f"s1.r{r:04d}.yaml").write_text(yaml.safe_dump(p.to_dict(), sort_keys=False))


def test_history_pages_parse_only_their_own_files_once(tmp_path: Path) -> None:
    write_revisions(tmp_path, 250)
    reader = HistoryReader()
    first = reader.page(tmp_path, "plate", "s1", limit=MAX_LIMIT)
    assert first["total"] == 250 and [h["revision"] for h in first["history"]] == list(range(151, 251))
    assert first["history"][-1] == {"revision": 250, "created_at": first["history"][-1]["created_at"],
                                    "author": "ana", "reason": "r250", "image_threshold": 0.5,
                                    "pixel_threshold": 0.4}
    assert len(reader._parsed) == MAX_LIMIT, "only the page's files were parsed"
    older = reader.page(tmp_path, "plate", "s1", limit=10, before=151)
    assert [h["revision"] for h in older["history"]] == list(range(141, 151))
    skipped = reader.page(tmp_path, "plate", "s1", limit=5, offset=248)
    assert [h["revision"] for h in skipped["history"]] == [1, 2]
    assert reader.page(tmp_path, "plate", "s1", offset=10**6)["history"] == []
    (tmp_path / "plate" / "history" / "s1.r0250.yaml").write_text("revision: [unclosed\n")
    damaged = reader.page(tmp_path, "plate", "s1", limit=1)["history"][0]
    assert damaged["revision"] == 250 and "s1.r0250.yaml" in damaged["error"] and len(damaged["error"]) <= 200


@pytest.mark.parametrize(("kwargs", "key"), [
    ({"limit": 0}, "limit"), ({"limit": MAX_LIMIT + 1}, "limit"), ({"offset": -1}, "offset"), ({"before": 0}, "before"),
])
def test_history_paging_is_bounded(tmp_path: Path, kwargs: dict[str, int], key: str) -> None:
    with pytest.raises(ValueError, match=f"^{key}: expected"):
        HistoryReader().page(tmp_path, "plate", "s1", **kwargs)


def test_csv_evidence_paths_are_relative_to_the_output_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert relative_evidence(str(out / "evidence" / "2026" / "a.png"), [out]) == "evidence/2026/a.png"
    assert relative_evidence("/elsewhere/secret/b.png", [out]) == "b.png"
    assert relative_evidence("evidence/c.png", [out]) == "evidence/c.png"
    assert relative_evidence("", [out]) == ""
