"""``shipflow init``: write the pipeline (shipflow.yaml, four workflows, Dockerfile,
verify-image) into a repository. Exit codes: 0 written (or nothing to do), 2 usage (a file
exists with other content and neither --force nor --skip-existing was given)."""

from __future__ import annotations

from pathlib import Path

import click

from shipflow.cli.common import json_option
from shipflow.cli.output import print_json, stdout

_VERBS = {
    "create": ("create", "created"),
    "overwrite": ("overwrite", "overwrote"),
    "unchanged": ("leave (same content)", "unchanged"),
    "keep": ("keep (exists; --force overwrites)", "kept (exists)"),
    "conflict": ("refuse (exists with other content)", "refused"),
}

NEXT_STEPS = """\
Next steps:
  1. Signing key: `shipflow keygen`; commit cosign.pub as keys/cosign.pub; store the private
     key and its password as the repository secrets COSIGN_PRIVATE_KEY and COSIGN_PASSWORD.
  2. In shipflow.yaml, replace every CHANGE_ME_* login with GitHub logins and add each
     approver's public key under keys/.
  3. In GitHub, Settings > Environments: create staging, canary and production; give
     production required reviewers (the tech lead's approval).
  4. Optional secrets: REGISTRY_URL (default ghcr.io), REGISTRY_USERNAME (default: the actor),
     REGISTRY_PASSWORD (default: GITHUB_TOKEN), STAGING_DATABASE_URL, CANARY_DEPLOY_URL,
     ROLLBACK_WEBHOOK.
  5. Check the workflows before pushing: actionlint .github/workflows/*.yml"""


@click.command("init")
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path), required=False)
@click.option(
    "--image",
    default=None,
    metavar="REPO",
    help="The image repository (default: ghcr.io/<owner>/<repo> from the git remote origin).",
)
@click.option("--branch", default="main", show_default=True, help="The branch whose pushes build images.")
@click.option(
    "--port", "app_port", type=int, default=3000, show_default=True, help="The app's port (Dockerfile)."
)
@click.option("--force", is_flag=True, help="Overwrite files that exist with other content.")
@click.option("--skip-existing", is_flag=True, help="Keep files that exist; write only the missing ones.")
@click.option("--dry-run", is_flag=True, help="Show what would be written; write nothing.")
@json_option
def init_cmd(
    directory: Path,
    image: str | None,
    branch: str,
    app_port: int,
    force: bool,
    skip_existing: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Write the release pipeline into DIRECTORY (default: here).

    Files: shipflow.yaml; .github/workflows/build-and-sign.yml (push to main, tags v*,
    manual), promote.yml (image_digest, source_env, target_env; one GitHub Environment per
    target), canary-deploy.yml (manual), ci-security.yml (the ci.yml additions: filesystem
    scan, SBOM, audit gate); Dockerfile (multi-stage node:20-alpine, non-root appuser 1001,
    HEALTHCHECK) and .dockerignore; tools/verify-image.sh. The workflows wire every secret of
    the specification with its default (REGISTRY_URL -> ghcr.io, REGISTRY_USERNAME ->
    github.actor, REGISTRY_PASSWORD -> GITHUB_TOKEN).

    Nothing that exists is changed without --force; a file with the same content is left as
    it is. --dry-run lists what would be written.
    """
    from shipflow.build.source import origin_url
    from shipflow.scaffold import ScaffoldOptions, apply, default_image, plan

    remote = origin_url(directory) if directory.is_dir() else None
    chosen = image or default_image(remote)
    options = ScaffoldOptions(image=chosen, branch=branch, app_port=app_port)
    planned = plan(directory, options, force=force, skip_existing=skip_existing)
    if not dry_run:
        apply(directory, planned)
    if as_json:
        files = []
        for item in planned:
            entry: dict[str, object] = {
                "path": item.path,
                "action": item.action.value,
                "written": item.writes and not dry_run,
                "mode": oct(item.mode),
                "description": item.description,
            }
            if dry_run:
                entry["content"] = item.content.decode("utf-8")
            files.append(entry)
        print_json({"directory": str(directory), "image": chosen, "dryRun": dry_run, "files": files})
        return
    column = 0 if dry_run else 1
    width = max(len(_VERBS[p.action.value][column]) for p in planned)
    if dry_run:
        stdout.print(
            f"shipflow init --dry-run in {directory} (image {chosen}): nothing written", markup=False
        )
    for item in planned:
        verb = _VERBS[item.action.value][column]
        stdout.print(f"  {verb:<{width}}  {item.path}  — {item.description}", markup=False, highlight=False)
    if not dry_run:
        stdout.print(f"\nimage: {chosen}\n{NEXT_STEPS}", markup=False, highlight=False)


COMMANDS = [init_cmd]
