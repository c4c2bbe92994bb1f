"""The genicam source against Aravis's simulated GigE Vision camera, a real process on loopback.

What is compared: the fake camera (Aravis 0.8, arvfakecamera.c) fills every frame from one known pattern,
index(x, y) = (x + y + frame_id) % 255, scaled by 1 + gain + log10(exposure_us / 10000) (1 at gain 0 and
10000 us, the values these tests set). Mono8 is that index; Mono16 is (256 (x + y + frame_id)) % 65535;
RGB8 and the Bayer mosaics are the index looked up in a jet colour map (dark blue at 0, dark red at 254).
The frame id comes with each buffer, so every converted frame is checked against the pattern it must show.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import fake_gv_camera
from helpers.ci import skip_unless_ci
from helpers.fake_gv_camera import FakeGvCamera

from edge_inspector.capture import CaptureThread, SourceError, open_source, to_bgr8
from edge_inspector.capture.genicam_formats import FORMATS, decode
from edge_inspector.config import SourceConfig
from edge_inspector.config.models import GenICamConfig
from edge_inspector.types import Frame

pytestmark = pytest.mark.integration
H = W = 512  # the fake camera's sensor


@pytest.fixture(scope="module")
def camera(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeGvCamera]:
    why = fake_gv_camera.missing()
    if why:
        skip_unless_ci(why)
    with FakeGvCamera(tmp_path_factory.mktemp("gv") / "fake-camera.log") as cam:
        yield cam


def open_camera(fake: FakeGvCamera, **settings: object) -> object:
    # exposure and gain are set every time: the fake camera keeps what the previous test set
    values: dict[str, object] = {"camera": fake.address, "exposure_us": 10000.0, "gain": 0.0, **settings}
    return open_source(SourceConfig(kind="genicam", genicam=GenICamConfig(**values)))  # type: ignore[arg-type]


def pattern(frame_id: int) -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W]
    return (x + y + frame_id) % 255


def frames(source, n: int) -> list:  # type: ignore[no-untyped-def]
    results = [source.read() for _ in range(n)]
    assert [r.kind for r in results] == ["frame"] * n, [r.reason for r in results]
    return results


# PFNC names the top-left 2x2 cell; a flat colour mosaicked by that rule must come back as that colour.
@pytest.mark.parametrize("name, cell", [("BayerRG8", "RGGB"), ("BayerGB8", "GBRG"), ("BayerGR8", "GRBG"),
                                        ("BayerBG8", "BGGR")])
def test_bayer_formats_follow_the_genicam_names(name: str, cell: str) -> None:
    colour = {"B": 10, "G": 100, "R": 200}
    mosaic = np.empty((8, 8), np.uint8)
    for i, (dy, dx) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        mosaic[dy::2, dx::2] = colour[cell[i]]
    bgr = decode(mosaic.tobytes(), FORMATS[name].code, 8, 8)
    assert bgr[2:6, 2:6].reshape(-1, 3).tolist() == [[10, 100, 200]] * 16


def test_rgb8_and_bgr8_come_out_as_bgr() -> None:
    rgb = np.array([[[200, 100, 10]]], np.uint8)
    assert decode(rgb.tobytes(), FORMATS["RGB8"].code, 1, 1).tolist() == [[[10, 100, 200]]]
    assert decode(rgb.tobytes(), FORMATS["BGR8"].code, 1, 1).tolist() == [[[200, 100, 10]]]


def test_missing_aravis_is_one_line_saying_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from edge_inspector.capture import genicam_gi

    monkeypatch.setitem(sys.modules, "gi", None)  # `import gi` fails, as in a venv without PyGObject
    monkeypatch.setattr(genicam_gi, "DEBIAN_GI", tmp_path / "gi")  # and no python3-gi either
    with pytest.raises(SourceError) as err:
        open_source(SourceConfig(kind="genicam"))
    text = str(err.value)
    assert text.startswith("source.kind genicam: PyGObject (gi) for Python 3.") and "\n" not in text
    assert "apt-get install gir1.2-aravis-0.8 python3-gi" in text


def test_free_running_frames_named_by_frame_id(camera: FakeGvCamera) -> None:
    source = open_camera(camera, pixel_format="Mono8", frame_rate=50.0, trigger="off")
    try:
        t0 = time.monotonic()
        results = frames(source, 20)
        elapsed = time.monotonic() - t0
    finally:
        source.close()
    ids = [r.source_index for r in results]
    assert ids == list(range(ids[0], ids[0] + 20)), "consecutive camera frame ids, none lost"
    assert [r.name for r in results] == [f"cam_frame_{i:06d}" for i in ids]
    for r in results:
        assert np.array_equal(to_bgr8(r.image), np.repeat(pattern(r.source_index)[..., None], 3, 2).astype(np.uint8))
    assert 0.25 < elapsed < 0.8, f"20 frames at 50 fps took {elapsed:.2f} s"


def jet_bgr(camera: FakeGvCamera) -> np.ndarray:
    """The camera's colour map as BGR, 255 entries, read from one RGB8 frame converted by the source."""
    source = open_camera(camera, pixel_format="RGB8")
    try:
        r = frames(source, 1)[0]
    finally:
        source.close()
    bgr = to_bgr8(r.image)
    table = np.zeros((255, 3), np.uint8)
    table[pattern(r.source_index)[0, :255]] = bgr[0, :255]
    return table


def test_rgb8_channel_order_against_the_colour_map(camera: FakeGvCamera) -> None:
    table = jet_bgr(camera).astype(int)
    blue_end, red_end = table[:20], table[-20:]
    assert (blue_end[:, 0] > 100).all() and (blue_end[:, 2] == 0).all(), "index 0..19 is blue"
    assert (red_end[:, 2] > 100).all() and (red_end[:, 0] == 0).all(), "index 235..254 is red"


@pytest.mark.parametrize("name, swapped", [("BayerGB8", False), ("BayerGR8", False),
                                           ("BayerRG8", True), ("BayerBG8", True)])
def test_bayer_frames_match_the_colour_map(camera: FakeGvCamera, name: str, swapped: bool) -> None:
    """Aravis 0.8.26's fake camera writes its BayerRG8 frames with blue at (0, 0) and its BayerBG8 frames
    with red there (arvfakecamera.c has the two mosaics exchanged), so for those two the camera's image is
    the colour map with red and blue exchanged. Decoding itself follows PFNC (the test above)."""
    table = jet_bgr(camera)
    source = open_camera(camera, pixel_format=name)
    try:
        r = frames(source, 1)[0]
    finally:
        source.close()
    expected = table[pattern(r.source_index)]
    if swapped:
        expected = expected[..., ::-1]
    away_from_wrap = (pattern(r.source_index) > 3) & (pattern(r.source_index) < 251)  # the ramp jumps at 254->0
    error = np.abs(to_bgr8(r.image).astype(int) - expected.astype(int))[2:-2, 2:-2][away_from_wrap[2:-2, 2:-2]]
    assert np.median(error) <= 2 and np.percentile(error, 99) <= 12, (np.median(error), np.percentile(error, 99))
    wrong = np.abs(to_bgr8(r.image).astype(int) - expected[..., ::-1].astype(int))[2:-2, 2:-2]
    assert np.median(wrong[away_from_wrap[2:-2, 2:-2]]) > 20, "red and blue exchanged would not pass"


@pytest.mark.parametrize("bit_depth", [16, 12])
def test_mono16_through_bit_depth(camera: FakeGvCamera, bit_depth: int) -> None:
    source = open_camera(camera, pixel_format="Mono16")
    try:
        r = frames(source, 1)[0]
    finally:
        source.close()
    y, x = np.mgrid[0:H, 0:W]
    raw = (256 * (x + y + r.source_index)) % 65535
    assert r.image.dtype == np.uint16 and np.array_equal(r.image, raw)
    grey = np.minimum(raw >> (bit_depth - 8), 255).astype(np.uint8)
    assert np.array_equal(to_bgr8(r.image, bit_depth)[..., 1], grey)


def test_exposure_gain_and_frame_rate_are_applied(camera: FakeGvCamera) -> None:
    source = open_camera(camera, pixel_format="Mono8", exposure_us=100000.0, gain=0.0, frame_rate=12.5)
    try:
        settings = source.settings()  # type: ignore[attr-defined]
        t0 = time.monotonic()
        results = frames(source, 6)
        elapsed = time.monotonic() - t0
        bright = results[-1]
    finally:
        source.close()
    assert settings["exposure_us"] == 100000.0 and settings["gain"] == 0.0 and settings["frame_rate"] == 12.5
    assert settings["trigger_mode"] == "Off" and settings["pixel_format"] == "Mono8"
    # the simulated sensor scales by 1 + gain + log10(exposure / 10000) = 2 here
    assert np.array_equal(bright.image, np.minimum(2 * pattern(bright.source_index), 255))
    assert 0.3 < elapsed < 0.7, f"6 frames at 12.5 fps took {elapsed:.2f} s"
    source = open_camera(camera, pixel_format="Mono8", exposure_us=10000.0, gain=3.0)
    try:
        assert source.settings()["gain"] == 3.0  # type: ignore[attr-defined]
        r = frames(source, 1)[0]
    finally:
        source.close()
    assert np.array_equal(r.image, np.minimum(4 * pattern(r.source_index), 255))


def test_software_trigger_gives_one_frame_per_trigger(camera: FakeGvCamera) -> None:
    source = open_camera(camera, pixel_format="Mono8", trigger="software", timeout_ms=400)
    try:
        assert source.settings()["trigger_mode"] == "On"  # type: ignore[attr-defined]
        idle = [source.read() for _ in range(3)]
        got = []
        for _ in range(5):
            source.trigger()  # type: ignore[attr-defined]
            got.append(source.read())
            got.append(source.read())  # nothing more until the next trigger
    finally:
        source.close()
    assert [r.kind for r in idle] == ["idle"] * 3, "waiting for a part is neither a frame nor a failure"
    assert [r.kind for r in got] == ["frame", "idle"] * 5
    ids = [r.source_index for r in got[::2]]
    assert ids == list(range(ids[0], ids[0] + 5))


def test_camera_that_disappears_is_reconnected(camera: FakeGvCamera) -> None:
    source = open_camera(camera, pixel_format="Mono8", frame_rate=20.0, timeout_ms=300)
    out: queue.Queue[object] = queue.Queue(maxsize=4)
    stop = threading.Event()
    thread = CaptureThread(source, out, stop, stall_seconds=1.5, reconnect_seconds=0.5,  # type: ignore[arg-type]
                           max_consecutive_failures=5)
    got: list[Frame] = []
    states: list[str] = []

    def consume() -> None:
        while not stop.is_set():
            try:
                item = out.get(timeout=0.05)
            except queue.Empty:
                item = None
            if isinstance(item, Frame):
                got.append(item)
            state = thread.health().state
            if not states or states[-1] != state:
                states.append(state)

    def wait(what, timeout: float, message: str) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not what():
            assert time.monotonic() < deadline, f"{message}; states {states}"
            time.sleep(0.02)

    consumer = threading.Thread(target=consume, daemon=True)
    thread.start()
    consumer.start()
    try:
        wait(lambda: len(got) >= 10, 5, "no frames")
        camera.kill()
        before = len(got)
        wait(lambda: thread.health().state == "reconnecting", 4, "the lost camera was not noticed")
        time.sleep(2.0)
        during = len(got) - before
        camera.start()
        wait(lambda: len(got) >= before + 10, 10, "frames did not resume after the camera came back")
        stats, resumed = thread.stats(), thread.health().state
    finally:
        stop.set()
        thread.join(5)
        consumer.join(2)
        if camera.proc is None:  # the later tests need it
            camera.start()
    assert not thread.is_alive()
    assert during <= 1 and stats.read_failures >= 1 and stats.reconnects >= 1
    assert thread.take_dropped() == [], "a camera losing power is not a lost part"
    assert "reconnecting" in states and resumed == "running", states
    assert [f.seq for f in got] == list(range(len(got)))


@pytest.mark.parametrize("settings, message", [
    ({"pixel_format": "Foo"}, "source.genicam.pixel_format: camera 127.0.0.1 offers "),
    ({"camera": "no-such-camera"}, "source.genicam.camera: cannot open camera no-such-camera ("),
    ({"exposure_us": 1.0}, "source.genicam.exposure_us: camera 127.0.0.1 accepts 10..1e+07 us, not 1"),
    ({"gain": 99.0}, "source.genicam.gain: camera 127.0.0.1 accepts 0..10, not 99"),
    ({"trigger": "line", "trigger_source": "Line1"},
     "source.genicam.trigger_source: camera 127.0.0.1 offers Line0, Software, not Line1"),
])
def test_bad_settings_give_one_line_errors(camera: FakeGvCamera, settings: dict[str, object], message: str) -> None:
    with pytest.raises(SourceError) as err:
        open_camera(camera, **settings)
    text = str(err.value)
    assert text.startswith(message) and "\n" not in text, text
    if "pixel_format" in settings:
        assert text.endswith("not Foo") and "Mono8" in text and "BayerRG8" in text
    if "camera" in settings:
        assert camera.name in text, "the error lists the cameras that were found"


def test_daemon_judges_frames_from_the_camera(tmp_path: Path, camera: FakeGvCamera, trained_model,  # type: ignore[no-untyped-def]
                                              mosquitto_broker) -> None:
    from edge_inspector.config import load_config
    from edge_inspector.publish.verdict_subscriber import VerdictSubscriber
    from edge_inspector.service.daemon import Daemon

    model_dir, _, _ = trained_model
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({
        "station_id": "gige",
        "source": {"kind": "genicam", "genicam": {"camera": camera.address, "pixel_format": "BayerRG8",
                                                  "exposure_us": 10000.0, "gain": 0.0, "frame_rate": 5.0}},
        "model": {"path": str(model_dir), "backend": "torch", "device": "cpu"},
        "mqtt": {"host": mosquitto_broker.host, "port": mosquitto_broker.port, "topic_prefix": "ei-gige"},
        "output": {"dir": str(tmp_path / "out")},
    }))
    daemon = Daemon(load_config(path))
    sub = VerdictSubscriber(mosquitto_broker.host, mosquitto_broker.port, "ei-gige/gige/verdict").start()
    runner = threading.Thread(target=daemon.run, daemon=True)
    try:
        runner.start()
        messages = sub.wait_for(8, timeout=30.0)
    finally:
        daemon.stop()
        runner.join(15)
        sub.stop()
    verdicts = [p for _, p in messages][:8]
    assert not runner.is_alive(), "the daemon stops on request"
    assert len(verdicts) == 8, f"verdicts: {verdicts}"
    assert [v["seq"] for v in verdicts] == list(range(8))
    assert all(v["verdict"] in ("PASS", "FAIL") for v in verdicts), [v["verdict"] for v in verdicts]
    assert [v["frame"] for v in verdicts] == [f"cam_frame_{v['source_index']:06d}" for v in verdicts]
    ids = [int(v["source_index"]) for v in verdicts]  # type: ignore[call-overload]
    assert ids == list(range(ids[0], ids[0] + 8)), "every camera frame judged, in order"
