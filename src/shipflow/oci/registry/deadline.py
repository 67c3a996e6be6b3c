"""Overall deadlines for registry requests, enforced at the socket.

httpx's timeouts are per socket operation: ``read=60`` means "no byte for 60 s", so a server
that sends one byte every 5 s keeps a request alive forever, and four attempts of a silent
server took 4 x 60 s. Two rules bound every exchange with a registry instead:

* :class:`Deadline` — one operation (a request and its answer, every retry and every backoff
  wait included) ends by a fixed time: ``RegistryConfig.timeout`` (30 s by default) after it
  started. This covers connecting, TLS, sending, the status line and headers, and small
  bodies (manifests, tag lists, error bodies).
* :class:`Progress` — a blob body (a download, or an upload's PATCH/PUT body) has no fixed
  end, since a big blob on a slow link legitimately takes hours. Instead it must keep moving:
  at least ``min_rate * window`` bytes for every ``window`` seconds spent waiting on the
  network (``window`` is the same ``timeout``). A transfer at or above ``min_rate`` never
  times out, whatever its size; a drip or a stall is cut one window after it stopped making
  progress. Only time blocked on the socket counts, so in a registry-to-registry copy a slow
  destination does not starve the source's window, nor the reverse.

How it is enforced: the *budget* of the operation in progress is kept per thread
(:func:`budget_scope`); :class:`DeadlineBackend` wraps httpcore's network backend, and every
connect, read and write on a socket is given ``min(its own timeout, the budget's time left)``.
When no time is left the operation raises httpcore's timeout, which httpx reports as a
:class:`httpx.TimeoutException` like any other timeout. Reads and writes also count their bytes
towards a :class:`Progress` budget (writes are cut into slices so a large body shows its
progress as it goes).

Why at the socket: httpx has no overall deadline, and a watchdog thread that closes a
connection cannot reach the socket before the response headers are in (a server dripping its
*headers* is the case that hung). httpcore's pool takes a pluggable network backend, but
``httpx.HTTPTransport`` does not pass one through: :func:`install` wraps the backend of the
pools httpx built (its own transport and any proxy transports from the environment), so TLS,
proxies and connection reuse stay exactly httpx's.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, cast

import httpcore
import httpx

log = logging.getLogger(__name__)

Clock = Callable[[], float]

_WRITE_SLICE = 64 * 1024
"""Bytes written per socket call, so a large body counts its progress as it goes."""

_local = threading.local()


class Budget(Protocol):
    """Time allowed to what runs inside :func:`budget_scope`."""

    tripped: bool
    """Set once an operation was cut because this budget ran out."""

    clock: Clock
    """The clock time is measured with (injectable in tests)."""

    def remaining(self) -> float:
        """Seconds left (zero or less: spent)."""
        ...

    def waited(self, seconds: float) -> None:
        """``seconds`` were spent blocked in one network operation under this budget."""
        ...

    def advance(self, nbytes: int) -> None:
        """``nbytes`` moved over the network under this budget."""
        ...

    def describe(self) -> str:
        """The rule, for messages: "30 s", "4096 B/s over 30 s"."""
        ...


class Deadline:
    """A fixed end: ``seconds`` after creation, whatever happens meanwhile."""

    def __init__(self, seconds: float, *, clock: Clock = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self.ends_at = clock() + seconds
        self.tripped = False

    def remaining(self) -> float:
        return self.ends_at - self.clock()

    def waited(self, seconds: float) -> None:
        pass  # wall-clock time counts, waiting or not

    def advance(self, nbytes: int) -> None:
        pass

    def describe(self) -> str:
        return f"{self.seconds:g} s"


class Progress:
    """A transfer that must move ``min_rate * window`` bytes (a *quantum*) for every
    ``window`` seconds it spends waiting on the network.

    Only time blocked in a socket operation counts: a consumer that pauses between reads (a
    slow destination in a registry-to-registry copy, a cataloger at work) does not use up the
    source's window, nor a slow source the destination's. The count restarts each time a
    quantum has moved; the time left is ``window`` minus the waiting since.
    """

    def __init__(self, window: float, min_rate: int, *, clock: Clock = time.monotonic) -> None:
        self.window = window
        self.min_rate = min_rate
        self.quantum = max(1, int(min_rate * window))
        self.clock = clock
        self._lock = threading.Lock()
        self._waited = 0.0
        self._pending = 0
        self.moved = 0
        self.tripped = False

    def restart(self) -> None:
        """Start a fresh window (when the body begins, after the headers)."""
        with self._lock:
            self._waited = 0.0
            self._pending = 0

    def remaining(self) -> float:
        return self.window - self._waited

    def waited(self, seconds: float) -> None:
        with self._lock:
            self._waited += seconds

    def advance(self, nbytes: int) -> None:
        with self._lock:
            self.moved += nbytes
            self._pending += nbytes
            if self._pending >= self.quantum:
                self._waited = 0.0
                self._pending %= self.quantum

    def describe(self) -> str:
        return f"at least {self.min_rate} B/s over every {self.window:g} s of waiting"


def current() -> Budget | None:
    """The budget of the operation running in this thread, if any."""
    budget: Budget | None = getattr(_local, "budget", None)
    return budget


@contextmanager
def budget_scope(budget: Budget | None) -> Iterator[None]:
    """Run the block under ``budget`` (None: no overall limit, per-operation timeouts only)."""
    previous = current()
    _local.budget = budget
    try:
        yield
    finally:
        _local.budget = previous


def _limit(timeout: float | None, error: type[Exception]) -> tuple[float | None, Budget | None]:
    """``timeout`` clamped to the current budget; raise ``error`` if it is spent.

    Returns the clamped timeout and the budget if it (not ``timeout``) is the binding limit.
    """
    budget = current()
    if budget is None:
        return timeout, None
    left = budget.remaining()
    if left <= 0:
        budget.tripped = True
        raise error(f"the time allowed ({budget.describe()}) ran out")
    if timeout is None or left < timeout:
        return left, budget
    return timeout, None


class DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every operation obeys the current budget."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        limited, binding = _limit(timeout, httpcore.ReadTimeout)
        budget = current()
        started = budget.clock() if budget is not None else 0.0
        try:
            data = self._inner.read(max_bytes, limited)
        except httpcore.ReadTimeout:
            if binding is not None:
                binding.tripped = True
            raise
        finally:
            if budget is not None:
                budget.waited(budget.clock() - started)
        if budget is not None and data:
            budget.advance(len(data))
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if len(buffer) <= _WRITE_SLICE:
            self._write(buffer, timeout)
            return
        for start in range(0, len(buffer), _WRITE_SLICE):
            self._write(buffer[start : start + _WRITE_SLICE], timeout)

    def _write(self, piece: bytes, timeout: float | None) -> None:
        limited, binding = _limit(timeout, httpcore.WriteTimeout)
        budget = current()
        started = budget.clock() if budget is not None else 0.0
        try:
            self._inner.write(piece, limited)
        except httpcore.WriteTimeout:
            if binding is not None:
                binding.tripped = True
            raise
        finally:
            if budget is not None:
                budget.waited(budget.clock() - started)
        if budget is not None:
            budget.advance(len(piece))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        limited, _ = _limit(timeout, httpcore.ConnectTimeout)
        return DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, limited))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's network backend, with every connection a :class:`DeadlineStream`."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self.inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        limited, _ = _limit(timeout, httpcore.ConnectTimeout)
        return DeadlineStream(
            self.inner.connect_tcp(
                host, port, timeout=limited, local_address=local_address, socket_options=socket_options
            )
        )

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        limited, _ = _limit(timeout, httpcore.ConnectTimeout)
        return DeadlineStream(
            self.inner.connect_unix_socket(path, timeout=limited, socket_options=socket_options)
        )

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


def install(client: httpx.Client) -> int:
    """Make every connection pool of ``client`` enforce budgets; return how many were wrapped.

    Transports that are not httpx's own (a test's ``MockTransport``) are left alone.
    """
    wrapped = 0
    transports: list[object] = [getattr(client, "_transport", None)]
    transports += list(getattr(client, "_mounts", {}).values())
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, DeadlineBackend):
            wrapped += 1
        elif isinstance(backend, httpcore.NetworkBackend):
            pool._network_backend = DeadlineBackend(backend)  # type: ignore[union-attr]
            wrapped += 1
    return wrapped


class AnswerTooLarge(Exception):
    """A response body went over the limit its :class:`BudgetedStream` allows."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the answer is over {limit} bytes")
        self.limit = limit


class BudgetedStream(httpx.SyncByteStream):
    """A response body read under ``budget``, by whoever reads it and whenever; with a
    ``limit``, a body longer than that raises :class:`AnswerTooLarge` instead of being read."""

    def __init__(
        self, inner: httpx.SyncByteStream, budget: Budget | None, *, limit: int | None = None
    ) -> None:
        self._inner = inner
        self.budget = budget
        self.limit = limit

    def __iter__(self) -> Iterator[bytes]:
        pieces = iter(self._inner)
        seen = 0
        while True:
            with budget_scope(self.budget) if self.budget is not None else contextlib.nullcontext():
                try:
                    piece = next(pieces)
                except StopIteration:
                    return
            seen += len(piece)
            if self.limit is not None and seen > self.limit:
                raise AnswerTooLarge(self.limit)
            yield piece

    def close(self) -> None:
        self._inner.close()


def cap_body(response: httpx.Response, limit: int) -> None:
    """Make whoever reads ``response`` (httpx itself, inside an auth flow) stop at ``limit``
    bytes with :class:`AnswerTooLarge`, under the budget running now."""
    response.stream = BudgetedStream(cast(httpx.SyncByteStream, response.stream), current(), limit=limit)


__all__ = [
    "AnswerTooLarge",
    "Budget",
    "BudgetedStream",
    "Deadline",
    "DeadlineBackend",
    "DeadlineStream",
    "Progress",
    "budget_scope",
    "cap_body",
    "current",
    "install",
]
