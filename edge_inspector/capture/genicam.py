"""GigE Vision / USB3 Vision cameras through Aravis 0.8 (source.kind: genicam, section source.genicam).

open() connects, checks every configured value against what the camera offers (a bad one is a SourceError
naming its key), applies them and starts a continuous acquisition. read() waits up to timeout_ms for a
buffer: none is a "failed" read (no frame came), so a camera that disappears turns into failed reads and
the capture thread closes and reopens the source until it is back. A buffer the camera delivered
incomplete or in a format other than the configured one is "unreadable": a part was imaged and lost.
Frames are named after the camera's frame id (cam_frame_000123), which is also their source_index.
"""

from __future__ import annotations

import importlib
import logging
import threading
from types import ModuleType
from typing import Any

import numpy as np

from ..config.models import GenICamConfig, SourceConfig
from .base import FrameSource, ReadResult, SourceError
from .genicam_formats import FORMATS, FrameDecodeError, PixelFormat, decode
from .genicam_gi import AravisMissing, load_aravis

log = logging.getLogger(__name__)
KEY = "source.genicam"
CLOSE_WAIT_S = 1.0  # close() waits this long for a camera that answers; a gone one is released in the background


def _one_line(exc: BaseException) -> str:
    return " ".join(str(getattr(exc, "message", None) or exc).split())


class GenICamSource(FrameSource):
    """One GenICam camera. trigger() executes TriggerSoftware when `trigger: software`."""

    live = True

    def __init__(self, cfg: GenICamConfig) -> None:
        self.cfg = cfg
        self._arv: ModuleType | None = None
        self._gerror: type[BaseException] = RuntimeError
        self._camera: Any = None
        self._stream: Any = None
        self._format: PixelFormat | None = None
        self._lost = threading.Event()  # set by Aravis's heartbeat thread when the camera stops answering

    def _aravis(self) -> ModuleType:
        if self._arv is None:
            try:
                self._arv = load_aravis()
            except AravisMissing as exc:
                raise SourceError(str(exc)) from exc
            self._gerror = importlib.import_module("gi.repository.GLib").Error
        return self._arv

    @property
    def camera_id(self) -> str:
        return self.cfg.camera or "(first found)"

    def open(self) -> None:
        arv = self._aravis()
        self.close()
        lost = self._lost = threading.Event()  # a new one: a released camera's late signal must not hit this one
        camera = self._connect(arv)
        try:
            stream = self._start(arv, camera, lost)
        except (SourceError, self._gerror) as exc:
            error = exc if isinstance(exc, SourceError) else SourceError(
                f"{KEY}.camera: camera {self.camera_id} failed to start: {_one_line(exc)}")
            exc.__traceback__ = None  # its frames hold the camera, which must be released now, not when the
            del camera  # error is forgotten: until then it keeps control of the camera and no one else gets it
            raise error from None
        self._camera, self._stream = camera, stream

    def _start(self, arv: ModuleType, camera: Any, lost: threading.Event) -> Any:
        """Configure the camera and start a continuous acquisition into a new stream."""
        self._format = self._configure(camera)
        camera.get_device().connect("control-lost", lambda *_: lost.set())
        stream = camera.create_stream(None, None)
        for _ in range(max(1, self.cfg.buffers)):
            stream.push_buffer(arv.Buffer.new_allocate(camera.get_payload()))
        camera.set_acquisition_mode(arv.AcquisitionMode.CONTINUOUS)
        camera.start_acquisition()
        return stream

    def _connect(self, arv: ModuleType) -> Any:
        try:
            return arv.Camera.new(self.cfg.camera)
        except self._gerror as exc:
            arv.update_device_list()
            seen = [arv.get_device_id(i) for i in range(arv.get_n_devices())]
            found = f"cameras found: {', '.join(seen)}" if seen else "no camera found"
            raise SourceError(f"{KEY}.camera: cannot open camera {self.camera_id} ({_one_line(exc)}; {found})") from exc

    def _check(self, key: str, value: float, available: bool, bounds: Any, unit: str = "") -> None:
        if not available:
            raise SourceError(f"{KEY}.{key}: camera {self.camera_id} has no such setting")
        low, high = bounds
        if not low <= value <= high:
            raise SourceError(f"{KEY}.{key}: camera {self.camera_id} accepts {low:g}..{high:g}{unit}, not {value:g}")

    def _configure(self, camera: Any) -> PixelFormat:
        """Check every configured value against the camera, then apply it; the pixel format in use."""
        cfg = self.cfg
        offered = list(camera.dup_available_pixel_formats_as_strings())
        name = cfg.pixel_format or camera.get_pixel_format_as_string()
        if cfg.pixel_format is not None and name not in offered:
            raise SourceError(f"{KEY}.pixel_format: camera {self.camera_id} offers {', '.join(offered)}, not {name}")
        if name not in FORMATS:
            what = name if cfg.pixel_format else f"the camera's current format {name}"
            usable = [f for f in offered if f in FORMATS]
            raise SourceError(f"{KEY}.pixel_format: {what} is not supported; use one of {', '.join(usable)}")
        if cfg.exposure_us is not None:
            self._check("exposure_us", cfg.exposure_us, camera.is_exposure_time_available(),
                        camera.get_exposure_time_bounds(), " us")
        if cfg.gain is not None:
            self._check("gain", cfg.gain, camera.is_gain_available(), camera.get_gain_bounds())
        if cfg.frame_rate is not None:
            self._check("frame_rate", cfg.frame_rate, camera.is_frame_rate_available(),
                        camera.get_frame_rate_bounds(), " fps")
        sources = list(camera.dup_available_trigger_sources()) if cfg.trigger != "off" else []
        if cfg.trigger == "software" and not camera.is_software_trigger_supported():
            raise SourceError(f"{KEY}.trigger: camera {self.camera_id} has no software trigger")
        if cfg.trigger == "line" and cfg.trigger_source not in sources:
            raise SourceError(f"{KEY}.trigger_source: camera {self.camera_id} offers {', '.join(sources)}, "
                              f"not {cfg.trigger_source}")
        camera.set_pixel_format_from_string(name)
        if cfg.exposure_us is not None:
            camera.set_exposure_time(cfg.exposure_us)
        if cfg.gain is not None:
            camera.set_gain(cfg.gain)
        if cfg.frame_rate is not None:  # before the trigger: Aravis turns the frame trigger off to set a rate
            camera.set_frame_rate(cfg.frame_rate)
        if cfg.trigger == "off":
            camera.clear_triggers()
        else:
            camera.set_trigger("Software" if cfg.trigger == "software" else cfg.trigger_source)
        return FORMATS[name]

    def settings(self) -> dict[str, object]:
        """What the camera reports now (read back, not the config): pixel format, exposure, gain, rate, trigger."""
        camera = self._camera
        if camera is None:
            raise SourceError(f"{self.describe()}: not open")
        return {"pixel_format": camera.get_pixel_format_as_string(), "exposure_us": camera.get_exposure_time(),
                "gain": camera.get_gain(), "frame_rate": camera.get_frame_rate(),
                "trigger_mode": camera.get_string("TriggerMode"), "trigger_source": camera.get_string("TriggerSource")}

    def trigger(self) -> None:
        """Execute TriggerSoftware: the camera takes one frame, which a later read() returns."""
        if self.cfg.trigger != "software":
            raise SourceError(f"{KEY}.trigger: trigger() needs trigger: software, not {self.cfg.trigger}")
        camera = self._camera  # one reference: the capture thread may close the source meanwhile
        if camera is None:
            raise SourceError(f"{self.describe()}: not open (reconnecting?)")
        try:
            camera.software_trigger()
        except self._gerror as exc:
            raise SourceError(f"{self.describe()}: software trigger failed: {_one_line(exc)}") from exc

    def read(self) -> ReadResult:
        """A frame, "unreadable" (a frame came incomplete), "idle" (trigger mode: no part yet) or "failed" (free
        running: none within timeout_ms; or the camera's connection is lost)."""
        stream, arv = self._stream, self._arv
        if stream is None or arv is None:
            return ReadResult("failed", reason="not open")
        if self._lost.is_set():
            return ReadResult("failed", reason="camera connection lost")
        buffer = stream.timeout_pop_buffer(self.cfg.timeout_ms * 1000)
        if buffer is None:
            if self._lost.is_set():
                return ReadResult("failed", reason="camera connection lost")
            if self.cfg.trigger != "off":  # waiting for the next part: the heartbeat says the camera is there
                return ReadResult("idle")
            return ReadResult("failed", reason=f"no frame within {self.cfg.timeout_ms} ms")
        try:
            status, frame_id = buffer.get_status(), int(buffer.get_frame_id())
            data = buffer.get_data() if status == arv.BufferStatus.SUCCESS else b""
            code, width, height = (buffer.get_image_pixel_format(), buffer.get_image_width(),
                                   buffer.get_image_height())
        finally:
            stream.push_buffer(buffer)  # back to the camera before decoding: it never runs out of buffers
        name = f"cam_frame_{frame_id:06d}"
        if status != arv.BufferStatus.SUCCESS:
            return ReadResult("unreadable", source_index=frame_id, name=name, reason=f"buffer {status.value_nick}")
        assert self._format is not None
        try:
            if code != self._format.code:
                raise FrameDecodeError(f"pixel format 0x{code:08x}, configured {self._format.name}")
            image: np.ndarray = decode(data, code, width, height)
        except FrameDecodeError as exc:
            return ReadResult("unreadable", source_index=frame_id, name=name, reason=str(exc))
        return ReadResult("frame", image, frame_id, name)

    def close(self) -> None:
        """Stop acquiring and release the camera. A camera that is gone makes Aravis wait seconds for its
        answers (stop, then release of control), so that waits in a helper thread, not in the capture loop."""
        camera, stream = self._camera, self._stream
        self._camera = self._stream = None
        if camera is None:
            return
        closer = threading.Thread(target=self._release, args=([camera, stream], not self._lost.is_set()),
                                  name="genicam-close", daemon=True)
        del camera, stream  # the helper holds the last references, so the objects are freed there
        closer.start()
        closer.join(CLOSE_WAIT_S)

    def _release(self, objects: list[Any], stop: bool) -> None:
        if stop:
            try:
                objects[0].stop_acquisition()
            except self._gerror as exc:
                log.debug("%s: stop_acquisition failed: %s", self.describe(), _one_line(exc))
        objects.clear()  # the last references: Aravis stops the stream thread and releases control

    @property
    def fps(self) -> float | None:
        return self.cfg.frame_rate if self.cfg.trigger == "off" else None

    def describe(self) -> str:
        return f"GenICam camera {self.camera_id}"


def genicam_source(cfg: SourceConfig) -> FrameSource:
    """The registry's factory for source.kind genicam (section source.genicam); Aravis is loaded at open()."""
    return GenICamSource(cfg.genicam)
