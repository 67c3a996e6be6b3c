"""Bounded parsing of foreign documents (issue 11, item 4): 100 000 nested brackets in JSON,
YAML or TOML are one clean error naming the document, never a RecursionError; YAML aliases
cannot expand a small file into a huge tree; parser errors are one line."""

from __future__ import annotations

import json

import pytest

from shipflow.errors import ConfigError, UsageError
from shipflow.signing.dsse import EnvelopeError, parse_envelope, parse_statement
from shipflow.signing.jsondoc import (
    MAX_DEPTH,
    check_tree,
    json_depth,
    json_too_deep,
    load_object,
    parse_json,
    parse_toml,
    parse_yaml,
)
from shipflow.signing.payload import PayloadError, parse_payload

DEEP = 100_000


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("data", [_nested(DEEP), b"[" * DEEP, b'{"a":' * DEEP + b"1" + b"}" * DEEP])
def test_deep_json_is_one_error_naming_the_document(data: bytes) -> None:
    with pytest.raises(ConfigError, match=r"^predicate\.json is nested more than 128 levels deep$") as caught:
        parse_json(data, what="predicate.json", error=ConfigError)
    assert caught.value.exit_code == 2
    assert not isinstance(caught.value.__cause__, RecursionError)


def test_depth_limit_is_exact_and_strings_do_not_count() -> None:
    assert parse_json(_nested(MAX_DEPTH), what="x", error=UsageError) is not None
    with pytest.raises(UsageError, match="nested more than"):
        parse_json(_nested(MAX_DEPTH + 1), what="x", error=UsageError)
    # Brackets inside strings, escaped quotes and escaped backslashes are not structure.
    tricky = json.dumps({"s": "[[[[" * 200, "q": 'a"]]]]\\', "t": ['\\\\"[' * 300]}).encode()
    assert json_depth(tricky) == 2
    assert not json_too_deep(tricky, 2) and json_too_deep(tricky, 1)
    assert parse_json(tricky, what="x", error=UsageError)["s"].startswith("[[[[")


def test_json_errors_are_one_line() -> None:
    for data, match in [(b"{not json", "not valid JSON"), (b"\x80abc", "not UTF-8"), (b"1" * 5000, "JSON")]:
        with pytest.raises(UsageError, match=match) as caught:
            parse_json(data, what="doc", error=UsageError)
        assert "\n" not in caught.value.message


def test_load_object_refuses_non_objects() -> None:
    with pytest.raises(UsageError, match="not a JSON object"):
        load_object(b"[1]", "doc", UsageError)


def test_signed_documents_refuse_deep_nesting_as_verification_errors() -> None:
    deep = _nested(DEEP)
    for parse, error in [
        (parse_payload, PayloadError),
        (parse_envelope, EnvelopeError),
        (parse_statement, EnvelopeError),
    ]:
        with pytest.raises(error, match="nested more than") as caught:
            parse(deep)
        assert caught.value.exit_code == 1  # a malformed signature does not verify


@pytest.mark.parametrize(
    "text", ["[" * DEEP, "a:\n" + "".join(" " * i + "- \n" for i in range(1, 400)), "{a: " * DEEP]
)
def test_deep_yaml_is_one_error(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^x\.yaml is nested more than \d+ levels deep$"):
        parse_yaml(text, what="x.yaml", error=ConfigError, max_depth=64)


def test_yaml_aliases_cannot_expand_into_a_huge_tree() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    with pytest.raises(ConfigError, match="expands to more than 1000 values"):
        parse_yaml("\n".join(lines), what="bomb.yaml", error=ConfigError, max_nodes=1000)


def test_yaml_parser_errors_are_one_line_with_the_position() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_yaml("ignore:\n  - id: x\n  reason: [\n", what="f.yaml", error=ConfigError)
    message = caught.value.message
    assert message.startswith("f.yaml is not valid YAML: line ") and "\n" not in message
    with pytest.raises(ConfigError, match="not valid YAML"):  # an impossible date
        parse_yaml("d: 2024-13-45\n", what="f.yaml", error=ConfigError)


def test_deep_toml_is_one_error() -> None:
    with pytest.raises(ConfigError, match=r"^uv\.lock is nested more than 128 levels deep$"):
        parse_toml(b"a = " + b"[" * DEEP, what="uv.lock", error=ConfigError)
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_toml(b"a = {", what="uv.lock", error=ConfigError)
    with pytest.raises(ConfigError, match="not UTF-8"):
        parse_toml(b"\xff", what="uv.lock", error=ConfigError)


def test_check_tree_is_iterative() -> None:
    value: list[object] = []
    node = value
    for _ in range(50_000):  # deeper than the recursion limit: a recursive walk would crash
        child: list[object] = []
        node.append(child)
        node = child
    with pytest.raises(UsageError, match="nested more than 128"):
        check_tree(value, what="tree", error=UsageError)


def test_pure_python_yaml_loader_is_bounded_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without libyaml, PyYAML's own loader is used with a cap on flow nesting (else 100 000
    ``[`` take seconds to scan and end in a RecursionError)."""
    import yaml

    monkeypatch.delattr(yaml, "CSafeLoader")
    with pytest.raises(ConfigError, match="nested more than 128 levels deep"):
        parse_yaml("[" * DEEP, what="x.yaml", error=ConfigError)
    with pytest.raises(ConfigError, match="nested more than 128 levels deep"):
        parse_yaml("- " * 3000 + "1", what="x.yaml", error=ConfigError)
    assert parse_yaml("a: [1, {b: c}]\n", what="x.yaml", error=ConfigError) == {"a": [1, {"b": "c"}]}


def test_recursive_yaml_alias_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"expands to more than|nested more than"):
        parse_yaml("&a [*a]", what="x.yaml", error=ConfigError)
