"""Promotion gates, built from ``shipflow.yaml``, each in the house Gate protocol.

``signature`` and ``vulnerabilities`` are the library's own gates (``signing``/``scan``);
``migration`` is the schema-compatibility dry run (:mod:`shipflow.release.migration`); this
module adds ``smoke``/``contract`` (a command and/or declarative HTTP checks) and
``approvals`` (N distinct, valid, signed approvals by listed approvers, never the promoter).

:func:`gates_for` turns an environment's gate list into gate objects, in order; a gate the
config skips for that environment becomes a :class:`~shipflow.gate.Skipped` with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipflow.errors import ConfigError
from shipflow.gate import Gate, GateContext, Outcome, Skipped
from shipflow.release.config import CommandGateSettings, EnvironmentSettings, HttpCheck, PipelineConfig

__all__ = ["ApprovalsGate", "CommandGate", "PromotionContext", "gates_for", "trusted_policy"]


@dataclass(frozen=True)
class PromotionContext(GateContext):
    """A gate's view of one promotion: the image (pinned), where it goes, and who moves it."""

    source: str | None = None
    target: str = ""
    actor: str = ""
    image: str = ""  # the repository, for messages and SHIPFLOW_IMAGE
    env_url: str | None = None  # where the digest runs now: the source environment's url
    target_url: str | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    def command_environment(self) -> dict[str, str]:
        """What a gate's command sees: the caller's environment plus the promotion's facts."""
        env = dict(self.environ)
        env.update(
            SHIPFLOW_IMAGE=self.image,
            SHIPFLOW_DIGEST=str(self.digest),
            SHIPFLOW_REF=f"{self.image}@{self.digest}",
            SHIPFLOW_ENV=self.target,
            SHIPFLOW_SOURCE_ENV=self.source or "",
        )
        if self.env_url:
            env["SHIPFLOW_URL"] = self.env_url
        if self.target_url:
            env["SHIPFLOW_TARGET_URL"] = self.target_url
        return env


def trusted_policy(paths: tuple[Path, ...]) -> Any:
    from shipflow.signing.policy import trusted_keys_from_paths

    return trusted_keys_from_paths(list(paths))


# --- approvals ---------------------------------------------------------------------------------


class ApprovalsGate(Gate[PromotionContext]):
    """``required`` distinct approvers listed in the config, each with a valid signed approval of
    this digest for this environment; the promoting actor never counts for themself."""

    name = "approvals"

    def __init__(self, approvers: Mapping[str, Path], required: int) -> None:
        self.approvers = dict(approvers)
        self.required = required

    def evaluate(self, ctx: PromotionContext) -> Outcome:
        from shipflow.release.approvals import collect_approvals

        tally = collect_approvals(ctx.store, ctx.digest, ctx.target, self.approvers, promoter=ctx.actor)
        counted = sorted(tally.valid)
        passed = len(counted) >= self.required
        details = {
            "required": self.required,
            "counted": [tally.valid[login] for login in counted],
            "ignored": tally.ignored,
        }
        summary = f"{len(counted)} of {self.required} approval(s)"
        if counted:
            summary += f": {', '.join(counted)}"
        hint = None
        if not passed:
            hint = (
                f"an approver runs `shipflow approve --digest {ctx.digest} --env {ctx.target} "
                "--key APPROVER.key`; listed approvers: " + ", ".join(sorted(self.approvers))
            )
            if tally.ignored:
                summary += f" ({len(tally.ignored)} ignored: {tally.ignored[0]['reason']})"
        return Outcome(
            passed, summary, inputs={"approvers": sorted(self.approvers)}, details=details, hint=hint
        )


# --- smoke / contract ------------------------------------------------------------------------


class CommandGate(Gate[PromotionContext]):
    """Run the configured command (with the promotion in its environment) and/or HTTP checks
    against the environment's URL; JUnit XML the command writes is summarised."""

    def __init__(self, settings: CommandGateSettings) -> None:
        self.settings = settings
        self.name = settings.name

    def evaluate(self, ctx: PromotionContext) -> Outcome:
        details: dict[str, Any] = {}
        failures: list[str] = []
        inputs: dict[str, Any] = {"timeout": self.settings.timeout}
        if self.settings.command is not None:
            argv = [part.resolve(ctx.environ) for part in self.settings.command]
            inputs["command"] = [part.raw for part in self.settings.command]
            from shipflow.proc import run_bounded

            if self.settings.junit is not None and self.settings.junit.exists():
                self.settings.junit.unlink()  # a stale report must not pass for this run's
            result = run_bounded(
                argv, timeout=self.settings.timeout, env=ctx.command_environment(), cwd=self.settings.cwd
            )
            details["command"] = {
                "exit": result.returncode,
                "timedOut": result.timed_out,
                "seconds": round(result.duration_seconds, 3),
                "outputTail": result.tail(40),
            }
            if not result.ok:
                failures.append(f"{self.name} command {result.describe()}")
            if self.settings.junit is not None:
                from shipflow.release._junit import summarise_junit

                junit = summarise_junit(self.settings.junit)
                details["junit"] = junit
                if junit.get("failures", 0) or junit.get("errors", 0):
                    failures.append(f"{junit['failures']} failed and {junit['errors']} errored test(s)")
        if self.settings.checks:
            if not ctx.env_url:
                where = ctx.source or "the source environment"
                raise ConfigError(
                    f"gate {self.name!r} has HTTP checks, and {where} (where the digest runs now) has no url",
                    hint=f"set environments.{ctx.source}.url in shipflow.yaml" if ctx.source else None,
                )
            inputs["url"] = ctx.env_url
            results = [_http_check(ctx.env_url, check) for check in self.settings.checks]
            details["checks"] = results
            failures.extend(r["problem"] for r in results if r["problem"])
        if failures:
            return Outcome(False, "; ".join(failures), inputs=inputs, details=details, hint=_hint(details))
        parts = []
        if "command" in details:
            parts.append(f"command passed in {details['command']['seconds']} s")
        if "junit" in details:
            parts.append(f"{details['junit']['tests']} test(s) passed")
        if "checks" in details:
            parts.append(f"{len(details['checks'])} HTTP check(s) passed")
        return Outcome(True, ", ".join(parts), inputs=inputs, details=details)


def _hint(details: Mapping[str, Any]) -> str:
    command = details.get("command")
    if command and command.get("outputTail"):
        return "its output ends with:\n" + str(command["outputTail"])
    return "see the gate's details (--json) for each check"


_MAX_BODY = 1024 * 1024


def _http_check(base_url: str, check: HttpCheck) -> dict[str, Any]:
    import json

    import httpx

    url = base_url.rstrip("/") + check.path
    result: dict[str, Any] = {"method": check.method, "url": url, "expected": check.status, "problem": None}
    try:
        with (
            httpx.Client(timeout=check.timeout, follow_redirects=False) as client,
            client.stream(check.method, url) as response,
        ):
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > _MAX_BODY:
                    break
            result["status"] = response.status_code
    except httpx.HTTPError as exc:
        result["problem"] = f"{check.method} {url}: {type(exc).__name__}: {exc}"
        return result
    if response.status_code != check.status:
        result["problem"] = f"{check.method} {url} answered {response.status_code}, expected {check.status}"
        return result
    if check.json:
        try:
            document = json.loads(bytes(body))
        except ValueError:
            result["problem"] = f"{check.method} {url}: the body is not JSON"
            return result
        for key, expected in check.json.items():
            actual = document.get(key) if isinstance(document, dict) else None
            if actual != expected:
                result["problem"] = f"{check.method} {url}: {key} is {actual!r}, expected {expected!r}"
                return result
    return result


# --- building the list ----------------------------------------------------------------------


def gates_for(config: PipelineConfig, environment: EnvironmentSettings) -> list[Gate[Any]]:
    """The gate objects of ``environment``, in its order (signature always first)."""
    gates: list[Gate[Any]] = []
    for use in environment.gates:
        if use.skip_reason is not None:
            gates.append(Skipped(use.name, use.skip_reason))
            continue
        gates.append(_gate(config, environment, use.name))
    return gates


def _gate(config: PipelineConfig, environment: EnvironmentSettings, name: str) -> Gate[Any]:
    if name == "signature":
        from shipflow.signing.gate import SignatureGate

        return SignatureGate(trusted_policy(config.trusted_keys))
    if name == "approvals":
        return ApprovalsGate(config.approvers, environment.approvals)
    if name == "vulnerabilities":
        return _vulnerability_gate(config)
    if name == "migration":
        return _migration_gate(config, environment)
    if name in ("smoke", "contract"):
        return CommandGate(config.command_gates[name])
    raise ConfigError(f"unknown gate {name!r}")


def _vulnerability_gate(config: PipelineConfig) -> Gate[GateContext]:
    from datetime import timedelta

    from shipflow.scan.gate import VulnerabilityGate, parse_fail_on
    from shipflow.scan.matcher import ScanOptions
    from shipflow.scan.run import discover_ignore_rules

    settings = config.vulnerabilities
    assert settings is not None
    files = list(settings.ignore_files) or None
    options = ScanOptions(
        ignore=discover_ignore_rules(None, files or (), cwd=config.root),
        ignore_unfixed=settings.ignore_unfixed,
        max_db_age=timedelta(seconds=settings.max_db_age) if settings.max_db_age else None,
    )
    return VulnerabilityGate(
        parse_fail_on(list(settings.fail_on)),
        db_path=settings.db,
        options=options,
        ignore_files=settings.ignore_files,
        sbom_policy=trusted_policy(config.trusted_keys) if settings.use_sbom_attestation else None,
    )


def _migration_gate(config: PipelineConfig, environment: EnvironmentSettings) -> Gate[Any]:
    settings = config.migration
    assert settings is not None
    return MigrationGateAdapter(settings, environment.allow_breaking_migrations)


class MigrationGateAdapter(Gate[PromotionContext]):
    """Resolves the migration settings at check time (``${STAGING_DATABASE_URL}`` is read only
    when the gate runs) and delegates to the migration dry run."""

    name = "migration"

    def __init__(self, settings: Any, allow_breaking_here: bool) -> None:
        self.settings = settings
        self.allow_breaking = settings.allow_breaking or allow_breaking_here

    def evaluate(self, ctx: PromotionContext) -> Outcome:
        from shipflow.release.migration import MigrationGate

        gate = MigrationGate(
            database_url=self.settings.database_url.resolve(ctx.environ),
            command=[part.resolve(ctx.environ) for part in self.settings.command],
            cwd=self.settings.cwd,
            timeout=self.settings.timeout,
            allow_breaking=self.allow_breaking,
            env=ctx.command_environment(),
        )
        outcome: Outcome = gate.evaluate(ctx)
        return outcome
