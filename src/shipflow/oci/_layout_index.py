"""The ``index.json`` of an OCI image layout: validation, tag look-ups and tag edits (no I/O).

``index.json`` is an image index whose descriptors carry tags in the
``org.opencontainers.image.ref.name`` annotation (opencontainers/image-spec ``image-layout.md``).
Other tools put their own entries and annotations there (unknown media types included, which
the spec says to ignore safely), so the document is kept as loaded and only the entries
shipflow changes are touched.

Rules shipflow keeps in its layouts:

* one entry per tag: retagging replaces the entry for that name;
* a manifest stored without a tag is listed once, without a name, so tools that collect
  garbage (``umoci gc``) keep it; tagging it turns that entry into the tagged one;
* a manifest a tag moves away from stays listed without a name (a registry keeps it by digest
  too: rollbacks need it), except for attachment tags (``sha256-<hex>…``), whose previous
  targets are superseded by construction (a referrers index grows, a signature gains a layer).
"""

from __future__ import annotations

import json
import re
from typing import Any

from shipflow import jsonload
from shipflow.errors import DigestError, LayoutError
from shipflow.oci import mediatypes as mt
from shipflow.oci.digest import Digest
from shipflow.oci.models import Descriptor, WireError

REF_NAME = "org.opencontainers.image.ref.name"

Entry = dict[str, Any]

# cosign attachments (sha256-<hex>.sig/.att/.sbom) and the referrers fallback tag (sha256-<hex>).
_ATTACHMENT_TAG = re.compile(r"^(?:sha256|sha512)-[0-9a-f]{64}")


def keeps_previous_target(tag: str) -> bool:
    """Whether moving ``tag`` keeps its old target listed (not for attachment tags)."""
    return not _ATTACHMENT_TAG.match(tag)


def ref_name(entry: Entry) -> str | None:
    annotations = entry.get("annotations")
    if isinstance(annotations, dict):
        name = annotations.get(REF_NAME)
        if isinstance(name, str):
            return name
    return None


def _entry_problem(entry: Any) -> str | None:
    """What makes ``entry`` not a descriptor, or None if it is one."""
    if not isinstance(entry, dict):
        return "is not a JSON object"
    for key, kind in (("mediaType", str), ("digest", str)):
        if not isinstance(entry.get(key), kind):
            return f"has no string {key!r}"
    size = entry.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        return "has no non-negative integer 'size'"
    annotations = entry.get("annotations")
    if annotations is not None and (
        not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values())
    ):
        return "has 'annotations' that are not a map of strings"
    return None


def _strip_name(entry: Entry) -> Entry:
    """``entry`` without its ref.name annotation (other annotations stay)."""
    stripped = dict(entry)
    annotations = {k: v for k, v in (entry.get("annotations") or {}).items() if k != REF_NAME}
    if annotations:
        stripped["annotations"] = annotations
    else:
        stripped.pop("annotations", None)
    return stripped


class LayoutIndex:
    """A loaded ``index.json``; mutating methods return whether anything changed."""

    def __init__(self, doc: dict[str, Any], entries: list[Entry]) -> None:
        self._doc = doc
        self._entries = entries

    @classmethod
    def empty(cls) -> LayoutIndex:
        return cls({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}, [])

    @classmethod
    def parse(cls, data: bytes, source: str) -> LayoutIndex:
        """Validate the document's shape; LayoutError naming ``source`` if it is broken."""
        hint = (
            f"shipflow does not overwrite a broken {source}: restore it from a backup or another "
            "copy of the layout, or fix the JSON by hand (it must be an OCI image index)"
        )
        try:
            doc = jsonload.loads(data)
        except jsonload.TooDeep as exc:
            raise LayoutError(f"{source} is {exc}", hint=hint) from exc
        except (ValueError, UnicodeDecodeError) as exc:
            raise LayoutError(f"{source} is not valid JSON: {exc}", hint=hint) from exc
        if not isinstance(doc, dict):
            raise LayoutError(f"{source} is not a JSON object (an OCI image index)", hint=hint)
        manifests = doc.get("manifests")
        # umoci writes "manifests": null for an empty layout.
        if manifests is None:
            manifests = []
        if not isinstance(manifests, list):
            raise LayoutError(f"{source}: 'manifests' is not a list", hint=hint)
        for position, entry in enumerate(manifests):
            problem = _entry_problem(entry)
            if problem:
                raise LayoutError(f"{source}: manifests[{position}] {problem}", hint=hint)
        return cls(doc, list(manifests))

    def to_bytes(self) -> bytes:
        doc = dict(self._doc)
        doc["manifests"] = self._entries
        return json.dumps(doc, separators=(",", ":")).encode()

    @property
    def entries(self) -> list[Entry]:
        return list(self._entries)

    def tags(self) -> list[str]:
        return sorted({name for e in self._entries if (name := ref_name(e)) is not None})

    def find_tag(self, tag: str, source: str) -> Entry | None:
        matches = [e for e in self._entries if ref_name(e) == tag]
        if len({e["digest"] for e in matches}) > 1:
            raise LayoutError(
                f"{source}: tag {tag!r} names {len(matches)} different manifests",
                hint="remove the stale entries for that tag from index.json (one entry per tag)",
            )
        return matches[0] if matches else None

    def find_digest(self, digest: Digest) -> Entry | None:
        text = str(digest)
        return next((e for e in self._entries if e["digest"] == text), None)

    def set_tag(self, descriptor: Descriptor, tag: str) -> bool:
        """Point ``tag`` at ``descriptor``: one entry per tag, one untagged entry absorbed."""
        digest = str(descriptor.digest)
        old = [e for e in self._entries if ref_name(e) == tag]
        if old and all(e["digest"] == digest for e in old):
            return False
        untagged = [e for e in self._entries if e["digest"] == digest and ref_name(e) is None]
        # An untagged entry for the same manifest becomes the tagged one (its foreign
        # annotations and platform stay); otherwise a fresh descriptor.
        base = dict(untagged[0]) if untagged else json.loads(descriptor.to_json_bytes())
        base["annotations"] = {**(base.get("annotations") or {}), REF_NAME: tag}
        replaced = {id(e) for e in [*old, *untagged]}
        kept = [e for e in self._entries if id(e) not in replaced]
        self._entries = [*kept, base]
        if keeps_previous_target(tag):
            self._keep_unreferenced(old)
        return True

    def remove_tag(self, tag: str) -> bool:
        old = [e for e in self._entries if ref_name(e) == tag]
        if not old:
            return False
        self._entries = [e for e in self._entries if ref_name(e) != tag]
        if keeps_previous_target(tag):
            self._keep_unreferenced(old)
        return True

    def add_untagged(self, descriptor: Descriptor) -> bool:
        """List a manifest without a name, unless some entry already lists its digest."""
        if self.find_digest(descriptor.digest) is not None:
            return False
        self._entries = [*self._entries, json.loads(descriptor.to_json_bytes())]
        return True

    def drop_untagged(self, digests: set[Digest]) -> bool:
        """Drop plain untagged entries (no annotations: shipflow's own) for ``digests``.

        Used when an index that lists them is stored: they are reachable through it now.
        """
        texts = {str(d) for d in digests}
        kept = [e for e in self._entries if not (e["digest"] in texts and not e.get("annotations"))]
        changed = len(kept) != len(self._entries)
        self._entries = kept
        return changed

    def _keep_unreferenced(self, old: list[Entry]) -> None:
        listed = {e["digest"] for e in self._entries}
        for entry in old:
            if entry["digest"] not in listed:
                self._entries.append(_strip_name(entry))
                listed.add(entry["digest"])


def entry_descriptor(entry: Entry, source: str) -> Descriptor:
    """The descriptor (media type, digest, size) an index.json entry gives."""
    try:
        return Descriptor(
            media_type=entry["mediaType"], digest=Digest.parse(entry["digest"]), size=entry["size"]
        )
    except (DigestError, WireError) as exc:
        raise LayoutError(
            f"{source}: the entry for {entry.get('digest')!r} is not a usable descriptor: {exc}",
            hint="fix or remove that entry in index.json",
        ) from exc
