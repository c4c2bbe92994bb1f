"""A simulated Sparkplug primary host for the tests: a real paho client that publishes the retained STATE and
collects everything under `spBv1.0/{group}/#`, decoded by pysparkplug (Eclipse Tahu's protobuf classes), an
independent decoder: the edge node's own payload module is never used here."""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
import pysparkplug as spb
from paho.mqtt.enums import CallbackAPIVersion

_ids = itertools.count()
DECODERS: dict[str, Any] = {"NBIRTH": spb.NBirth, "DBIRTH": spb.DBirth, "NDATA": spb.NData, "DDATA": spb.DData,
                            "NDEATH": spb.NDeath, "DDEATH": spb.DDeath, "NCMD": spb.NCmd, "DCMD": spb.DCmd}


@dataclass(frozen=True)
class Received:
    """One Sparkplug message: its type (NBIRTH, DDATA ...), topic, decoded payload, retain flag and MQTT DUP flag
    (the broker sending again a QoS 1 message whose PUBACK from this host it had not recorded)."""

    kind: str
    topic: str
    payload: Any
    retained: bool
    at: float
    dup: bool = False

    def values(self) -> dict[str, Any]:
        return {m.name: m.value for m in self.payload.metrics}

    def metric(self, name: str) -> Any:
        return next(m for m in self.payload.metrics if m.name == name)


class SparkplugHost:
    """Subscribe first (start()), then set_state(True/False) as an Ignition primary host would."""

    def __init__(self, host: str, port: int, group: str, host_id: str, client_id: str | None = None) -> None:
        self.group, self.host_id = group, host_id
        self.messages: list[Received] = []
        self.errors: list[str] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                                  client_id=client_id or f"ei-test-spb-host-{next(_ids)}-{time.monotonic_ns()}",
                                  clean_session=client_id is None)  # a fixed id: the broker queues through outages
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(f"spBv1.0/{group}/#", qos=1)
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_disconnect = lambda *a: self._subscribed.clear()
        self.client.on_message = self._on_message
        self._addr = (host, port)

    def start(self, timeout: float = 10.0) -> SparkplugHost:
        self.client.connect(*self._addr, keepalive=10)
        self.client.loop_start()
        assert self._subscribed.wait(timeout), "simulated host did not subscribe"
        return self

    def wait_subscribed(self, timeout: float) -> bool:
        """Connected (again, after a broker restart) and subscribed."""
        return self._subscribed.wait(timeout)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        kind = msg.topic.split("/")[2]
        try:
            payload = DECODERS[kind].decode(bytes(msg.payload))
        except Exception as exc:  # noqa: BLE001 - a message the independent decoder refuses fails the test
            with self._cond:
                self.errors.append(f"{msg.topic}: {exc!r}")
            return
        with self._cond:
            self.messages.append(Received(kind, msg.topic, payload, bool(msg.retain), time.time(), bool(msg.dup)))
            self._cond.notify_all()

    def set_state(self, online: bool) -> None:
        """The primary host's retained STATE (Sparkplug 3.0), timestamped now."""
        body = json.dumps({"online": online, "timestamp": int(time.time() * 1000)}).encode()
        self.client.publish(f"spBv1.0/STATE/{self.host_id}", body, qos=1, retain=True).wait_for_publish(5)

    def clear_state(self) -> None:
        self.client.publish(f"spBv1.0/STATE/{self.host_id}", b"", qos=1, retain=True).wait_for_publish(5)

    def rebirth(self, node: str) -> None:
        """NCMD Node Control/Rebirth = true, encoded by pysparkplug."""
        metric = spb.Metric(timestamp=int(time.time() * 1000), name="Node Control/Rebirth",
                            datatype=spb.DataType.BOOLEAN, value=True)
        raw = spb.NCmd(timestamp=int(time.time() * 1000), metrics=(metric,)).encode(include_dtypes=True)
        self.send_ncmd(node, raw)

    def send_ncmd(self, node: str, raw: bytes) -> None:
        self.client.publish(f"spBv1.0/{self.group}/NCMD/{node}", raw, qos=1).wait_for_publish(5)

    def of(self, *kinds: str) -> list[Received]:
        with self._cond:
            return [m for m in self.messages if m.kind in kinds]

    def wait_for(self, predicate: Any, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.5))
        return True

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def session_messages(messages: list[Received]) -> list[list[Received]]:
    """Split a node's messages into sessions, each starting at an NBIRTH (what came before the first is dropped)."""
    sessions: list[list[Received]] = []
    for m in messages:
        if m.kind == "NBIRTH":
            sessions.append([])
        if sessions and m.kind in ("NBIRTH", "DBIRTH", "DDATA", "NDATA"):
            sessions[-1].append(m)
    return sessions


def verdict_seqs(messages: list[Received]) -> list[int]:
    """The contract seq of each verdict DDATA (status DDATA carry no verdict), in arrival order."""
    return [m.values()["Inspection/Seq"] for m in messages
            if m.kind == "DDATA" and any(x.name == "Inspection/Seq" for x in m.payload.metrics)]
