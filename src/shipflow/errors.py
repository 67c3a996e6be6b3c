"""One exception root for everything shipflow raises.

Every adapter (HTTP, filesystem, crypto, parsers) translates foreign errors into one of
these (``raise X(...) from exc``), so the CLI can map any failure to a documented exit code
and a message that says what to do next::

    ShipflowError                      exit 3 unless a subclass says otherwise
    ├── UsageError                     exit 2  bad arguments, references, config
    │   ├── InvalidReference            a malformed image reference
    │   ├── DigestError                a malformed digest
    │   ├── ConfigError                a bad config file or setting
    │   └── KeyFileError               a key that cannot be used (format, password, missing)
    ├── CheckFailed                    exit 1  a check or gate said no
    │   ├── VerificationError          signature / attestation verification failed
    │   │   └── SignatureVerificationError   … with the report of every rejected signature
    │   ├── GateFailed                 a policy gate (vulnerabilities, promotion) failed
    │   ├── PromotionRefused           a promotion rule (path, role, stage, gate) said no
    │   └── UnsafeContentError         an image layer tries traversal, a bomb, an oversized file
    ├── NotFound                       exit 1  the thing asked for does not exist
    │   ├── ManifestNotFound
    │   └── BlobNotFound
    └── InfrastructureError            exit 3  network, registry, disk, database
        ├── RegistryError              the registry answered with an error
        │   └── AuthError              401/403: credentials missing or refused
        ├── TransportError             connection reset, timeout, truncated body
        ├── IntegrityError             bytes do not match their digest
        ├── LayoutError                an on-disk OCI layout is broken
        ├── LayerFormatError           a layer blob is not a readable (compressed) tar
        └── ManifestError              a manifest is not valid JSON / too big / wrong type

``hint`` is the "what to do next" line the CLI prints under the message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shipflow.gate import Evidence
    from shipflow.signing.verify import Report

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_INFRA = 3


class ShipflowError(Exception):
    """Root of every error shipflow raises on purpose."""

    exit_code: int = EXIT_INFRA

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(ShipflowError):
    """The user asked for something malformed: fix the arguments or configuration."""

    exit_code = EXIT_USAGE


class InvalidReference(UsageError):
    """A malformed image reference."""


class DigestError(UsageError):
    """A malformed digest string."""


class ConfigError(UsageError):
    """A configuration file or setting is wrong."""


class KeyFileError(UsageError):
    """A key file or key setting is unusable (wrong format, wrong password, missing)."""


class CheckFailed(ShipflowError):
    """A check or gate ran and said no: the tool worked, the subject failed."""

    exit_code = EXIT_CHECK_FAILED


class VerificationError(CheckFailed):
    """A signature or attestation did not verify."""


class SignatureVerificationError(VerificationError):
    """Signatures or attestations did not verify; ``report`` (a
    :class:`shipflow.signing.verify.Report`) holds every rejected layer and the unmet policy."""

    def __init__(self, message: str, *, report: Report, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.report = report


class GateFailed(CheckFailed):
    """A policy gate (vulnerabilities, promotion rule) failed.

    ``evidence`` is the :class:`shipflow.gate.Evidence` of the failed check (what was checked,
    with which inputs, and why it failed), when a gate raised it.
    """

    def __init__(self, message: str, *, evidence: Evidence | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.evidence = evidence


class PromotionRefused(CheckFailed):
    """A promotion rule said no: a path not in the config, an actor without the role, a stage
    skipped, a gate failed. ``result`` (when set) is the promotion's partial result with every
    gate's evidence."""

    def __init__(self, message: str, *, result: object | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.result = result


class UnsafeContentError(CheckFailed):
    """Image content tries something unsafe (path traversal, a decompression bomb, a file
    over the size cap): the image is refused rather than half-read."""


class NotFound(ShipflowError):
    """The manifest, blob or tag asked for does not exist."""

    exit_code = EXIT_CHECK_FAILED


class ManifestNotFound(NotFound):
    pass


class BlobNotFound(NotFound):
    pass


class InfrastructureError(ShipflowError):
    """Something outside shipflow failed: network, registry, disk."""

    exit_code = EXIT_INFRA


class RegistryError(InfrastructureError):
    """The registry answered with an error status."""

    def __init__(self, message: str, *, status: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class AuthError(RegistryError):
    """Credentials are missing or were refused."""


class TransportError(InfrastructureError):
    """The connection failed, timed out or the body was cut short."""


class IntegrityError(InfrastructureError):
    """Content does not match the digest it was fetched by."""


class LayoutError(InfrastructureError):
    """An on-disk OCI image layout is missing or broken."""


class LayerFormatError(InfrastructureError):
    """A layer blob is not a tar archive in a compression shipflow reads (gzip, zstd, none)."""


class ManifestError(InfrastructureError):
    """A manifest is not valid JSON, exceeds the size cap, or has an unknown media type."""
