"""What every fuzz test shares: the property, and strategies that make hostile documents.

The property (:func:`check`): a parser given any bytes either returns or raises one of
shipflow's errors (a :class:`~shipflow.errors.ShipflowError` with a non-empty one-line-able
message and a documented exit code). Nothing else escapes (no ``KeyError``, ``RecursionError``,
``UnicodeDecodeError``…), no example runs longer than :data:`EXAMPLE_SECONDS` (a hard
SIGALRM deadline, so a loop that never ends fails with its input instead of hanging the
run), and no example allocates more than :func:`memory_bound` of its input's size.

Strategies build inputs three ways, because each finds different bugs:

* :func:`shaped` and :func:`json_documents` — documents of the format's own shape (or with
  keys from its vocabulary) in which any node may be a value of another type: the type
  confusions (``"events": "introduced"``, ``"_type": []``) a schema-unaware fuzzer rarely hits;
* :func:`mutated` — real files (the repository's fixtures) with bytes flipped, cut,
  duplicated, spliced with interesting tokens, or wrapped in deep nesting;
* plain ``st.binary()``/``st.text()`` for the lexers.
"""

from __future__ import annotations

import json
import signal
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from hypothesis import strategies as st

from shipflow.errors import EXIT_CHECK_FAILED, EXIT_INFRA, EXIT_USAGE, ShipflowError

DATA = Path(__file__).resolve().parents[1] / "data"

# Examples run, per fuzz target (printed at the end of the session by conftest.py).
COUNTS: Counter[str] = Counter()
# Foreign exceptions a target is known to raise, owned and reported elsewhere (each is pinned
# by a strict xfail test, so the tolerance disappears when the owner fixes it).
FINDINGS: set[str] = set()

# Generous: the machines are shared and tracemalloc slows pure-Python parsers several times;
# a hang is forever, not minutes.
EXAMPLE_SECONDS = 120
_MEMORY_BASE = 96 * 1024 * 1024
_MEMORY_PER_INPUT_BYTE = 64


class Hang(BaseException):
    """Raised by the per-example alarm: a BaseException so no parser's ``except Exception``
    swallows it."""


def memory_bound(input_size: int) -> int:
    """Peak Python allocations one example may make: 96 MiB plus 64 bytes per input byte
    (parsed JSON costs ~10-30 bytes of objects per input byte)."""
    return _MEMORY_BASE + _MEMORY_PER_INPUT_BYTE * input_size


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise Hang(f"one example ran for more than {EXAMPLE_SECONDS} s")


def check(
    target: str,
    parse: Callable[..., Any],
    *args: Any,
    size: int,
    known: tuple[type[BaseException], ...] = (),
) -> Any:
    """Run ``parse(*args)`` under the property; return its result (None if it raised one of
    shipflow's errors). ``known`` lists foreign exceptions already reported to their owner."""
    COUNTS[target] += 1
    previous = signal.signal(signal.SIGALRM, _alarm)
    # pytest-timeout may have its own (per-test) alarm running: put it back afterwards.
    outer, _ = signal.setitimer(signal.ITIMER_REAL, EXAMPLE_SECONDS)
    started = time.monotonic()
    tracemalloc.start()
    try:
        return parse(*args)
    except ShipflowError as exc:
        assert exc.message.strip(), f"{target}: {type(exc).__name__} with an empty message"
        assert exc.exit_code in (EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_INFRA), exc.exit_code
        return None
    except known as exc:
        FINDINGS.add(f"{target}: {type(exc).__name__}")
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - started), 0.001))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak <= memory_bound(size), f"{target}: peak {peak} bytes for a {size} byte input"


# --- strategies ----------------------------------------------------------------------------------

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=24)
    | st.sampled_from(["0", "1.0.0", "introduced", "ECOSYSTEM", "sha256:" + "a" * 64, "", "\x00", "\u202e"])
)


def json_documents(vocabulary: Sequence[str], *, max_leaves: int = 40) -> st.SearchStrategy[Any]:
    """JSON values whose object keys are mostly the format's own field names."""
    keys = st.sampled_from(list(vocabulary)) | st.text(max_size=12)
    return st.recursive(
        _SCALARS | st.sampled_from(list(vocabulary)),
        lambda children: st.lists(children, max_size=6) | st.dictionaries(keys, children, max_size=8),
        max_leaves=max_leaves,
    )


def json_bytes(vocabulary: Sequence[str]) -> st.SearchStrategy[bytes]:
    return json_documents(vocabulary).map(lambda value: json.dumps(value).encode())


_ANY_JSON = json_documents(["0", "1.0.0"], max_leaves=6)


def shaped(template: Any) -> st.SearchStrategy[Any]:
    """Documents of the template's shape in which any node may be replaced by a value of
    another type (one time in four): ``{"events": [{"introduced": "0"}]}`` becomes
    ``{"events": "introduced"}``, ``{"events": [7]}``, ``{"events": [{"introduced": []}]}``…
    Keys of a template dict are each optional. Lists are 0-3 copies of their first item."""
    if isinstance(template, dict):
        keep: st.SearchStrategy[Any] = st.fixed_dictionaries(
            {}, optional={k: shaped(v) for k, v in template.items()}
        )
    elif isinstance(template, list):
        keep = st.lists(shaped(template[0]), max_size=3) if template else st.just([])
    else:
        keep = st.just(template)
    return st.one_of(keep, keep, keep, _ANY_JSON)


def shaped_bytes(template: Any) -> st.SearchStrategy[bytes]:
    return shaped(template).map(lambda value: json.dumps(value).encode())


INTERESTING: tuple[bytes, ...] = (
    b'"',
    b"[",
    b"]",
    b"{",
    b"}",
    b",",
    b":",
    b"null",
    b"-1",
    b"1e999",
    b"9" * 5000,
    b"\\u0000",
    b"\\ud800",
    b"\xff\xfe",
    b"\x00",
    b"\x1b[2J",
    b"\n",
    b"\r\n",
    b"\n\n",
    b"- ",
    b": ",
    b"&a ",
    b"*a",
    b"!!python/object:os.system",
    b"!!binary",
    b"---\n",
    b"...",
    b"#",
    b"=",
    b"'",
    b"..",
    b"/",
    b"@",
    b"%2F",
    b"\t",
    b"-----BEGIN PUBLIC KEY-----\n",
    b"-----END PUBLIC KEY-----\n",
)


NEST_DEPTHS = (3, 130, 2_000, 50_000)


@st.composite
def mutated(draw: st.DrawFn, seeds: Sequence[bytes], nest_depths: Sequence[int] = NEST_DEPTHS) -> bytes:
    """A seed with up to eight edits: byte changes, cuts, duplications, interesting tokens,
    and (sometimes) deep nesting around or inside it (``nest_depths``)."""
    data = bytearray(draw(st.sampled_from(list(seeds))))
    for _ in range(draw(st.integers(min_value=0, max_value=8))):
        op = draw(st.sampled_from(["byte", "insert", "delete", "repeat", "truncate", "nest"]))
        at = draw(st.integers(min_value=0, max_value=len(data)))
        if op == "byte" and data:
            data[min(at, len(data) - 1)] = draw(st.integers(min_value=0, max_value=255))
        elif op == "insert":
            data[at:at] = draw(st.sampled_from(INTERESTING) | st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[at : at + draw(st.integers(min_value=1, max_value=64))]
        elif op == "repeat":
            chunk = bytes(data[at : at + draw(st.integers(min_value=1, max_value=32))])
            data[at:at] = chunk * draw(st.integers(min_value=1, max_value=64))
        elif op == "truncate":
            del data[at:]
        else:
            depth = draw(st.sampled_from(list(nest_depths)))
            opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}"), (b"- ", b"")]))
            data[at:at] = opener * depth + closer * depth
    return bytes(data)


def seeds(*relative: str) -> list[bytes]:
    """Files under tests/data (directories: every file in them), as seeds."""
    out: list[bytes] = []
    for name in relative:
        path = DATA / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        out.extend(p.read_bytes() for p in files if p.stat().st_size <= 256 * 1024)
    assert out, relative
    return out
