"""Options and helpers shared by every CLI module (oci, sign, sbom, scan, …).

Use them as decorators under ``@click.command()``::

    @click.command()
    @click.argument("image")
    @registry_options
    @json_option
    def verify(image: str, registry: RegistryOptions, as_json: bool) -> None:
        ref, store = open_ref(image, registry)
        ...

``registry_options`` hands the command one :class:`RegistryOptions` (parameter ``registry``)
instead of five loose flags; ``RegistryOptions.config(refs...)`` turns it into the library's
:class:`~shipflow.oci.registry.config.RegistryConfig` (flags over environment over defaults).
These names are a stable interface for the other CLI modules: extend, do not rename.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from shipflow.errors import ManifestNotFound, UsageError
from shipflow.oci.reference import Reference, parse_reference

if TYPE_CHECKING:  # kept out of import time: every command imports this module
    from shipflow.oci.models import Descriptor
    from shipflow.oci.open import OpenedImage
    from shipflow.oci.registry.config import RegistryConfig
    from shipflow.oci.store import Store

__all__ = [
    "RegistryOptions",
    "human_bytes",
    "json_option",
    "key_option",
    "not_found_hint",
    "open_image_arg",
    "open_ref",
    "parse_ref",
    "password_source",
    "registry_options",
    "registry_options_own_timeout",
    "resolve_ref",
]

F = TypeVar("F", bound=Callable[..., Any])


def json_option(func: F) -> F:
    """Add ``--json``: the command receives ``as_json: bool`` and prints JSON on stdout when set
    (diagnostics and progress stay on stderr, so stdout parses)."""
    return click.option(
        "--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout instead of text."
    )(func)


@dataclass(frozen=True)
class RegistryOptions:
    """The registry flags of one command invocation; build the library config with :meth:`config`."""

    insecure: tuple[str, ...] = ()
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    credentials_host: str | None = None
    timeout: float | None = None

    def config(self, *refs: Reference | str | None) -> RegistryConfig:
        """The RegistryConfig for a command that talks to the registries of ``refs``.

        Explicit credentials are only ever sent to one registry: the one ``--credentials-host``
        names, or else the only registry among ``refs``. A command that names two registries
        (a cross-registry copy) must say which one the password is for.
        """
        from shipflow.oci.registry.config import RegistryConfig  # not needed by layout commands

        credentials_host = self.credentials_host
        if self.username is not None and credentials_host is None:
            hosts = sorted(_registry_hosts(refs))
            if len(hosts) > 1:
                raise UsageError(
                    f"--username/--password would be sent to {' and '.join(hosts)}",
                    hint=f"add --credentials-host {hosts[-1]} (or the other one) to say which "
                    "registry they are for; the other uses REGISTRY_* variables or docker config",
                )
            credentials_host = hosts[0] if hosts else None
        return RegistryConfig.from_env(
            insecure_registries=self.insecure,
            username=self.username,
            password=self.password,
            credentials_host=credentials_host,
            timeout=self.timeout,
        )


def _registry_hosts(refs: Iterable[Reference | str | None]) -> set[str]:
    from shipflow.oci.registry.config import normalize_host

    hosts: set[str] = set()
    for ref in refs:
        if ref is None:
            continue
        parsed = parse_reference(ref) if isinstance(ref, str) else ref
        if not parsed.is_layout:
            hosts.add(normalize_host(parsed.registry))
    return hosts


_REGISTRY_OPTIONS = [
    click.option(
        "--insecure",
        "insecure",
        metavar="REGISTRY",
        multiple=True,
        help="Speak plain HTTP to REGISTRY (host[:port]); repeatable. Loopback registries "
        "(127.0.0.1, localhost) use HTTP anyway. Also: SHIPFLOW_INSECURE_REGISTRIES=h1,h2.",
    ),
    click.option(
        "--username",
        "username",
        metavar="USER",
        help="Registry user name (default: REGISTRY_USERNAME for REGISTRY_URL, then docker config).",
    ),
    click.option(
        "--password",
        "password",
        metavar="PASSWORD",
        help="Registry password or token. Visible to other local users in the process list: "
        "prefer --password-stdin or REGISTRY_PASSWORD.",
    ),
    click.option(
        "--password-stdin",
        "password_stdin",
        is_flag=True,
        help="Read the registry password or token from standard input.",
    ),
    click.option(
        "--credentials-host",
        "credentials_host",
        metavar="REGISTRY",
        help="The registry --username/--password are for, when a command names two.",
    ),
]

_TIMEOUT_HELP = (
    "Give up on a registry operation after SECONDS, retries included (default 30, or "
    "SHIPFLOW_REGISTRY_TIMEOUT): a dead or silent registry fails within it. Blob transfers "
    "run as long as they keep moving SHIPFLOW_REGISTRY_MIN_RATE bytes/s (default 4096) over "
    "every such window of waiting."
)


def _timeout_option(*names: str, dest: str = "timeout") -> Callable[[F], F]:
    return click.option(
        *names,
        dest,
        metavar="SECONDS",
        type=click.FloatRange(min=0, min_open=True, max=86400),
        help=_TIMEOUT_HELP,
    )


def registry_options(func: F) -> F:
    """Add ``--insecure REGISTRY`` (repeatable), ``--username``, ``--password``,
    ``--password-stdin``, ``--credentials-host`` and ``--timeout``/``--registry-timeout``; the
    command receives them as one ``registry: RegistryOptions`` parameter, validated (e.g. a
    password needs a user name)."""
    return _with_registry_options(func, _timeout_option("--timeout", "--registry-timeout"), "timeout")


def registry_options_own_timeout(func: F) -> F:
    """:func:`registry_options` for a command whose own ``--timeout`` means something else (a
    canary's check, a migration command): the registry's is ``--registry-timeout`` there."""
    return _with_registry_options(
        func, _timeout_option("--registry-timeout", dest="registry_timeout"), "registry_timeout"
    )


def _with_registry_options(func: F, timeout_option: Callable[[F], F], timeout_dest: str) -> F:

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        kwargs["registry"] = _registry_options_from(
            insecure=kwargs.pop("insecure"),
            username=kwargs.pop("username"),
            password=kwargs.pop("password"),
            password_stdin=kwargs.pop("password_stdin"),
            credentials_host=kwargs.pop("credentials_host"),
            timeout=kwargs.pop(timeout_dest),
        )
        return func(*args, **kwargs)

    decorated: Callable[..., Any] = timeout_option(cast(F, wrapper))
    for option in reversed(_REGISTRY_OPTIONS):
        decorated = option(decorated)
    return cast(F, decorated)


def _registry_options_from(
    *,
    insecure: tuple[str, ...],
    username: str | None,
    password: str | None,
    password_stdin: bool,
    credentials_host: str | None,
    timeout: float | None = None,
) -> RegistryOptions:
    if password is not None and password_stdin:
        raise UsageError(
            "--password and --password-stdin both given", hint="use one of them (--password-stdin is safer)"
        )
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise UsageError("--password-stdin read an empty password", hint="pipe the password or token in")
    if password is not None and username is None:
        raise UsageError("a password was given without --username", hint="add --username USER")
    if username is not None and password is None:
        raise UsageError(
            f"--username {username} given without a password",
            hint="add --password-stdin and pipe the password in, or drop --username and set "
            "REGISTRY_USERNAME/REGISTRY_PASSWORD",
        )
    if credentials_host:
        from shipflow.oci.registry.config import normalize_host  # only registry commands need it

        credentials_host = normalize_host(credentials_host)
    return RegistryOptions(
        insecure=tuple(insecure),
        username=username,
        password=password,
        credentials_host=credentials_host or None,
        timeout=timeout,
    )


def parse_ref(text: str) -> Reference:
    """Parse an image reference argument (InvalidReference, exit 2, if malformed)."""
    return parse_reference(text)


def open_ref(
    ref: Reference | str,
    registry: RegistryOptions,
    *,
    create: bool = False,
    config: RegistryConfig | None = None,
) -> tuple[Reference, Store]:
    """Parse ``ref`` (if a string) and open the Store holding it.

    ``create`` makes a missing OCI layout (for destinations). Pass ``config`` when a command
    opens several stores, built once with ``registry.config(ref1, ref2)``.
    """
    from shipflow.oci.open import open_store

    parsed = parse_reference(ref) if isinstance(ref, str) else ref
    if config is None and not parsed.is_layout:  # layouts need no registry settings
        config = registry.config(parsed)
    return parsed, open_store(parsed, config=config, create=create)


def resolve_ref(store: Store, ref: Reference) -> Descriptor:
    """Resolve ``ref`` (its digest, else its tag, else ``latest``) in ``store``; a missing
    image gets a hint that says how to see what exists."""
    with not_found_hint(ref):
        return store.resolve(ref.identifier)


@contextmanager
def not_found_hint(ref: Reference) -> Iterator[None]:
    """Add a "what to do" hint to a ManifestNotFound raised inside (unless it has one)."""
    try:
        yield
    except ManifestNotFound as exc:
        if exc.hint is None:
            exc.hint = (
                f"list the tags with `shipflow tags {ref.name}`"
                if ref.digest is None
                else f"check the digest; `shipflow tags {ref.name}` lists what is there"
            )
        raise


# --- signing: shared by ``sign``/``attest`` and ``scan --attest`` -------------------------------

key_option = click.option(
    "--key",
    "key",
    default=None,
    metavar="KEY",
    help="Private key file, env://NAME or PEM text (default: $COSIGN_PRIVATE_KEY). "
    "Password: $COSIGN_PASSWORD.",
)
"""Add ``--key KEY``: the command receives ``key: str | None``, the private key (a path or PEM
text) for :func:`shipflow.signing.keys.private_key_from_settings`, which falls back to
``COSIGN_PRIVATE_KEY``."""


def password_source(confirm: bool = False) -> Callable[[], bytes] | None:
    """Where the private key's password comes from, for ``private_key_from_settings``.

    None when ``COSIGN_PASSWORD`` is set (even empty: the library reads it) or stdin is not a
    terminal (the library then says how to supply one); otherwise a hidden prompt, asked twice
    when ``confirm`` (a new key). The password is never echoed or logged.
    """
    from shipflow.signing.keys import ENV_PASSWORD

    if ENV_PASSWORD in os.environ or not sys.stdin.isatty():
        return None

    def prompt() -> bytes:
        text: str = click.prompt(
            "Enter password for private key",
            hide_input=True,
            confirmation_prompt=confirm,
            default="",
            show_default=False,
            err=True,
        )
        return text.encode()

    return prompt


def open_image_arg(
    text: str, registry: RegistryOptions, *, must_exist: bool = True, quiet: bool = False
) -> OpenedImage:
    """Open an image argument and pin it to a digest, once, with this command's registry flags:
    a tag is only an input, so everything after (signing, scanning, attesting) is about the same
    image even if the tag moves meanwhile. Says which digest a tag resolved to (on stderr)."""
    from shipflow.cli.output import note
    from shipflow.oci.open import open_image

    ref = parse_reference(text)
    config = None if ref.is_layout else registry.config(ref)
    image = open_image(ref, config, must_exist=must_exist)
    if image.resolved_from_tag and not quiet:
        note(f"resolved {ref} to {image.digest}")
    return image


def human_bytes(n: int | None) -> str:
    """``1500`` → ``1.5 kB``: decimal units, as the progress bar (rich) and docker show them."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")
