"""Deploy settings, command templates, and that every target kind is wired."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shipflow.errors import ConfigError
from shipflow.oci.layout import LayoutStore
from shipflow.release.deploy import (
    CommandSettings,
    CommandTemplate,
    DeployTarget,
    LocalSettings,
    TagSettings,
    TargetKind,
    deploy_settings_from_node,
    make_target,
)
from shipflow.release.deploy.procs import BoundedOutput
from shipflow.release.yamlconf import load_yaml

VALUES = {
    "image": "ghcr.io/org/app",
    "digest": "sha256:" + "a" * 64,
    "ref": "ghcr.io/org/app@sha256:" + "a" * 64,
    "env": "canary",
    "previous": "",
}


def test_string_template_is_split_like_a_shell_and_filled_per_argument() -> None:
    template = CommandTemplate.parse("fly deploy --image {ref} --label 'env={env}' {{literal}}")
    assert template.render(VALUES) == [
        "fly",
        "deploy",
        "--image",
        VALUES["ref"],
        "--label",
        "env=canary",
        "{literal}",
    ]


def test_a_value_never_becomes_two_arguments() -> None:
    template = CommandTemplate.parse(["deploy", "{image}"])
    assert template.render({**VALUES, "image": "a b; rm -rf /"}) == ["deploy", "a b; rm -rf /"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("deploy {tag}", "unknown placeholder {tag}"),
        ("deploy {image!r}", "takes no format or conversion"),
        ("deploy {digest:>10}", "takes no format or conversion"),
        ("deploy {image.__class__}", "unknown placeholder"),
        ("deploy {", "malformed placeholder"),
        ("deploy 'unclosed", "cannot split"),
        ("", "the command is empty"),
    ],
)
def test_bad_templates(text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(problem)):
        CommandTemplate.parse(text)


def _node(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "shipflow.yaml"
    path.write_text(text)
    return load_yaml(path).get("deploy")


def test_command_settings(tmp_path: Path) -> None:
    text = (
        "deploy:\n  target: command\n  deploy: [kubectl, set, image, deploy/app, 'app={ref}']\n"
        "  rollback: ./rollback.sh {previous}\n  timeout: 90s\n  workdir: ops\n"
        "  env: {FLY_APP: app-canary, REPLICAS: 2, TOKEN: '${DEPLOY_TOKEN}'}\n"
    )
    settings = deploy_settings_from_node(
        _node(tmp_path, text), {"DEPLOY_TOKEN": "sentinel-deploy-4321"}, base_dir=tmp_path
    )
    assert isinstance(settings, CommandSettings)
    assert settings.deploy.argv[-1] == "app={ref}"
    assert settings.rollback is not None and settings.rollback.argv == ("./rollback.sh", "{previous}")
    assert settings.timeout == 90.0 and settings.workdir == tmp_path / "ops"
    assert settings.env == {"FLY_APP": "app-canary", "REPLICAS": "2", "TOKEN": "sentinel-deploy-4321"}
    from shipflow.redact import redact

    assert "sentinel-deploy-4321" not in redact("token=sentinel-deploy-4321")


def test_local_and_tag_settings(tmp_path: Path) -> None:
    local = deploy_settings_from_node(
        _node(tmp_path, "deploy: {target: local, port: 9000}\n"), {}, base_dir=tmp_path
    )
    assert isinstance(local, LocalSettings)
    assert local.port == 9000 and local.state_dir == tmp_path / ".shipflow" / "local"
    assert isinstance(deploy_settings_from_node(None, {}, base_dir=tmp_path), TagSettings)
    assert isinstance(
        deploy_settings_from_node(_node(tmp_path, "deploy: {}\n"), {}, base_dir=tmp_path), TagSettings
    )
    with pytest.raises(ConfigError, match=r"deploy.env.1BAD: '1BAD' is not an environment variable name"):
        deploy_settings_from_node(
            _node(tmp_path, "deploy: {target: local, env: {1BAD: x}}\n"), {}, base_dir=tmp_path
        )
    with pytest.raises(ConfigError, match=r"shipflow.yaml:1: deploy: 'deploy' is required"):
        deploy_settings_from_node(_node(tmp_path, "deploy: {target: command}\n"), {}, base_dir=tmp_path)


def _settings_for(kind: TargetKind, tmp_path: Path) -> TagSettings | CommandSettings | LocalSettings:
    match kind:
        case TargetKind.TAG:
            return TagSettings()
        case TargetKind.COMMAND:
            return CommandSettings(deploy=CommandTemplate.parse("true"))
        case TargetKind.LOCAL:
            return LocalSettings(state_dir=tmp_path)


@pytest.mark.parametrize("kind", list(TargetKind))
def test_every_target_kind_is_wired(kind: TargetKind, tmp_path: Path) -> None:
    settings = _settings_for(kind, tmp_path)
    assert settings.kind is kind
    target = make_target(settings, store=LayoutStore(tmp_path / "store", create=True), environ={})
    assert isinstance(target, DeployTarget)
    assert target.name == kind.value


def test_bounded_output_keeps_head_and_tail() -> None:
    out = BoundedOutput(limit=20)
    out.write(b"0123456789")
    out.write(b"x" * 1000)
    out.write(b"the-end")
    text = out.text()
    assert text.startswith("0123456789")
    assert text.endswith("xxxthe-end")
    assert "[… 997 bytes of output not kept …]" in text
    small = BoundedOutput(limit=100)
    small.write(b"all of it")
    assert small.text() == "all of it"
