"""One classified schema change: what changed, on which object, breaking or compatible, and why."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["Change", "ChangeKind", "Verdict"]


class Verdict(StrEnum):
    """During a canary the old and the new version share one database: BREAKING means the old
    version may fail against the new schema; COMPATIBLE means it keeps working."""

    BREAKING = "breaking"
    COMPATIBLE = "compatible"


class ChangeKind(StrEnum):
    SCHEMA_ADDED = "schema.added"
    SCHEMA_DROPPED = "schema.dropped"
    SCHEMA_RENAMED = "schema.renamed"

    TABLE_ADDED = "table.added"
    TABLE_DROPPED = "table.dropped"
    TABLE_RENAMED = "table.renamed"
    TABLE_RECREATED = "table.recreated"
    PARTITION_ATTACHED = "table.partition_attached"
    PARTITION_DETACHED = "table.partition_detached"
    RELATION_KIND_CHANGED = "relation.kind_changed"

    VIEW_ADDED = "view.added"
    VIEW_DROPPED = "view.dropped"
    VIEW_RENAMED = "view.renamed"
    VIEW_RECREATED = "view.recreated"
    VIEW_DEFINITION_CHANGED = "view.definition_changed"

    SEQUENCE_ADDED = "sequence.added"
    SEQUENCE_DROPPED = "sequence.dropped"
    SEQUENCE_RENAMED = "sequence.renamed"
    SEQUENCE_RECREATED = "sequence.recreated"
    SEQUENCE_CHANGED = "sequence.changed"

    COLUMN_ADDED = "column.added"
    COLUMN_DROPPED = "column.dropped"
    COLUMN_RENAMED = "column.renamed"
    COLUMN_RECREATED = "column.recreated"
    COLUMN_TYPE_CHANGED = "column.type_changed"
    COLUMN_NOT_NULL_ADDED = "column.not_null_added"
    COLUMN_NOT_NULL_DROPPED = "column.not_null_dropped"
    COLUMN_DEFAULT_ADDED = "column.default_added"
    COLUMN_DEFAULT_CHANGED = "column.default_changed"
    COLUMN_DEFAULT_DROPPED = "column.default_dropped"
    COLUMN_IDENTITY_CHANGED = "column.identity_changed"
    COLUMN_GENERATED_CHANGED = "column.generated_changed"

    ENUM_ADDED = "enum.added"
    ENUM_DROPPED = "enum.dropped"
    ENUM_RENAMED = "enum.renamed"
    ENUM_RECREATED = "enum.recreated"
    ENUM_VALUE_ADDED = "enum.value_added"
    ENUM_VALUE_DROPPED = "enum.value_dropped"
    ENUM_VALUE_RENAMED = "enum.value_renamed"
    ENUM_VALUES_REORDERED = "enum.values_reordered"

    INDEX_ADDED = "index.added"
    INDEX_DROPPED = "index.dropped"
    INDEX_RENAMED = "index.renamed"
    INDEX_CHANGED = "index.changed"

    CONSTRAINT_ADDED = "constraint.added"
    CONSTRAINT_DROPPED = "constraint.dropped"
    CONSTRAINT_RENAMED = "constraint.renamed"
    CONSTRAINT_CHANGED = "constraint.changed"
    CONSTRAINT_VALIDATED = "constraint.validated"

    ROUTINE_ADDED = "routine.added"
    ROUTINE_DROPPED = "routine.dropped"
    ROUTINE_RENAMED = "routine.renamed"
    ROUTINE_CHANGED = "routine.changed"

    @property
    def label(self) -> str:
        """``column.not_null_added`` → ``column not null added`` (for tables of changes)."""
        return self.value.replace(".", " ").replace("_", " ")


@dataclass(frozen=True)
class Change:
    """One schema change and its verdict. ``reason`` is a sentence a person understands."""

    kind: ChangeKind
    object: str
    verdict: Verdict
    reason: str
    before: str | None = None
    after: str | None = None

    @property
    def breaking(self) -> bool:
        return self.verdict is Verdict.BREAKING

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind.value,
            "object": self.object,
            "verdict": self.verdict.value,
            "reason": self.reason,
        }
        if self.before is not None:
            data["before"] = self.before
        if self.after is not None:
            data["after"] = self.after
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Change:
        return cls(
            kind=ChangeKind(data["kind"]),
            object=str(data["object"]),
            verdict=Verdict(data["verdict"]),
            reason=str(data["reason"]),
            before=None if data.get("before") is None else str(data["before"]),
            after=None if data.get("after") is None else str(data["after"]),
        )
