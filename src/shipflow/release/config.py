"""``shipflow.yaml``: the pipeline a repository declares, validated with precise errors.

The file lives in the user's repository (found in the working directory, or named by
``--config PATH`` / ``$SHIPFLOW_CONFIG``). Paths in it are relative to the file. Secrets never
appear in it: values may refer to environment variables as ``${NAME}``, expanded only when the
setting is used (so ``promote --to staging`` does not need the production database URL), and
registered for redaction when they hold a secret::

    image: ghcr.io/immoflowme/app        # any store reference without tag (oci:./store works too)
    keys:
      trusted: [keys/cosign.pub]         # a signature must verify with one of these
      records: [keys/ci.pub]             # optional: who may sign promotion records (default: trusted)
    roles:
      ci: [github-actions[bot]]
      developer: [dev-login-1]
      tech-lead: [lead-login-1]
    approvers:
      lead-login-1: keys/lead-1.pub
    environments:                        # in pipeline order
      dev:        {promoted_by: [ci]}
      staging:    {from: dev, promoted_by: [developer], gates: [signature, vulnerabilities, migration, smoke]}
      canary:     {from: staging, promoted_by: [tech-lead], gates: [signature, migration]}
      production: {from: canary, promoted_by: [tech-lead], gates: [signature, approvals], approvals: 1}
    gates:
      vulnerabilities: {fail_on: [CRITICAL, HIGH]}
      migration: {database_url: "${STAGING_DATABASE_URL}", command: "npm run migrate"}
      smoke: {command: "./scripts/smoke.sh", timeout: 120}

Every problem is a :class:`~shipflow.errors.ConfigError` (exit 2) naming the file, the line, the
key path, what is wrong and what is allowed.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipflow.errors import ConfigError
from shipflow.release.yamlconf import Node, load_yaml

__all__ = [
    "BUILTIN_GATES",
    "CONFIG_FILE",
    "CommandGateSettings",
    "EnvironmentSettings",
    "GateUse",
    "HttpCheck",
    "MigrationGateSettings",
    "PipelineConfig",
    "Templated",
    "VulnerabilityGateSettings",
    "find_config",
    "load_config",
]

CONFIG_FILE = "shipflow.yaml"
ENV_CONFIG = "SHIPFLOW_CONFIG"
BUILTIN_GATES = ("signature", "approvals")
CONFIGURABLE_GATES = ("vulnerabilities", "migration", "smoke", "contract")
_ENV_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
_ROLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_LOGIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\[\]-]{0,99}$")


@dataclass(frozen=True)
class Templated:
    """A string setting that may refer to ``${NAME}`` variables, expanded when used."""

    raw: str
    node: Node = field(repr=False, compare=False)

    def resolve(self, environ: Mapping[str, str] | None = None) -> str:
        return self.node.expand_env(os.environ if environ is None else environ)

    @property
    def where(self) -> str:
        return f"{self.node.where} ({self.node.path})"


@dataclass(frozen=True)
class HttpCheck:
    """A declarative smoke/contract check against the environment's URL."""

    method: str
    path: str
    status: int
    json: Mapping[str, Any] = field(default_factory=dict)
    timeout: float = 10.0


@dataclass(frozen=True)
class CommandGateSettings:
    """``smoke`` and ``contract``: a command, declarative HTTP checks, or both."""

    name: str
    command: tuple[Templated, ...] | None
    shell: bool
    timeout: float
    checks: tuple[HttpCheck, ...]
    junit: Path | None
    cwd: Path


@dataclass(frozen=True)
class VulnerabilityGateSettings:
    fail_on: tuple[str, ...]
    db: Path | None
    ignore_files: tuple[Path, ...]
    ignore_unfixed: bool
    max_db_age: float | None
    use_sbom_attestation: bool


@dataclass(frozen=True)
class MigrationGateSettings:
    database_url: Templated
    command: tuple[Templated, ...]
    shell: bool
    timeout: float
    allow_breaking: bool
    cwd: Path


@dataclass(frozen=True)
class GateUse:
    """One gate in an environment's list: its name, and a reason when it is skipped there."""

    name: str
    skip_reason: str | None = None
    overrides: Node | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class EnvironmentSettings:
    name: str
    source: str | None  # the environment it is promoted from (None: any signed digest)
    promoted_by: tuple[str, ...]
    gates: tuple[GateUse, ...]
    approvals: int
    url: Templated | None
    allow_breaking_migrations: bool
    line: int
    deploy: Node | None = field(default=None, repr=False, compare=False)  # read by release.deploy


@dataclass(frozen=True)
class PipelineConfig:
    """The whole file, validated. ``root`` is the directory relative paths start from."""

    path: Path
    root: Path
    image: str
    trusted_keys: tuple[Path, ...]
    record_keys: tuple[Path, ...]
    roles: Mapping[str, tuple[str, ...]]
    approvers: Mapping[str, Path]
    environments: Mapping[str, EnvironmentSettings]
    vulnerabilities: VulnerabilityGateSettings | None
    migration: MigrationGateSettings | None
    command_gates: Mapping[str, CommandGateSettings]
    node: Node = field(repr=False, compare=False)

    def environment(self, name: str) -> EnvironmentSettings:
        env = self.environments.get(name)
        if env is None:
            raise ConfigError(
                f"{self.path}: no environment {name!r}",
                hint=f"the environments are: {', '.join(self.environments)}",
            )
        return env

    def paths(self) -> list[tuple[str | None, str]]:
        """Every allowed promotion path (source, target), in pipeline order."""
        return [(env.source, env.name) for env in self.environments.values()]

    def describe_paths(self) -> str:
        return ", ".join(f"{src or 'build'} → {dst}" for src, dst in self.paths())

    def chain_to(self, target: str) -> list[str]:
        """The environments an image passes through to reach ``target``, first to last."""
        chain = [target]
        while (source := self.environment(chain[-1]).source) is not None:
            chain.append(source)
        return list(reversed(chain))

    def section(self, key: str) -> Node | None:
        """A raw top-level section (e.g. ``canary``) for the module that owns it."""
        return self.node.get(key)

    def roles_of(self, actor: str) -> list[str]:
        return [role for role, members in self.roles.items() if actor in members]


def find_config(explicit: Path | None = None, cwd: Path | None = None) -> Path:
    """The config file to use: ``explicit``, else ``$SHIPFLOW_CONFIG``, else ./shipflow.yaml."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"{explicit}: {_not_a_file(explicit)}", hint="check the --config path")
        return explicit
    from_env = os.environ.get(ENV_CONFIG)
    if from_env:
        path = Path(from_env)
        if not path.is_file():
            raise ConfigError(f"${ENV_CONFIG}={from_env}: {_not_a_file(path)}", hint=f"fix {ENV_CONFIG}")
        return path
    here = (cwd or Path.cwd()) / CONFIG_FILE
    if not here.is_file():
        raise ConfigError(
            f"no {CONFIG_FILE} in {here.parent}",
            hint=f"create {CONFIG_FILE} (the README's 'shipflow.yaml' section has a complete example; "
            "`shipflow init` writes one), or pass --config PATH",
        )
    return here


def _not_a_file(path: Path) -> str:
    """Why ``path`` cannot be read as a configuration file (a device or a directory exists)."""
    if path.is_dir():
        return "is a directory, not a configuration file"
    if path.exists():
        return "is not a regular file (a device or a pipe), not a configuration file"
    return "no such configuration file"


def load_config(path: Path) -> PipelineConfig:
    """Read and validate ``path`` (ConfigError with file, line and key path on any problem)."""
    root_node = load_yaml(path, display=str(path))
    return _Parser(path, root_node).parse()


class _Parser:
    def __init__(self, path: Path, node: Node) -> None:
        self.path = path
        self.root = path.resolve().parent
        self.node = node

    def parse(self) -> PipelineConfig:
        top = self.node.mapping(
            {"image", "keys", "roles", "approvers", "environments", "gates", "canary", "release", "build"}
        )
        if "image" not in top:
            raise self.node.error(
                "'image' is required", hint="e.g. image: ghcr.io/org/app or image: oci:./store"
            )
        image = self._image(top["image"])
        trusted, records = self._keys(self.node.require("keys"))
        roles = self._roles(self.node.get("roles"))
        approvers = self._approvers(self.node.get("approvers"))
        gates = self.node.get("gates")
        gate_nodes = gates.mapping(CONFIGURABLE_GATES) if gates is not None else {}
        environments = self._environments(self.node.require("environments"), roles, approvers, gate_nodes)
        return PipelineConfig(
            path=self.path,
            root=self.root,
            image=image,
            trusted_keys=trusted,
            record_keys=records or trusted,
            roles=roles,
            approvers=approvers,
            environments=environments,
            vulnerabilities=self._vulnerabilities(gate_nodes.get("vulnerabilities")),
            migration=self._migration(gate_nodes.get("migration")),
            command_gates={
                name: self._command_gate(name, gate_nodes[name])
                for name in ("smoke", "contract")
                if name in gate_nodes
            },
            node=self.node,
        )

    # --- pieces ---------------------------------------------------------------------------

    def _file(self, node: Node, what: str) -> Path:
        path = Path(node.as_str()).expanduser()
        resolved = path if path.is_absolute() else self.root / path
        try:
            exists = resolved.exists()
        except OSError as exc:  # a name too long for the file system, say
            raise node.error(f"{what} {node.value!r} cannot be looked up: {exc.strerror or exc}") from exc
        if not exists:
            raise node.error(f"{what} {node.value!r} does not exist (paths are relative to {self.path.name})")
        return resolved

    def _image(self, node: Node) -> str:
        from shipflow.oci.reference import parse_reference

        text = node.as_str()
        if text.startswith("oci:"):
            location = text[4:]
            if ":" in location or "@" in location:
                raise node.error("must name the store without a tag or digest", allowed="oci:PATH")
            path = Path(location).expanduser()
            text = "oci:" + str(path if path.is_absolute() else self.root / path)
        try:
            ref = parse_reference(text)
        except ConfigError:
            raise
        except Exception as exc:  # InvalidReference: name the line
            message = getattr(exc, "message", str(exc))
            raise node.error(f"not an image reference: {message}") from exc
        if not ref.is_layout and (ref.tag is not None or ref.digest is not None):
            raise node.error("must name the repository without a tag or digest", allowed="registry/org/app")
        return text

    def _keys(self, node: Node) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
        keys = node.mapping({"trusted", "records"})
        if "trusted" not in keys:
            raise node.error("'trusted' is required: the public keys a signature must verify with")
        trusted = tuple(self._key_file(item) for item in keys["trusted"].as_list())
        if not trusted:
            raise keys["trusted"].error("needs at least one public key")
        records = (
            tuple(self._key_file(item) for item in keys["records"].as_list()) if "records" in keys else ()
        )
        return trusted, records

    def _key_file(self, node: Node) -> Path:
        from shipflow.signing.keys import load_public_keys

        path = self._file(node, "key file")
        try:
            load_public_keys(path)
        except ConfigError as exc:
            raise node.error(exc.message, hint=exc.hint) from exc
        return path

    def _roles(self, node: Node | None) -> dict[str, tuple[str, ...]]:
        roles: dict[str, tuple[str, ...]] = {}
        if node is None:
            return roles
        for name, members in node.items():
            if not _ROLE_NAME.match(name):
                raise members.error(f"role name {name!r} is not allowed", allowed="letters, digits, - and _")
            logins = tuple(self._login(item) for item in members.as_list())
            roles[name] = logins
        return roles

    def _login(self, node: Node) -> str:
        login = node.as_str()
        if not _LOGIN.match(login):
            raise node.error(f"{login!r} is not a GitHub login", allowed="letters, digits, -, _, . and [bot]")
        return login

    def _approvers(self, node: Node | None) -> dict[str, Path]:
        if node is None:
            return {}
        approvers: dict[str, Path] = {}
        for login, key in node.items():
            if not _LOGIN.match(login):
                raise key.error(f"{login!r} is not a GitHub login")
            approvers[login] = self._key_file(key)
        return approvers

    def _environments(
        self,
        node: Node,
        roles: Mapping[str, tuple[str, ...]],
        approvers: Mapping[str, Path],
        gate_nodes: Mapping[str, Node],
    ) -> dict[str, EnvironmentSettings]:
        entries = node.mapping()
        if not entries:
            raise node.error("needs at least one environment", hint="e.g. dev, staging, canary, production")
        result: dict[str, EnvironmentSettings] = {}
        for name, env_node in entries.items():
            if not _ENV_NAME.match(name):
                raise env_node.error(
                    f"environment name {name!r} is not allowed",
                    allowed="lower-case letters, digits and -, starting with a letter, at most 32",
                )
            fields = env_node.mapping(
                {"from", "promoted_by", "gates", "approvals", "url", "allow_breaking_migrations", "deploy"}
            )
            source = fields["from"].as_str() if "from" in fields else None
            if source is not None and source not in entries:
                raise fields["from"].error(f"no environment {source!r}", allowed=", ".join(entries))
            if source == name:
                raise fields["from"].error("an environment cannot be promoted from itself")
            if "promoted_by" not in fields:
                raise env_node.error("'promoted_by' is required: the roles that may promote into it")
            promoted_by = tuple(item.as_str() for item in fields["promoted_by"].as_list())
            for role, item in zip(promoted_by, fields["promoted_by"].as_list(), strict=True):
                if role not in roles:
                    raise item.error(
                        f"no role {role!r} under roles:", allowed=", ".join(roles) or "none defined"
                    )
            approvals = fields["approvals"].as_int(min=0, max=100) if "approvals" in fields else 0
            gates = self._gate_uses(fields.get("gates"), gate_nodes)
            names = [g.name for g in gates]
            if approvals and "approvals" not in names:
                gates = (*gates, GateUse("approvals"))
            if "approvals" in names and not approvals:
                approvals = 1
            if approvals and len(approvers) < approvals:
                where = fields.get("approvals") or env_node
                raise where.error(
                    f"needs {approvals} approval(s) but only {len(approvers)} approver(s) are listed",
                    hint="list the approvers and their public keys under approvers:",
                )
            if "signature" not in names:
                # Every promotion verifies the signature; listing it is optional, skipping it is not.
                gates = (GateUse("signature"), *gates)
            result[name] = EnvironmentSettings(
                name=name,
                source=source,
                promoted_by=promoted_by,
                gates=gates,
                approvals=approvals,
                url=Templated(fields["url"].as_str(), fields["url"]) if "url" in fields else None,
                allow_breaking_migrations=(
                    fields["allow_breaking_migrations"].as_bool()
                    if "allow_breaking_migrations" in fields
                    else False
                ),
                line=env_node.line,
                deploy=fields.get("deploy"),
            )
        self._check_no_cycles(result, node)
        return result

    def _gate_uses(self, node: Node | None, gate_nodes: Mapping[str, Node]) -> tuple[GateUse, ...]:
        if node is None:
            return ()
        uses: list[GateUse] = []
        for item in node.as_list():
            if item.kind == "mapping":
                entries = item.mapping()
                if len(entries) != 1:
                    raise item.error("a gate entry with settings has exactly one key, the gate's name")
                name, settings = next(iter(entries.items()))
                settings.mapping({"skip"})
                overrides: Node | None = settings
                reason = settings.require("skip").as_str()
            else:
                name, overrides, reason = item.as_str(), None, None
                settings = item
            allowed = (*BUILTIN_GATES, *CONFIGURABLE_GATES)
            if name not in allowed:
                raise settings.error(f"unknown gate {name!r}", allowed=", ".join(allowed))
            if name == "signature" and reason is not None:
                raise settings.error("the signature gate cannot be skipped: unsigned images never move")
            if name in CONFIGURABLE_GATES and name not in gate_nodes and reason is None:
                raise settings.error(f"gate {name!r} is used but not configured under gates:")
            if any(u.name == name for u in uses):
                raise settings.error(f"gate {name!r} is listed twice")
            uses.append(GateUse(name, reason, overrides))
        return tuple(uses)

    def _check_no_cycles(self, envs: Mapping[str, EnvironmentSettings], node: Node) -> None:
        for name in envs:
            seen = [name]
            current = envs[name].source
            while current is not None:
                if current in seen:
                    raise node.mapping()[name].error(
                        f"promotion paths form a cycle: {' → '.join([*seen, current])}"
                    )
                seen.append(current)
                current = envs[current].source

    def _command(self, node: Node, shell_node: Node | None) -> tuple[tuple[Templated, ...], bool]:
        """A command as a list (argv) or a string (split like a shell would, run without one;
        ``shell: true`` runs the string with ``sh -c``)."""
        if shell_node is not None and shell_node.as_bool():
            text = node.as_str()
            return (
                Templated("sh", _word_node(node, "sh")),
                Templated("-c", _word_node(node, "-c")),
                Templated(text, node),
            ), True
        if node.kind == "sequence":
            argv = tuple(Templated(item.as_str(), item) for item in node.as_list())
            return argv, False
        text = node.as_str()
        try:
            parts = shlex.split(text)
        except ValueError as exc:
            raise node.error(f"cannot split the command: {exc}") from exc
        if not parts:
            raise node.error("the command is empty")
        # Each word keeps the node for its error messages; ${NAME} expands per word.
        return tuple(Templated(part, _word_node(node, part)) for part in parts), False

    def _vulnerabilities(self, node: Node | None) -> VulnerabilityGateSettings | None:
        if node is None:
            return None
        fields = node.mapping(
            {"fail_on", "db", "ignore_files", "ignore_unfixed", "max_db_age", "use_sbom_attestation"}
        )
        fail_on = (
            tuple(item.as_str() for item in fields["fail_on"].as_list())
            if "fail_on" in fields
            else ("CRITICAL", "HIGH")
        )
        from shipflow.scan.gate import parse_fail_on

        try:
            parse_fail_on(list(fail_on))
        except ConfigError as exc:
            raise fields.get("fail_on", node).error(exc.message) from exc
        except Exception as exc:
            where = fields.get("fail_on", node)
            raise where.error(
                getattr(exc, "message", str(exc)), allowed="UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL"
            ) from exc
        return VulnerabilityGateSettings(
            fail_on=fail_on,
            db=self._path(fields["db"]) if "db" in fields else None,
            ignore_files=tuple(self._file(i, "ignore file") for i in fields["ignore_files"].as_list())
            if "ignore_files" in fields
            else (),
            ignore_unfixed=fields["ignore_unfixed"].as_bool() if "ignore_unfixed" in fields else False,
            max_db_age=fields["max_db_age"].as_duration(min=0) if "max_db_age" in fields else 7 * 86400.0,
            use_sbom_attestation=fields["use_sbom_attestation"].as_bool()
            if "use_sbom_attestation" in fields
            else True,
        )

    def _path(self, node: Node) -> Path:
        path = Path(node.as_str()).expanduser()
        return path if path.is_absolute() else self.root / path

    def _migration(self, node: Node | None) -> MigrationGateSettings | None:
        if node is None:
            return None
        fields = node.mapping({"database_url", "command", "shell", "timeout", "allow_breaking", "cwd"})
        if "database_url" not in fields:
            raise node.error(
                "'database_url' is required", hint='e.g. database_url: "${STAGING_DATABASE_URL}"'
            )
        if "command" not in fields:
            raise node.error("'command' is required: the command that runs the migrations")
        command, shell = self._command(fields["command"], fields.get("shell"))
        return MigrationGateSettings(
            database_url=Templated(fields["database_url"].as_str(), fields["database_url"]),
            command=command,
            shell=shell,
            timeout=fields["timeout"].as_duration(min=1, max=86400) if "timeout" in fields else 600.0,
            allow_breaking=_bool(fields, "allow_breaking", False),
            cwd=self._path(fields["cwd"]) if "cwd" in fields else self.root,
        )

    def _command_gate(self, name: str, node: Node) -> CommandGateSettings:
        fields = node.mapping({"command", "shell", "timeout", "checks", "junit", "cwd"})
        command: tuple[Templated, ...] | None = None
        shell = False
        if "command" in fields:
            command, shell = self._command(fields["command"], fields.get("shell"))
        checks = tuple(self._check(item) for item in fields["checks"].as_list()) if "checks" in fields else ()
        if command is None and not checks:
            raise node.error(f"gate {name!r} needs a 'command' or 'checks' (or both)")
        return CommandGateSettings(
            name=name,
            command=command,
            shell=shell,
            timeout=fields["timeout"].as_duration(min=0.1, max=86400) if "timeout" in fields else 300.0,
            checks=checks,
            junit=self._path(fields["junit"]) if "junit" in fields else None,
            cwd=self._path(fields["cwd"]) if "cwd" in fields else self.root,
        )

    def _check(self, node: Node) -> HttpCheck:
        fields = node.mapping({"method", "path", "status", "json", "timeout"})
        if "path" not in fields:
            raise node.error("'path' is required, e.g. path: /api/health")
        path = fields["path"].as_str()
        if not path.startswith("/"):
            raise fields["path"].error("must start with /")
        method = (
            fields["method"].as_str(choices=("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"))
            if "method" in fields
            else "GET"
        )
        expected_json: dict[str, Any] = {}
        if "json" in fields:
            for key, value in fields["json"].items():
                if value.kind != "scalar":
                    raise value.error("expected values must be scalars (strings, numbers, booleans, null)")
                expected_json[key] = value.value
        return HttpCheck(
            method=method,
            path=path,
            status=fields["status"].as_int(min=100, max=599) if "status" in fields else 200,
            json=expected_json,
            timeout=fields["timeout"].as_duration(min=0.1, max=600) if "timeout" in fields else 10.0,
        )


def _items(fields: Mapping[str, Node], key: str) -> list[Node]:
    return fields[key].as_list() if key in fields else []


def _bool(fields: Mapping[str, Node], key: str, default: bool) -> bool:
    return fields[key].as_bool() if key in fields else default


def _word_node(node: Node, word: str) -> Node:
    return Node(word, node.path, node.file, node.line, "scalar", node.tag)
