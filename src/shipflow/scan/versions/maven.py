"""Maven versions, ordered as Maven's ``ComparableVersion`` orders them (OSV's Maven ranges are
in this order).

Written from Maven's rules and checked against the real ``maven-artifact`` of this machine
(Maven 3.8.7, its ``ComparableVersion`` main) in the tests:

* lower-cased, then split into items at ``.`` and ``-`` and at every change between digits and
  letters; a ``-``, a digit/letter change and a qualifier after a dot open a sub-list
  (``1.0.0.X1`` < ``1.0.0-X2``: ``.X`` is treated as ``-X``, Maven ≥ 3.8);
* numbers compare as numbers; qualifiers in the order ``alpha`` < ``beta`` < ``milestone`` <
  ``rc`` = ``cr`` < ``snapshot`` < (release: ``""``, ``ga``, ``final``, ``release``) < ``sp``,
  then unknown qualifiers alphabetically; ``a``, ``b``, ``m`` directly followed by a digit are
  ``alpha``, ``beta``, ``milestone``;
* a number is newer than a qualifier or a sub-list, a sub-list newer than a qualifier;
* trailing "null" items (``0``, release qualifiers) are dropped from each list, so ``1`` =
  ``1.0`` = ``1-0`` = ``1.ga``; a missing item compares as such a null.
"""

from __future__ import annotations

from functools import lru_cache

from shipflow.scan.versions.base import InvalidVersion

_QUALIFIERS = ("alpha", "beta", "milestone", "rc", "snapshot", "", "sp")
_ALIASES = {"ga": "", "final": "", "release": "", "cr": "rc"}
_RELEASE_INDEX = str(_QUALIFIERS.index(""))
MAX_VERSION_LENGTH = 200  # nesting grows with the length; real versions are far shorter

# An item: an int, a qualifier string (already aliased), or a list of items.
Item = int | str | list["Item"]


def _qualifier_key(value: str) -> str:
    index = _QUALIFIERS.index(value) if value in _QUALIFIERS else -1
    return str(index) if index >= 0 else f"{len(_QUALIFIERS)}-{value}"


def _string_item(value: str, followed_by_digit: bool) -> str:
    if followed_by_digit and len(value) == 1:
        value = {"a": "alpha", "b": "beta", "m": "milestone"}.get(value, value)
    return _ALIASES.get(value, value)


def _is_null(item: Item) -> bool:
    if isinstance(item, int):
        return item == 0
    if isinstance(item, str):
        return _qualifier_key(item) == _RELEASE_INDEX
    return not item


def _normalise(items: list[Item]) -> None:
    for index in range(len(items) - 1, -1, -1):
        if _is_null(items[index]):
            del items[index]
        elif not isinstance(items[index], list):
            break


def _is_digit(char: str) -> bool:
    return "0" <= char <= "9"


@lru_cache(maxsize=65536)
def parse(version: str) -> list[Item]:
    """The item tree of ``version`` (cached: callers must not change it)."""
    text = version.strip().lower()
    if not text or len(text) > MAX_VERSION_LENGTH:
        raise InvalidVersion(f"invalid Maven version {version!r}")
    root: list[Item] = []
    current = root
    stack = [root]
    digit = False
    start = 0

    def item(is_digit: bool, buffer: str) -> Item:
        return int(buffer) if is_digit else _string_item(buffer, False)

    for index, char in enumerate(text):
        if char in ".-":
            current.append(0 if index == start else item(digit, text[start:index]))
            start = index + 1
            if char == "-":
                child: list[Item] = []
                current.append(child)
                current = child
                stack.append(child)
        elif _is_digit(char):
            if not digit and index > start:
                if current:  # 1.0.0.X1 < 1.0.0-X2: a qualifier after a dot opens a list too
                    child = []
                    current.append(child)
                    current = child
                    stack.append(child)
                current.append(_string_item(text[start:index], True))
                start = index
                child = []
                current.append(child)
                current = child
                stack.append(child)
            digit = True
        else:
            if digit and index > start:
                current.append(int(text[start:index]))
                start = index
                child = []
                current.append(child)
                current = child
                stack.append(child)
            digit = False
    if len(text) > start:
        if not digit and current:  # treat .X as -X for a trailing qualifier X
            child = []
            current.append(child)
            current = child
            stack.append(child)
        current.append(item(digit, text[start:]))
    while stack:
        _normalise(stack.pop())
    return root


def _compare_item(left: Item | None, right: Item | None) -> int:
    """``left`` compared with ``right`` (``right`` None: against a missing item)."""
    if isinstance(left, int):
        if right is None:
            return 0 if left == 0 else 1
        if isinstance(right, int):
            return (left > right) - (left < right)
        return 1  # a number is newer than a qualifier or a sub-list
    if isinstance(left, str):
        if right is None:
            a, b = _qualifier_key(left), _RELEASE_INDEX
            return (a > b) - (a < b)
        if isinstance(right, str):
            a, b = _qualifier_key(left), _qualifier_key(right)
            return (a > b) - (a < b)
        return -1  # a qualifier is older than a number or a sub-list
    assert isinstance(left, list)
    if right is None:
        return 0 if not left else _compare_item(left[0], None)
    if isinstance(right, int):
        return -1
    if isinstance(right, str):
        return 1
    for index in range(max(len(left), len(right))):
        mine = left[index] if index < len(left) else None
        theirs = right[index] if index < len(right) else None
        if mine is not None:
            result = _compare_item(mine, theirs)
        else:
            result = 0 if theirs is None else -_compare_item(theirs, None)
        if result:
            return result
    return 0


def compare(a: str, b: str) -> int:
    return _compare_item(parse(a), parse(b))
