"""The deadline rules of registry requests (shipflow.oci.registry.deadline), as pure logic.

Fake clocks and a fake network stream stand in for time and sockets; the proof against real
servers that drip, stall and never answer is tests/integration/test_hostile_registry.py.
"""

from __future__ import annotations

import time

import httpcore
import httpx
import pytest

from shipflow.errors import ConfigError
from shipflow.oci.registry.client import RegistryClient
from shipflow.oci.registry.config import DEFAULT_MIN_RATE, DEFAULT_TIMEOUT, RegistryConfig
from shipflow.oci.registry.deadline import (
    BudgetedStream,
    Deadline,
    DeadlineBackend,
    DeadlineStream,
    Progress,
    budget_scope,
    current,
    install,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class DrippingStream(httpcore.NetworkStream):
    """A connection that delivers ``size`` bytes per read and takes ``step`` seconds of fake
    time for it; it records the timeout each read was given."""

    def __init__(self, clock: FakeClock, step: float, size: int = 1) -> None:
        self.clock = clock
        self.step = step
        self.size = size
        self.timeouts: list[float | None] = []
        self.written: list[bytes] = []

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self.timeouts.append(timeout)
        if timeout is not None and timeout < self.step:
            self.clock.now += timeout
            raise httpcore.ReadTimeout("timed out")
        self.clock.now += self.step
        return b"x" * self.size

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.timeouts.append(timeout)
        self.clock.now += self.step
        self.written.append(bytes(buffer))

    def close(self) -> None:
        pass


def test_defaults_give_up_within_about_thirty_seconds() -> None:
    config = RegistryConfig()
    assert config.timeout == DEFAULT_TIMEOUT == 30.0
    assert config.min_rate == DEFAULT_MIN_RATE
    env = RegistryConfig.from_env({"SHIPFLOW_REGISTRY_TIMEOUT": "7.5", "SHIPFLOW_REGISTRY_MIN_RATE": "100"})
    assert env.timeout == 7.5 and env.min_rate == 100
    assert RegistryConfig.from_env({"SHIPFLOW_REGISTRY_TIMEOUT": "7"}, timeout=3).timeout == 3


@pytest.mark.parametrize(
    "env",
    [
        {"SHIPFLOW_REGISTRY_TIMEOUT": "0"},
        {"SHIPFLOW_REGISTRY_TIMEOUT": "inf"},
        {"SHIPFLOW_REGISTRY_TIMEOUT": "nan"},
        {"SHIPFLOW_REGISTRY_TIMEOUT": "soon"},
        {"SHIPFLOW_REGISTRY_MIN_RATE": "0"},
    ],
)
def test_deadlines_are_finite_and_positive(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        RegistryConfig.from_env(env)


def test_a_drip_is_cut_at_the_deadline_not_by_per_read_timeouts() -> None:
    clock = FakeClock()
    stream = DeadlineStream(DrippingStream(clock, step=5.0))
    deadline = Deadline(30.0, clock=clock)
    received = 0
    with budget_scope(deadline), pytest.raises(httpcore.ReadTimeout):
        while True:
            received += len(stream.read(65536, timeout=60.0))  # each read is well inside 60 s
    # 1 byte every 5 s: six bytes, then the 30 s were spent.
    assert received == 6
    assert deadline.tripped
    assert clock.now - 1000.0 <= 30.0 + 1e-9


def test_reads_get_the_smaller_of_their_timeout_and_the_time_left() -> None:
    clock = FakeClock()
    inner = DrippingStream(clock, step=1.0)
    stream = DeadlineStream(inner)
    with budget_scope(Deadline(10.0, clock=clock)):
        stream.read(10, timeout=60.0)
        stream.read(10, timeout=3.0)
    stream.read(10, timeout=60.0)  # outside any budget: untouched
    assert inner.timeouts == [10.0, 3.0, 60.0]


def test_progress_allows_any_length_at_the_minimum_rate() -> None:
    clock = FakeClock()
    progress = Progress(window=30.0, min_rate=1000, clock=clock)
    assert progress.quantum == 30_000
    stream = DeadlineStream(DrippingStream(clock, step=20.0, size=40_000))  # 2 kB/s
    with budget_scope(progress):
        for _ in range(100):  # 100 reads over 2000 s of fake time: never cut
            stream.read(65536, timeout=60.0)
    assert not progress.tripped and progress.moved == 4_000_000
    assert clock.now - 1000.0 == 2000.0


def test_progress_counts_only_time_spent_waiting_on_the_network() -> None:
    clock = FakeClock()
    progress = Progress(window=30.0, min_rate=1000, clock=clock)
    stream = DeadlineStream(DrippingStream(clock, step=1.0, size=100))
    with budget_scope(progress):
        for _ in range(10):
            stream.read(65536, timeout=60.0)
            clock.now += 120.0  # the consumer is busy (a slow destination): not the source's fault
    assert not progress.tripped
    assert progress.remaining() == 20.0  # ten reads of 1 s each, 1 000 bytes: under a quantum


def test_progress_cuts_a_trickle_one_window_after_it_slowed() -> None:
    clock = FakeClock()
    progress = Progress(window=30.0, min_rate=1000, clock=clock)
    stream = DeadlineStream(DrippingStream(clock, step=5.0))
    with budget_scope(progress), pytest.raises(httpcore.ReadTimeout):
        for _ in range(1000):
            stream.read(65536, timeout=60.0)
    assert progress.tripped
    assert clock.now - 1000.0 <= 30.0 + 1e-9
    assert progress.moved == 6


def test_writes_are_sliced_and_counted() -> None:
    clock = FakeClock()
    inner = DrippingStream(clock, step=0.0)
    stream = DeadlineStream(inner)
    progress = Progress(window=30.0, min_rate=1, clock=clock)
    body = bytes(range(256)) * 1024  # 256 KiB
    with budget_scope(progress):
        stream.write(body, timeout=60.0)
    assert b"".join(inner.written) == body
    assert max(len(piece) for piece in inner.written) == 64 * 1024
    assert progress.moved == len(body)


def test_spent_budget_refuses_to_connect() -> None:
    clock = FakeClock()

    class Backend(httpcore.NetworkBackend):
        def connect_tcp(self, *args: object, **kwargs: object) -> httpcore.NetworkStream:
            raise AssertionError("must not connect once the budget is spent")

    deadline = Deadline(5.0, clock=clock)
    clock.now += 6.0
    with budget_scope(deadline), pytest.raises(httpcore.ConnectTimeout):
        DeadlineBackend(Backend()).connect_tcp("127.0.0.1", 1, timeout=10.0)
    assert deadline.tripped


def test_scopes_nest_and_restore() -> None:
    outer, inner = Deadline(10.0), Deadline(1.0)
    assert current() is None
    with budget_scope(outer):
        with budget_scope(inner):
            assert current() is inner
        assert current() is outer
    assert current() is None


def test_budgeted_stream_reads_its_body_under_its_budget() -> None:
    seen: list[object] = []

    class Inner(httpx.SyncByteStream):
        def __iter__(self):  # type: ignore[no-untyped-def]
            for piece in (b"a", b"b"):
                seen.append(current())
                yield piece

    budget = Deadline(5.0)
    assert list(BudgetedStream(Inner(), budget)) == [b"a", b"b"]
    assert seen == [budget, budget] and current() is None


def test_clients_get_deadline_backends_on_their_pools() -> None:
    client = RegistryClient("registry.example", RegistryConfig())
    try:
        assert install(client.http) >= 1  # already installed by the client: found again
        pool = client.http._transport._pool  # type: ignore[attr-defined]
        assert isinstance(pool._network_backend, DeadlineBackend)
    finally:
        client.close()
    plain = httpx.Client()
    try:
        assert install(plain) == 1
    finally:
        plain.close()


def test_retries_stop_when_the_budget_is_spent() -> None:
    attempts: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(time.monotonic())
        time.sleep(0.1)
        return httpx.Response(503)

    config = RegistryConfig(timeout=0.35, max_attempts=50, backoff_base=0.01, backoff_max=0.02)
    client = RegistryClient("registry.example", config, transport=httpx.MockTransport(handler))
    try:
        started = time.monotonic()
        response = client.send("GET", "/v2/", idempotent=True, what="probe")
        assert response.status_code == 503
        assert 2 <= len(attempts) < 10
        assert time.monotonic() - started < 5  # a generous bound: the budget was 0.35 s
    finally:
        client.close()


def test_a_retry_after_beyond_the_budget_is_not_waited_for() -> None:
    sleeps: list[float] = []
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(429, headers={"Retry-After": "45"})

    client = RegistryClient(
        "registry.example",
        RegistryConfig(timeout=30.0),
        transport=httpx.MockTransport(handler),
        sleep=sleeps.append,
    )
    try:
        assert client.send("GET", "/v2/", idempotent=True, what="probe").status_code == 429
    finally:
        client.close()
    assert calls == [1] and sleeps == []
