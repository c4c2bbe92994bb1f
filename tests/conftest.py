"""Shared fixtures: a real Mosquitto broker on a free port and a real MQTT subscriber. No broker mocks."""

from __future__ import annotations

import getpass
import itertools
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from contract_schemas import daemon_output_schema, validate_message
from helpers.ci import skip_unless_ci  # noqa: F401 - re-exported for tests that import it from here
from paho.mqtt.enums import CallbackAPIVersion

from edge_inspector.publish.broker import BrokerUnavailable, LocalBroker, find_mosquitto

_ids = itertools.count()


# The markers (integration, slow, gpu, data, browser) are declared once, in pyproject.toml.


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """torch on one thread for a module (`pytestmark = pytest.mark.usefixtures("one_torch_thread")`): two
    threads on a 2-core machine shared with other test processes can run 5-10x slower (OpenMP barriers wait
    for a descheduled thread), and tiny tensors gain nothing from more."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tiered tests: slow, gpu and data tests skip with the reason instead of silently vanishing."""
    run_slow = os.environ.get("EI_RUN_SLOW") == "1"
    has_gpu: bool | None = None
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(pytest.mark.skip(reason="slow test: set EI_RUN_SLOW=1 to run it"))
        if "data" in item.keywords and not SHARED_DATA.is_dir():
            item.add_marker(pytest.mark.skip(reason=f"needs real data at {SHARED_DATA} (absent)"))
        if "gpu" in item.keywords:
            has_gpu = _cuda_available() if has_gpu is None else has_gpu
            if not has_gpu:
                item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is False)"))


def _broker(workdir: Path, persistent: bool) -> LocalBroker:
    if find_mosquitto() is None:
        skip_unless_ci("mosquitto binary not found (apt-get install -y mosquitto); CI installs it")
    broker = LocalBroker(workdir=workdir)
    if persistent:
        # Sessions survive a broker restart, so a persistent subscriber misses nothing during an outage.
        # `user` only matters when the tests run as root (mosquitto would drop to user "mosquitto").
        with broker.conf.open("a") as f:
            # autosave every second: a SIGKILLed broker keeps the sessions it had a second before.
            f.write(f"persistence true\npersistence_location {workdir}/\nautosave_interval 1\n"
                    f"user {getpass.getuser()}\n")
    try:
        return broker.start()
    except BrokerUnavailable as exc:
        skip_unless_ci(f"mosquitto did not start: {exc}")


@pytest.fixture(scope="session")
def mosquitto_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """One broker for the whole session (host, port). Use distinct topics per test; do not stop it."""
    broker = _broker(tmp_path_factory.mktemp("mosquitto"), persistent=False)
    yield broker
    broker.stop()


@pytest.fixture
def fresh_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A private broker for one test, with persistence on; `stop()`/`start()` simulate an outage on the same port."""
    broker = _broker(tmp_path / "mosquitto", persistent=True)
    yield broker
    broker.stop()


class Subscriber:
    """A real paho client collecting (topic, JSON payload) pairs from one topic filter, thread-safely.

    Every message the daemon publishes (verdict, reject, status, stats, command/response) is checked against
    its docs/schemas/ contract as it arrives; `invalid` lists the failures and the mqtt_subscriber fixture
    fails the test on any. Inputs a test sends itself (command requests, triggers, fuzz) are not checked.
    """

    def __init__(
        self, host: str, port: int, topic: str, client_id: str | None = None, clean_session: bool = True,
        username: str | None = None, password: str | None = None, tls: dict[str, str] | None = None,
    ) -> None:
        self.host, self.port, self.topic = host, port, topic
        self.messages: list[tuple[str, Any]] = []
        self.retained: list[bool] = []  # retain flag of each message, parallel to messages
        self.invalid: list[str] = []  # contract violations of the daemon's messages (validate_message errors)
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id or f"ei-test-sub-{next(_ids)}-{time.monotonic_ns()}",
            clean_session=clean_session,
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        if tls is not None:  # ca_certs, certfile, keyfile
            self.client.tls_set(**tls)
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(self.topic, qos=1)
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            payload = json.loads(msg.payload.decode("utf-8")) if msg.payload else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            payload = {"raw": msg.payload.decode("utf-8", errors="replace")}
        error = self._contract_error(msg.topic, payload)
        with self._cond:
            if error is not None:
                self.invalid.append(error)
            self.messages.append((msg.topic, payload))
            self.retained.append(bool(msg.retain))
            self._cond.notify_all()

    @staticmethod
    def _contract_error(topic: str, payload: Any) -> str | None:
        """The schema violation of one of the daemon's messages, or None (also for topics it does not publish
        and for the empty payload that clears a retained message)."""
        if payload is None or daemon_output_schema(topic) is None:
            return None
        try:
            validate_message(topic, payload)
        except AssertionError as exc:
            return str(exc)[:2000]
        return None

    def assert_valid(self) -> None:
        """Fail unless every daemon message received so far fit its contract schema."""
        with self._cond:
            invalid = list(self.invalid)
        assert not invalid, f"{len(invalid)} message(s) on {self.topic!r} break the contract:\n" + "\n".join(
            invalid[:5])

    def start(self, timeout: float = 10.0) -> Subscriber:
        """Connect and wait for the SUBACK."""
        self.client.connect(self.host, self.port, keepalive=10)
        self.client.loop_start()
        if not self._subscribed.wait(timeout):
            raise TimeoutError(f"no SUBACK for {self.topic!r} from {self.host}:{self.port} within {timeout} s")
        return self

    def wait_for(
        self, n: int, timeout: float, where: Callable[[str, Any], bool] | None = None
    ) -> list[tuple[str, Any]]:
        """Wait until at least n (matching) messages arrived or timeout; returns the matching messages."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [m for m in self.messages if where is None or where(*m)]
                left = deadline - time.monotonic()
                if len(found) >= n or left <= 0:
                    return found
                self._cond.wait(timeout=left)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def mqtt_subscriber() -> Iterator[Callable[..., Subscriber]]:
    """Factory: mqtt_subscriber(broker, topic_filter, client_id=None, clean_session=True, username=None,
    password=None, tls=None) -> started Subscriber."""
    started: list[Subscriber] = []

    def make(broker: LocalBroker, topic: str, **kwargs: Any) -> Subscriber:
        sub = Subscriber(broker.host, broker.port, topic, **kwargs).start()
        started.append(sub)
        return sub

    yield make
    for sub in started:
        sub.stop()
    invalid = [f"{sub.topic}: {error}" for sub in started for error in sub.invalid]
    if invalid:  # every message the daemon published during the test, not only those the test looked at
        pytest.fail(f"{len(invalid)} MQTT message(s) break the contract schemas:\n" + "\n".join(invalid[:5]),
                    pytrace=False)
