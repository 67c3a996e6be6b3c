"""Who must have signed: small policy objects that compose.

A policy sees the set of keys that produced *valid* signatures on the image (valid: the
signature checks out over the stored bytes and the claims match the image) and says whether
that is enough. ``AnyOf(keys)`` is the usual "trusted keys" (key rotation: old and new key
both accepted); ``AllOf`` asks for several independent signers (e.g. CI and release manager).

    policy = AllOf([KeyPolicy(ci_key), AnyOf([KeyPolicy(rm_old), KeyPolicy(rm_new)])])
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path

from shipflow.errors import ConfigError
from shipflow.signing.keys import Verifier, load_public_keys


class Policy(ABC):
    @abstractmethod
    def verifiers(self) -> list[Verifier]:
        """Every key the policy can accept (what signatures are checked against)."""

    @abstractmethod
    def is_satisfied(self, signed_by: set[str]) -> bool:
        """True if valid signatures by the keys with these ids are enough."""

    @abstractmethod
    def describe(self) -> str: ...

    def unmet(self, signed_by: set[str]) -> list[str]:
        """Human-readable parts of the policy that ``signed_by`` does not meet."""
        return [] if self.is_satisfied(signed_by) else [self.describe()]


class KeyPolicy(Policy):
    """A valid signature by this one key."""

    def __init__(self, key: Verifier, label: str | None = None) -> None:
        self._key = key
        self._label = label or getattr(key, "source", "") or key.key_id

    def verifiers(self) -> list[Verifier]:
        return [self._key]

    def is_satisfied(self, signed_by: set[str]) -> bool:
        return self._key.key_id in signed_by

    def describe(self) -> str:
        return f"a signature by {self._label} ({self._key.key_id[:19]}…)"


class _Composite(Policy):
    def __init__(self, policies: Iterable[Policy]) -> None:
        self.policies: Sequence[Policy] = list(policies)
        if not self.policies:
            raise ConfigError(f"{type(self).__name__} needs at least one key or policy", hint="pass --key")

    def verifiers(self) -> list[Verifier]:
        seen: dict[str, Verifier] = {}
        for policy in self.policies:
            for key in policy.verifiers():
                seen.setdefault(key.key_id, key)
        return list(seen.values())


class AnyOf(_Composite):
    """At least one of the policies (e.g. any one of several trusted keys)."""

    def is_satisfied(self, signed_by: set[str]) -> bool:
        return any(p.is_satisfied(signed_by) for p in self.policies)

    def describe(self) -> str:
        if len(self.policies) == 1:
            return self.policies[0].describe()
        return "any of: " + "; ".join(p.describe() for p in self.policies)


class AllOf(_Composite):
    """Every one of the policies (e.g. independent signers)."""

    def is_satisfied(self, signed_by: set[str]) -> bool:
        return all(p.is_satisfied(signed_by) for p in self.policies)

    def describe(self) -> str:
        return "all of: " + "; ".join(p.describe() for p in self.policies)

    def unmet(self, signed_by: set[str]) -> list[str]:
        return [part for p in self.policies for part in p.unmet(signed_by)]


def trusted_keys(keys: Iterable[Verifier]) -> AnyOf:
    """Any one of ``keys``."""
    return AnyOf(KeyPolicy(k) for k in keys)


def trusted_keys_from_paths(paths: Iterable[str | Path], *, require_all: bool = False) -> Policy:
    """The policy for ``--key`` options: each a key file, ``env://NAME`` or a directory of keys.

    Keys from one directory are alternatives (rotation); several ``--key`` options are
    alternatives too, unless ``require_all`` (then every ``--key`` must have signed; a
    directory counts as one signer that may use any of its keys).
    """
    groups = [trusted_keys(load_public_keys(path)) for path in paths]
    if not groups:
        raise ConfigError("no verification key given", hint="pass --key cosign.pub (or a directory of keys)")
    if require_all:
        return AllOf(groups)
    return AnyOf(groups) if len(groups) > 1 else groups[0]
