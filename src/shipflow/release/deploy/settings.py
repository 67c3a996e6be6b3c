"""The ``deploy:`` settings of an environment (``canary.deploy`` in shipflow.yaml)::

    deploy: {target: tag}                                  # the default
    deploy:
      target: command
      deploy: "fly deploy --image {ref}"                   # or a list: [fly, deploy, --image, "{ref}"]
      rollback: "fly deploy --image {ref}"                 # optional; default: the deploy command
      stop: "fly scale count 0"                            # optional
      timeout: 300s
      env: {FLY_APP: immoflowme-canary}                    # ${NAME} references expanded
    deploy:
      target: local
      port: 8080                                           # given to the image as $PORT
      env: {LOG_LEVEL: debug}
      state_dir: .shipflow/local                           # relative to shipflow.yaml
      start_timeout: 10s
      stop_timeout: 5s

Command templates know ``{image}`` (the repository), ``{digest}``, ``{ref}`` (image@digest),
``{env}`` and ``{previous}`` (the digest the environment ran before, or empty). A string is
split like a shell would split it (``shlex``) and run *without* a shell; placeholders are
filled in per argument, so a value can never become two arguments. Shell features need an
explicit shell: ``["sh", "-c", "deploy.sh {ref} && notify"]``.
"""

from __future__ import annotations

import re
import shlex
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, assert_never

from shipflow.errors import ConfigError

if TYPE_CHECKING:
    from shipflow.release.yamlconf import Node

__all__ = [
    "PLACEHOLDERS",
    "CommandSettings",
    "CommandTemplate",
    "DeploySettings",
    "LocalSettings",
    "TagSettings",
    "TargetKind",
    "deploy_settings_from_node",
]

PLACEHOLDERS = ("image", "digest", "ref", "env", "previous")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class TargetKind(StrEnum):
    TAG = "tag"
    COMMAND = "command"
    LOCAL = "local"


@dataclass(frozen=True)
class CommandTemplate:
    """An argv template: each argument may contain ``{image}``, ``{digest}``, ``{ref}``,
    ``{env}``, ``{previous}``."""

    argv: tuple[str, ...]

    @classmethod
    def parse(cls, value: str | list[str], *, where: str = "command") -> CommandTemplate:
        if isinstance(value, str):
            try:
                argv = shlex.split(value)
            except ValueError as exc:
                raise ConfigError(f"{where}: cannot split {value!r}: {exc}", hint="check the quotes") from exc
        else:
            argv = list(value)
        if not argv or not argv[0].strip():
            raise ConfigError(f"{where}: the command is empty", hint="give a program and its arguments")
        for arg in argv:
            problem = _template_problem(arg)
            if problem:
                raise ConfigError(
                    f"{where}: {problem} in {arg!r}",
                    hint=f"placeholders are {', '.join('{' + p + '}' for p in PLACEHOLDERS)}; "
                    "write {{ and }} for literal braces",
                )
        return cls(tuple(argv))

    def render(self, values: Mapping[str, str]) -> list[str]:
        return [arg.format_map(dict(values)) for arg in self.argv]

    def __str__(self) -> str:
        return shlex.join(self.argv)


def _template_problem(arg: str) -> str | None:
    try:
        fields = list(string.Formatter().parse(arg))
    except ValueError as exc:
        return f"malformed placeholder ({exc})"
    for _, name, spec, conversion in fields:
        if name is None:
            continue
        if name not in PLACEHOLDERS:
            return f"unknown placeholder {{{name}}}"
        if spec or conversion:
            return f"placeholder {{{name}}} takes no format or conversion"
    return None


@dataclass(frozen=True)
class TagSettings:
    kind: TargetKind = TargetKind.TAG


@dataclass(frozen=True)
class CommandSettings:
    deploy: CommandTemplate
    rollback: CommandTemplate | None = None
    stop: CommandTemplate | None = None
    timeout: float = 300.0
    env: Mapping[str, str] = field(default_factory=dict)
    workdir: Path | None = None
    kind: TargetKind = TargetKind.COMMAND


@dataclass(frozen=True)
class LocalSettings:
    state_dir: Path
    port: int | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    start_timeout: float = 10.0
    stop_timeout: float = 5.0
    platform: str | None = None
    kind: TargetKind = TargetKind.LOCAL


DeploySettings = TagSettings | CommandSettings | LocalSettings

_COMMON = {"target"}
_KEYS: dict[TargetKind, set[str]] = {
    TargetKind.TAG: _COMMON,
    TargetKind.COMMAND: _COMMON | {"deploy", "rollback", "stop", "timeout", "env", "workdir"},
    TargetKind.LOCAL: _COMMON | {"port", "env", "state_dir", "start_timeout", "stop_timeout", "platform"},
}


def deploy_settings_from_node(
    node: Node | None, environ: Mapping[str, str], *, base_dir: Path, default_state_dir: Path | None = None
) -> DeploySettings:
    """Read a ``deploy:`` mapping (None: the ``tag`` default). Paths are relative to ``base_dir``
    (the directory of shipflow.yaml)."""
    if node is None:
        return TagSettings()
    target_node = node.get("target")
    if target_node is None:
        kind = TargetKind.TAG
    else:
        kind = TargetKind(target_node.as_str(choices=[k.value for k in TargetKind]))
    children = node.mapping(_KEYS[kind])
    env = _env_mapping(children.get("env"), environ)
    match kind:
        case TargetKind.TAG:
            return TagSettings()
        case TargetKind.COMMAND:
            return _command_settings(node, env, base_dir)
        case TargetKind.LOCAL:
            return _local_settings(node, env, base_dir, default_state_dir)
        case _:
            assert_never(kind)


def _command_settings(node: Node, env: dict[str, str], base_dir: Path) -> CommandSettings:
    rollback_node = node.get("rollback")
    stop_node = node.get("stop")
    timeout_node = node.get("timeout")
    workdir_node = node.get("workdir")
    return CommandSettings(
        deploy=_template(node.require("deploy")),
        rollback=_template(rollback_node) if rollback_node is not None else None,
        stop=_template(stop_node) if stop_node is not None else None,
        timeout=timeout_node.as_duration(min=0.001, max=24 * 3600) if timeout_node is not None else 300.0,
        env=env,
        workdir=(base_dir / workdir_node.as_str()) if workdir_node is not None else None,
    )


def _local_settings(
    node: Node, env: dict[str, str], base_dir: Path, default_state_dir: Path | None
) -> LocalSettings:
    state_node = node.get("state_dir")
    if state_node is not None:
        state_dir = base_dir / state_node.as_str()
    else:
        state_dir = default_state_dir or base_dir / ".shipflow" / "local"
    port_node = node.get("port")
    start_node = node.get("start_timeout")
    stop_node = node.get("stop_timeout")
    platform_node = node.get("platform")
    return LocalSettings(
        state_dir=state_dir,
        port=port_node.as_int(min=1, max=65535) if port_node is not None else None,
        env=env,
        start_timeout=start_node.as_duration(min=0, max=3600) if start_node is not None else 10.0,
        stop_timeout=stop_node.as_duration(min=0, max=600) if stop_node is not None else 5.0,
        platform=platform_node.as_str() if platform_node is not None else None,
    )


def _template(node: Node) -> CommandTemplate:
    if node.kind == "sequence":
        value: str | list[str] = [item.as_str(allow_empty=True) for item in node.as_list()]
    else:
        value = node.as_str()
    try:
        return CommandTemplate.parse(value, where=node.path)
    except ConfigError as exc:
        raise node.error(exc.message.removeprefix(f"{node.path}: "), hint=exc.hint) from None


def _env_mapping(node: Node | None, environ: Mapping[str, str]) -> dict[str, str]:
    if node is None:
        return {}
    result: dict[str, str] = {}
    for key, child in node.mapping().items():
        if not _ENV_NAME.match(key):
            raise child.error(f"{key!r} is not an environment variable name", allowed="letters, digits, '_'")
        number = (
            child.kind == "scalar"
            and isinstance(child.value, int | float)
            and not isinstance(child.value, bool)
        )
        result[key] = str(child.value) if number else child.expand_env(environ)
    return result
