"""Diff two schema snapshots and classify every change for a canary's shared database.

During a canary the old and the new version of the application use one database. A change is
**breaking** when the old version may fail against the new schema, **compatible** when it keeps
working. Objects are matched by OID first (so a rename is a rename, not a drop and an add), then
by name (a drop-and-create under the same name is a "recreated" object, compared by content).

The rules, object by object (the reasons in the code say the same to the user):

tables, views, sequences
    added: compatible. Dropped, renamed or moved to another schema: breaking (the old version
    uses the old name). Recreated under the same name: compatible (its contents compared as
    usual; a table's rows are gone unless the migration copied them). A table replaced by a view
    (or any change of kind other than view → table or materialized view): breaking. A partition
    detached: breaking (rows for its range have nowhere to go); attached: compatible. A view's
    query changed: compatible. A sequence's parameters changed: compatible.
columns
    added: compatible when nullable, or filled by a default, identity or generation; a NOT NULL
    column without one is breaking (the old version's inserts leave it out). Dropped or renamed:
    breaking. Type changed: compatible only for the widenings of :mod:`.widening`. NOT NULL
    added: breaking; dropped: compatible. Default added or changed: compatible; dropped:
    breaking when the column is NOT NULL and nothing else fills it. Identity made ALWAYS:
    breaking (explicit values are refused). Views' columns: added compatible, dropped, renamed
    or changed in type like tables'.
enum types
    added: compatible; dropped or renamed: breaking. Values added: compatible; dropped, renamed
    or reordered: breaking. A drop-and-recreate under the same name is compared value by value.
constraints and unique indexes (a new rule the old version's writes may violate)
    A new primary key, unique, check, foreign-key or exclusion constraint, or a new unique index,
    on a table that existed before: breaking — also when added NOT VALID, because NOT VALID only
    skips the rows already there: every write from the old version is checked. Exceptions,
    compatible because the old version's writes cannot violate them: a unique rule already
    implied by a unique rule that existed before (e.g. ``ADD PRIMARY KEY USING INDEX``); a
    unique rule (NULLS DISTINCT) over columns that are new and left NULL by the old version; a
    primary key or unique rule on a new identity column; a foreign key over new nullable
    columns whose ON DELETE is CASCADE, SET NULL or SET DEFAULT (so the old version's deletes of
    referenced rows still succeed). Constraints of a new table are part of the new table.
    Dropped constraints and indexes: compatible (a rule relaxed). VALIDATE CONSTRAINT:
    compatible. A constraint redefined under the same name: judged as a new one. Renamed
    constraints and indexes: compatible (only ``ON CONFLICT ON CONSTRAINT name`` names them).
    Non-unique indexes: compatible whatever happens to them.
functions and procedures
    added: compatible; dropped, renamed or with a changed result type: breaking (the old
    version may call them), except trigger functions, which the application never calls.
    Bodies are not compared.
schemas
    added: compatible; dropped or renamed: breaking.

Not classified (not in the snapshot): privileges, row-level security, triggers, domains'
constraints, collations, comments, storage parameters, function bodies.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from .changes import Change, ChangeKind, Verdict
from .snapshot import (
    Column,
    Constraint,
    EnumType,
    Index,
    Relation,
    Routine,
    Schema,
    SchemaSnapshot,
    TypeRef,
    ident,
)
from .widening import is_widening

__all__ = ["classify"]

T = TypeVar("T")
K = TypeVar("K", Constraint, Index)

B = Verdict.BREAKING
C = Verdict.COMPATIBLE
_TRIGGER_RESULTS = frozenset({"trigger", "event_trigger"})
_CONSTRAINT_NAMES = {"p": "primary key", "u": "unique", "c": "check", "f": "foreign key", "x": "exclusion"}
_RELAXED_DELETE_ACTIONS = ("ON DELETE CASCADE", "ON DELETE SET NULL", "ON DELETE SET DEFAULT")


def _match(
    old: Iterable[T], new: Iterable[T], oid: Callable[[T], int] | None, key: Callable[[T], Hashable]
) -> tuple[list[tuple[T, T, bool]], list[T], list[T]]:
    """Pair old and new objects: by OID (same object, maybe renamed), then by ``key`` among the
    rest (dropped and created again under the same name). Returns (pairs with a same-OID flag,
    dropped, added). ``oid=None`` matches by key only."""
    new_list = list(new)
    new_by_oid = {oid(item): item for item in new_list} if oid is not None else {}
    pairs: list[tuple[T, T, bool]] = []
    rest: list[T] = []
    for item in old:
        partner = new_by_oid.pop(oid(item), None) if oid is not None else None
        if partner is not None:
            pairs.append((item, partner, True))
        else:
            rest.append(item)
    new_by_key: dict[Hashable, T] = {}
    for item in new_by_oid.values() if oid is not None else new_list:
        new_by_key.setdefault(key(item), item)
    dropped: list[T] = []
    for item in rest:
        partner = new_by_key.pop(key(item), None)
        if partner is not None:
            pairs.append((item, partner, False))
        else:
            dropped.append(item)
    return pairs, dropped, list(new_by_key.values())


def classify(before: SchemaSnapshot, after: SchemaSnapshot) -> tuple[Change, ...]:
    """Every change from ``before`` to ``after``, breaking ones first, then by object name."""
    changes = _Classifier(before, after).run()
    return tuple(sorted(changes, key=lambda c: (c.verdict is not B, c.object, c.kind.value)))


class _Classifier:
    def __init__(self, before: SchemaSnapshot, after: SchemaSnapshot) -> None:
        self.before = before
        self.after = after
        self.changes: list[Change] = []
        self.rel_map: dict[int, int] = {}  # old relation oid -> new relation oid (matched)
        self.type_map: dict[int, int] = {}  # old enum oid -> new enum oid (matched)
        self.new_columns: dict[int, set[str]] = {}  # new table oid -> names of columns added
        self.matched_new: set[int] = set()  # new oids of relations that existed before
        self.rel_back: dict[int, int] = {}  # new relation oid -> old relation oid

    def add(
        self,
        kind: ChangeKind,
        obj: str,
        verdict: Verdict,
        reason: str,
        before: str | None = None,
        after: str | None = None,
    ) -> None:
        self.changes.append(Change(kind, obj, verdict, reason, before, after))

    def run(self) -> list[Change]:
        self._schemas()
        self._enums()  # before relations: columns compare types through the enum mapping
        self._relations()
        backing = {
            c.index_oid
            for c in (*self.before.constraints, *self.after.constraints)
            if c.type in "pux" and c.index_oid
        }
        self._constraints()
        self._indexes(backing)
        self._routines()
        return self.changes

    # --- schemas ------------------------------------------------------------------------------

    def _schemas(self) -> None:
        pairs, dropped, added = _match(self.before.schemas, self.after.schemas, _oid, _schema_key)
        for old, new, _same in pairs:
            if old.name != new.name:
                self.add(
                    ChangeKind.SCHEMA_RENAMED,
                    ident(new.name),
                    B,
                    f"Schema {ident(old.name)} was renamed to {ident(new.name)}: the old version still "
                    "uses the old name for everything in it.",
                    ident(old.name),
                    ident(new.name),
                )
        for old in dropped:
            self.add(
                ChangeKind.SCHEMA_DROPPED,
                ident(old.name),
                B,
                f"Schema {ident(old.name)} is dropped with everything in it: the old version's queries "
                "on its "
                "objects fail.",
            )
        for new in added:
            self.add(
                ChangeKind.SCHEMA_ADDED,
                ident(new.name),
                C,
                f"New schema {ident(new.name)}: the old version does not use it.",
            )

    # --- enums --------------------------------------------------------------------------------

    def _enums(self) -> None:
        pairs, dropped, added = _match(self.before.enums, self.after.enums, _oid, _qualified_key)
        for old, new, same in pairs:
            self.type_map[old.oid] = new.oid
            if same and (old.name != new.name or old.schema_oid != new.schema_oid):
                self.add(
                    ChangeKind.ENUM_RENAMED,
                    new.qualified,
                    B,
                    f"Enum type {old.qualified} was renamed to {new.qualified}: SQL of the old version that "
                    "names the type (casts such as 'x'::type) fails.",
                    old.qualified,
                    new.qualified,
                )
            if not same:
                self.add(
                    ChangeKind.ENUM_RECREATED,
                    new.qualified,
                    C,
                    f"Enum type {new.qualified} was dropped and created again under the same name; its "
                    "values are compared one by one.",
                )
            self._enum_values(old, new, same)
        for old in dropped:
            self.add(
                ChangeKind.ENUM_DROPPED,
                old.qualified,
                B,
                f"Enum type {old.qualified} is dropped: the old version's columns and casts that use it "
                "fail.",
            )
        for new in added:
            self.add(
                ChangeKind.ENUM_ADDED,
                new.qualified,
                C,
                f"New enum type {new.qualified}: the old version does not use it.",
                after=", ".join(v.label for v in new.values),
            )

    def _enum_values(self, old: EnumType, new: EnumType, same_type: bool) -> None:
        if same_type:
            pairs, dropped, added = _match(old.values, new.values, _oid, lambda v: v.label)
        else:  # a recreated type: value OIDs are new, only labels can be compared
            pairs, dropped, added = _match(old.values, new.values, None, lambda v: v.label)
        for old_value, new_value, _same in pairs:
            if old_value.label != new_value.label:
                self.add(
                    ChangeKind.ENUM_VALUE_RENAMED,
                    f"{new.qualified}.{new_value.label}",
                    B,
                    f"Value '{old_value.label}' of {new.qualified} was renamed to '{new_value.label}': "
                    "the old "
                    f"version still writes and expects '{old_value.label}'.",
                    old_value.label,
                    new_value.label,
                )
        for value in dropped:
            self.add(
                ChangeKind.ENUM_VALUE_DROPPED,
                f"{new.qualified}.{value.label}",
                B,
                f"Value '{value.label}' of {new.qualified} is gone: the old version's writes of it fail.",
            )
        for value in added:
            self.add(
                ChangeKind.ENUM_VALUE_ADDED,
                f"{new.qualified}.{value.label}",
                C,
                f"New value '{value.label}' of {new.qualified}: the old version never writes it.",
            )
        # Relative order of the values both versions know.
        old_order = [o.label for o, _n, _s in sorted(pairs, key=lambda p: p[0].sort_order)]
        new_order = [o.label for o, _n, _s in sorted(pairs, key=lambda p: p[1].sort_order)]
        if old_order != new_order:
            self.add(
                ChangeKind.ENUM_VALUES_REORDERED,
                new.qualified,
                B,
                f"The order of the values of {new.qualified} changed: the old version's comparisons and "
                "ORDER BY on it give other results.",
                ", ".join(old_order),
                ", ".join(new_order),
            )

    # --- relations and columns ----------------------------------------------------------------

    def _relations(self) -> None:
        pairs, dropped, added = _match(self.before.relations, self.after.relations, _oid, _qualified_key)
        for old, new, same in pairs:
            self.rel_map[old.oid] = new.oid
            self._relation_pair(old, new, same)
        self.matched_new = set(self.rel_map.values())
        self.rel_back = {new_oid: old_oid for old_oid, new_oid in self.rel_map.items()}
        for old in dropped:
            kind, what = _relation_kind(old, dropped=True)
            if old.parent_oid is not None:
                reason = (
                    f"Partition {old.qualified} is dropped: the old version's queries on it fail, and rows "
                    "for its range have no partition unless a default partition takes them."
                )
            elif kind is ChangeKind.SEQUENCE_DROPPED:
                reason = (
                    f"Sequence {old.qualified} is dropped: the old version's "
                    f"nextval('{old.qualified}') fails."
                )
            else:
                reason = f"{what} {old.qualified} is dropped: the old version's queries on it fail."
            self.add(kind, old.qualified, B, reason)
        for new in added:
            kind, what = _relation_kind(new, dropped=False)
            if new.parent_oid is not None:
                parent = self.after.relation(new.parent_oid)
                reason = (
                    f"New partition {new.qualified}"
                    + (f" of {parent.qualified}" if parent else "")
                    + (": the old version's rows for its range go there.")
                )
            else:
                reason = f"New {what} {new.qualified}: the old version does not use it."
            self.add(kind, new.qualified, C, reason)

    def _relation_pair(self, old: Relation, new: Relation, same: bool) -> None:
        obj = new.qualified
        if same and (old.name != new.name or old.schema_oid != new.schema_oid):
            kind = {"table": ChangeKind.TABLE_RENAMED, "view": ChangeKind.VIEW_RENAMED}.get(
                _group(new), ChangeKind.SEQUENCE_RENAMED
            )
            moved = old.name == new.name
            self.add(
                kind,
                obj,
                B,
                f"{new.kind_name.capitalize()} {old.qualified} was "
                + ("moved to schema " + ident(new.schema) if moved else f"renamed to {obj}")
                + ": the old version still uses the old name.",
                old.qualified,
                obj,
            )
        if _group(old) != _group(new) or (old.is_view and new.is_view and old.kind != new.kind):
            verdict, why = _kind_change(old, new)
            self.add(
                ChangeKind.RELATION_KIND_CHANGED,
                obj,
                verdict,
                f"{obj} was a {old.kind_name} and is now a {new.kind_name}: {why}",
                old.kind_name,
                new.kind_name,
            )
            if _group(old) == "sequence" or _group(new) == "sequence":
                return
        elif not same:
            kind, reason = {
                "table": (
                    ChangeKind.TABLE_RECREATED,
                    f"Table {obj} was dropped and created again: the old version finds it under its name, "
                    "but its rows are gone unless the migration copied them. Its columns are compared by "
                    "name.",
                ),
                "view": (
                    ChangeKind.VIEW_RECREATED,
                    f"View {obj} was dropped and created again; its columns are compared by name.",
                ),
                "sequence": (
                    ChangeKind.SEQUENCE_RECREATED,
                    f"Sequence {obj} was dropped and created again: it restarts unless the migration set it.",
                ),
            }[_group(new)]
            self.add(kind, obj, C, reason)
        if same and old.parent_oid != new.parent_oid:
            if old.parent_oid is not None and new.parent_oid is None:
                parent = self.before.relation(old.parent_oid)
                self.add(
                    ChangeKind.PARTITION_DETACHED,
                    obj,
                    B,
                    f"Partition {obj} was detached"
                    + (f" from {parent.qualified}" if parent else "")
                    + ": the old version's rows for its range have no partition unless a default partition "
                    "takes them, and its queries on the parent no longer see these rows.",
                )
            elif new.parent_oid is not None:
                parent = self.after.relation(new.parent_oid)
                self.add(
                    ChangeKind.PARTITION_ATTACHED,
                    obj,
                    C,
                    f"{obj} was attached as a partition"
                    + (f" of {parent.qualified}" if parent else "")
                    + ".",
                )
        if old.is_view and new.is_view and old.definition != new.definition and same:
            self.add(
                ChangeKind.VIEW_DEFINITION_CHANGED,
                obj,
                C,
                f"The query of {obj} changed: the old version's queries still run (its columns are "
                "compared separately), but the rows they return may differ.",
            )
        if old.kind == "S" and new.kind == "S" and old.definition != new.definition:
            self.add(
                ChangeKind.SEQUENCE_CHANGED,
                obj,
                C,
                f"The parameters of sequence {obj} changed; nextval() keeps working.",
                old.definition,
                new.definition,
            )
        # Partitions carry their parent's columns: a change there is reported on the parent.
        if old.parent_oid is not None and new.parent_oid is not None:
            return
        if (old.is_table or old.is_view) and (new.is_table or new.is_view):
            self._columns(old, new, by_attnum=same)

    def _columns(self, old_rel: Relation, new_rel: Relation, *, by_attnum: bool) -> None:
        table = new_rel.is_table
        attnum_key: Callable[[Column], int] | None = (lambda c: c.attnum) if by_attnum else None
        pairs, dropped, added = _match(old_rel.columns, new_rel.columns, attnum_key, lambda c: c.name)
        self.new_columns[new_rel.oid] = {c.name for c in added}
        rel = new_rel.qualified
        for old, new, same in pairs:
            obj = f"{rel}.{ident(new.name)}"
            if same and old.name != new.name:
                self.add(
                    ChangeKind.COLUMN_RENAMED,
                    obj,
                    B,
                    f"Column {ident(old.name)} of {rel} was renamed to {ident(new.name)}: the old version "
                    "still "
                    "uses the old name.",
                    old.name,
                    new.name,
                )
            if not same and by_attnum:
                self.add(
                    ChangeKind.COLUMN_RECREATED,
                    obj,
                    C,
                    f"Column {obj} was dropped and added again under the same name: the old version finds "
                    "it, but its values are gone unless the migration copied them.",
                )
            self._column_type(obj, old.type, new.type)
            if table:
                self._column_rules(obj, old, new)
        for old in dropped:
            obj = f"{rel}.{ident(old.name)}"
            self.add(
                ChangeKind.COLUMN_DROPPED,
                obj,
                B,
                f"Column {obj} is dropped: the old version's queries that read or write it fail.",
                old.type.name,
            )
        for new in added:
            obj = f"{rel}.{ident(new.name)}"
            if table and new.not_null and not new.has_value_source:
                self.add(
                    ChangeKind.COLUMN_ADDED,
                    obj,
                    B,
                    f"New column {obj} is NOT NULL without a default: the old version's inserts do not set "
                    "it and fail.",
                    after=_describe_column(new),
                )
            else:
                why = (
                    "a view's new column is only read by the new version"
                    if not table
                    else "the old version's inserts leave it out and get "
                    + ("its default" if new.has_value_source else "NULL")
                )
                self.add(
                    ChangeKind.COLUMN_ADDED,
                    obj,
                    C,
                    f"New column {obj}: {why}.",
                    after=_describe_column(new),
                )

    def _same_type(self, old: TypeRef, new: TypeRef) -> bool:
        if old.array != new.array:
            return False
        if self.type_map.get(old.base_oid, old.base_oid) == new.base_oid:
            return True
        # A user-defined type (domain, composite, range) dropped and created under the same name.
        return old.base_kind != "b" and old.base_kind == new.base_kind and old.base == new.base

    def _column_type(self, obj: str, old: TypeRef, new: TypeRef) -> None:
        if self._same_type(old, new) and old.typmod == new.typmod:
            return
        builtin = old.base_kind == "b" and new.base_kind == "b" and old.array == new.array
        if builtin and is_widening(old.base, old.typmod, new.base, new.typmod):
            self.add(
                ChangeKind.COLUMN_TYPE_CHANGED,
                obj,
                C,
                f"Type of {obj} widened from {old.name} to {new.name}: every value the old version writes "
                "still fits, and reads return the same kind of value.",
                old.name,
                new.name,
            )
            return
        narrowed = builtin and is_widening(new.base, new.typmod, old.base, old.typmod)
        self.add(
            ChangeKind.COLUMN_TYPE_CHANGED,
            obj,
            B,
            (
                f"Type of {obj} narrowed from {old.name} to {new.name}: values the old version writes may "
                "no longer fit."
                if narrowed
                else f"Type of {obj} changed from {old.name} to {new.name}: the old version may write values "
                "the new type refuses, or read values it does not expect."
            ),
            old.name,
            new.name,
        )

    def _column_rules(self, obj: str, old: Column, new: Column) -> None:
        if not old.not_null and new.not_null:
            self.add(
                ChangeKind.COLUMN_NOT_NULL_ADDED,
                obj,
                B,
                f"{obj} became NOT NULL: the old version's writes of NULL to it"
                + ("" if new.has_value_source else ", and its inserts that leave it out,")
                + " fail.",
            )
        elif old.not_null and not new.not_null:
            self.add(
                ChangeKind.COLUMN_NOT_NULL_DROPPED,
                obj,
                C,
                f"{obj} is no longer NOT NULL: everything the old version writes is still accepted.",
            )
        lost_source = old.has_value_source and not new.has_value_source and new.not_null
        # The same default expression shows other text when a sequence it names moved schema;
        # the stored expression tree (OIDs, not names) tells.
        same_default = old.default == new.default or (
            old.default_key is not None and old.default_key == new.default_key
        )
        if not same_default:
            if old.default is None:
                self.add(
                    ChangeKind.COLUMN_DEFAULT_ADDED,
                    obj,
                    C,
                    f"{obj} got a default: inserts that leave it out now get a value.",
                    after=new.default,
                )
            elif new.default is None:
                self.add(
                    ChangeKind.COLUMN_DEFAULT_DROPPED,
                    obj,
                    B if lost_source else C,
                    f"{obj} lost its default"
                    + (
                        " and is NOT NULL: the old version's inserts that leave it out fail."
                        if lost_source
                        else ": inserts that leave it out now get "
                        + ("a value from its identity or generation." if new.has_value_source else "NULL.")
                    ),
                    before=old.default,
                )
            else:
                self.add(
                    ChangeKind.COLUMN_DEFAULT_CHANGED,
                    obj,
                    C,
                    f"The default of {obj} changed: inserts that leave it out get another value, and still "
                    "succeed.",
                    old.default,
                    new.default,
                )
        if old.identity != new.identity:
            names = {
                "": "no identity",
                "a": "GENERATED ALWAYS AS IDENTITY",
                "d": "GENERATED BY DEFAULT AS IDENTITY",
            }
            if new.identity == "a":
                verdict, why = B, "explicit values the old version writes are now refused."
            elif not new.identity and lost_source:
                verdict, why = B, "it is NOT NULL and the old version's inserts that leave it out fail."
            else:
                verdict, why = C, "the old version's inserts still succeed."
            self.add(
                ChangeKind.COLUMN_IDENTITY_CHANGED,
                obj,
                verdict,
                f"{obj} changed from {names[old.identity]} to {names[new.identity]}: {why}",
                names[old.identity],
                names[new.identity],
            )
        if old.generated != new.generated:
            if new.generated is None:
                verdict, why = (
                    (B, "it is NOT NULL and nothing fills it for the old version's inserts.")
                    if lost_source
                    else (C, "it is now a plain column.")
                )
            else:
                verdict, why = C, "its values are computed differently; the old version does not write it."
            self.add(
                ChangeKind.COLUMN_GENERATED_CHANGED,
                obj,
                verdict,
                f"The generation expression of {obj} changed: {why}",
                old.generated,
                new.generated,
            )

    # --- constraints and indexes --------------------------------------------------------------

    def _existing_table(self, new_table_oid: int) -> Relation | None:
        """The new-side table, if it existed before the migration (matched) — else None."""
        if new_table_oid not in self.matched_new:
            return None
        return self.after.relation(new_table_oid)

    def _unique_sets_before(self, new_table_oid: int) -> list[tuple[frozenset[str], bool]]:
        """Column-name sets of every full (non-partial, no expression) unique rule the table had
        before, with their NULLS NOT DISTINCT flag."""
        old_oid = self.rel_back.get(new_table_oid)
        if old_oid is None:
            return []
        old_rel = self.before.relation(old_oid)
        if old_rel is None:
            return []
        names = {c.attnum: c.name for c in old_rel.columns}
        sets: list[tuple[frozenset[str], bool]] = []
        for index in self.before.indexes:
            if index.table_oid != old_oid or not index.unique or index.partial or 0 in index.columns:
                continue
            if all(n in names for n in index.columns):
                sets.append((frozenset(names[n] for n in index.columns), index.nulls_not_distinct))
        return sets

    def _implied(self, table: Relation, attnums: Sequence[int], nulls_not_distinct: bool) -> str | None:
        """Why a new unique rule over ``attnums`` cannot refuse a write of the old version, or None."""
        names = {c.attnum: c for c in table.columns}
        if not attnums or 0 in attnums or any(n not in names for n in attnums):
            return None
        wanted = frozenset(names[n].name for n in attnums)
        for existing, nnd in self._unique_sets_before(table.oid):
            if existing <= wanted and (nnd or not nulls_not_distinct):
                cols = ", ".join(sorted(existing))
                return f"a unique rule on ({cols}) already applied before, so it refuses nothing new"
        added = self.new_columns.get(table.oid, set())
        columns = [names[n] for n in attnums]
        if all(c.name in added for c in columns):
            if all(c.identity for c in columns):
                return "it is on a new identity column, which the database fills with unique values"
            if not nulls_not_distinct and all(not c.not_null and not c.has_value_source for c in columns):
                return "its columns are new and the old version leaves them NULL, which never collides"
        return None

    def _new_rule_reason(self, constraint: Constraint, table: Relation) -> str | None:
        """Why a new constraint cannot refuse a write of the old version, or None (breaking)."""
        if constraint.type in "pu":
            return self._implied(table, constraint.columns, "NULLS NOT DISTINCT" in constraint.definition)
        if constraint.type == "f":
            names = {c.attnum: c for c in table.columns}
            added = self.new_columns.get(table.oid, set())
            columns = [names.get(n) for n in constraint.columns]
            if (
                columns
                and all(
                    c is not None and c.name in added and not c.not_null and not c.has_value_source
                    for c in columns
                )
                and any(action in constraint.definition for action in _RELAXED_DELETE_ACTIONS)
            ):
                return (
                    "its columns are new and left NULL by the old version, and deleting a referenced row "
                    "cascades instead of failing"
                )
        return None

    def _constraints(self) -> None:
        def key(c: Constraint) -> Hashable:
            return (c.table_oid, c.name)

        old_keyed = [_Rekeyed(c, self.rel_map.get(c.table_oid, -1)) for c in self.before.constraints]
        new_keyed = [_Rekeyed(c, c.table_oid) for c in self.after.constraints]
        pairs, dropped, added = _match(old_keyed, new_keyed, lambda r: r.c.oid, lambda r: (r.table, r.c.name))
        # Created again under another name with the very same definition (a rebuilt table's
        # constraints get names like invoices_pkey1): the same rule, renamed.
        equivalent, dropped, added = _match(
            dropped, added, None, lambda r: (r.table, r.c.type, r.c.definition)
        )
        for old_r, new_r, _same in equivalent:
            table = self._existing_table(new_r.table)
            if table is not None:
                self.add(
                    ChangeKind.CONSTRAINT_RENAMED,
                    f"{table.qualified}.{ident(new_r.c.name)}",
                    C,
                    f"Constraint {ident(old_r.c.name)} on {table.qualified} was created again as "
                    f"{ident(new_r.c.name)} with the same definition: the same rule under another name.",
                    old_r.c.name,
                    new_r.c.name,
                )
        for old_r, new_r, same in pairs:
            old, new = old_r.c, new_r.c
            table = self.after.relation(new.table_oid)
            if table is None:
                continue
            obj = f"{table.qualified}.{ident(new.name)}"
            if same:
                if old.name != new.name:
                    self.add(
                        ChangeKind.CONSTRAINT_RENAMED,
                        obj,
                        C,
                        f"Constraint {ident(old.name)} on {table.qualified} was renamed to "
                        f"{ident(new.name)}: "
                        "only INSERT ... ON CONFLICT ON CONSTRAINT names a constraint, which is rare.",
                        old.name,
                        new.name,
                    )
                if not old.validated and new.validated:
                    self.add(
                        ChangeKind.CONSTRAINT_VALIDATED,
                        obj,
                        C,
                        f"Constraint {obj} was validated: the rows already there were checked; writes were "
                        "checked before already.",
                    )
                continue
            if old.definition == new.definition and old.type == new.type:
                continue  # dropped and created again unchanged
            self._constraint_added(new, table, obj, redefined=old.definition)
        for old_r in dropped:
            old = old_r.c
            table = self._existing_table(old_r.table)
            if table is None:
                continue  # its table is gone: reported with the table
            obj = f"{table.qualified}.{ident(old.name)}"
            note = (
                " (an old version's INSERT ... ON CONFLICT on exactly these columns would no longer find it)"
                if old.type in "pux"
                else ""
            )
            self.add(
                ChangeKind.CONSTRAINT_DROPPED,
                obj,
                C,
                f"{_CONSTRAINT_NAMES[old.type].capitalize()} constraint {obj} is dropped: a rule is relaxed, "
                f"so everything the old version writes is still accepted{note}.",
                before=old.definition,
            )
        for new_r in added:
            new = new_r.c
            existing = self._existing_table(new.table_oid)
            if existing is None:
                continue  # part of a new table
            self._constraint_added(new, existing, f"{existing.qualified}.{ident(new.name)}", redefined=None)

    def _constraint_added(self, new: Constraint, table: Relation, obj: str, *, redefined: str | None) -> None:
        kind = ChangeKind.CONSTRAINT_CHANGED if redefined is not None else ChangeKind.CONSTRAINT_ADDED
        what = _CONSTRAINT_NAMES[new.type]
        verb = "redefined" if redefined is not None else "added"
        relaxed = self._new_rule_reason(new, table)
        if relaxed is not None:
            self.add(
                kind,
                obj,
                C,
                f"New {what} constraint {obj} ({verb}): {relaxed}.",
                redefined,
                new.definition,
            )
            return
        consequence = {
            "p": "the old version's writes of duplicate or NULL keys are refused",
            "u": "the old version's writes of duplicate values are refused",
            "c": "the old version's writes that fail the check are refused",
            "f": "the old version's writes without a matching referenced row, and its deletes of "
            "referenced rows, are refused",
            "x": "the old version's writes that conflict with existing rows are refused",
        }[new.type]
        not_valid = (
            " NOT VALID only skips the rows already there: every write from the old version is checked."
            if not new.validated
            else ""
        )
        self.add(
            kind,
            obj,
            B,
            f"New {what} constraint {obj} on an existing table ({verb}): {consequence}.{not_valid}",
            redefined,
            new.definition,
        )

    def _indexes(self, backing: set[int]) -> None:
        old_idx = [
            _Rekeyed(i, self.rel_map.get(i.table_oid, -1))
            for i in self.before.indexes
            if i.oid not in backing
        ]
        new_idx = [_Rekeyed(i, i.table_oid) for i in self.after.indexes if i.oid not in backing]
        pairs, dropped, added = _match(
            old_idx, new_idx, lambda r: r.c.oid, lambda r: (r.c.schema_oid, r.c.name, r.table)
        )
        equivalent, dropped, added = _match(
            dropped, added, None, lambda r: (r.table, r.c.unique, _unnamed_index(r.c.definition))
        )
        for old_r, new_r, _same in equivalent:
            if self._existing_table(new_r.table) is not None:
                self.add(
                    ChangeKind.INDEX_RENAMED,
                    new_r.c.qualified,
                    C,
                    f"Index {old_r.c.qualified} was created again as {new_r.c.qualified} with the same "
                    "definition: queries do not name indexes.",
                    old_r.c.qualified,
                    new_r.c.qualified,
                )
        for old_r, new_r, same in pairs:
            old, new = old_r.c, new_r.c
            if same:
                if old.name != new.name:
                    self.add(
                        ChangeKind.INDEX_RENAMED,
                        new.qualified,
                        C,
                        f"Index {old.qualified} was renamed to {new.qualified}: queries do not name indexes.",
                        old.qualified,
                        new.qualified,
                    )
                continue
            if old.definition == new.definition:
                continue
            table = self._existing_table(new.table_oid)
            self._index_added(new, table, redefined=old.definition)
        for old_r in dropped:
            old = old_r.c
            if self._existing_table(old_r.table) is None:
                continue  # its table is gone
            self.add(
                ChangeKind.INDEX_DROPPED,
                old.qualified,
                C,
                f"Index {old.qualified} is dropped: queries still run (perhaps slower)"
                + (
                    "; a uniqueness rule is relaxed (an old version's INSERT ... ON CONFLICT on exactly "
                    "these "
                    "columns would no longer find it)."
                    if old.unique
                    else "."
                ),
                before=old.definition,
            )
        for new_r in added:
            table = self._existing_table(new_r.c.table_oid)
            if table is None:
                continue  # part of a new table
            self._index_added(new_r.c, table, redefined=None)

    def _index_added(self, new: Index, table: Relation | None, *, redefined: str | None) -> None:
        kind = ChangeKind.INDEX_CHANGED if redefined is not None else ChangeKind.INDEX_ADDED
        verb = "redefined" if redefined is not None else "new"
        if not new.unique or table is None:
            self.add(
                kind,
                new.qualified,
                C,
                f"Index {new.qualified} ({verb}) is not unique: it changes no rule, only speed.",
                redefined,
                new.definition,
            )
            return
        relaxed = self._implied(table, new.columns, new.nulls_not_distinct)
        if relaxed is not None:
            self.add(
                kind,
                new.qualified,
                C,
                f"Unique index {new.qualified} ({verb}): {relaxed}.",
                redefined,
                new.definition,
            )
            return
        self.add(
            kind,
            new.qualified,
            B,
            f"Unique index {new.qualified} ({verb}) on existing table {table.qualified}: the old version's "
            "writes of duplicate values are refused.",
            redefined,
            new.definition,
        )

    # --- routines -----------------------------------------------------------------------------

    def _routines(self) -> None:
        pairs, dropped, added = _match(
            self.before.routines, self.after.routines, _oid, lambda r: (r.schema, r.name, r.arguments)
        )
        for old, new, same in pairs:
            trigger = _is_trigger(new)
            if same and (old.name != new.name or old.schema_oid != new.schema_oid):
                self.add(
                    ChangeKind.ROUTINE_RENAMED,
                    new.signature,
                    C if trigger else B,
                    f"{_routine_kind(new)} {old.signature} was renamed to {new.signature}: "
                    + (
                        "trigger functions are not called by the application."
                        if trigger
                        else "the old version's calls of the old name fail."
                    ),
                    old.signature,
                    new.signature,
                )
            if old.result != new.result:
                self.add(
                    ChangeKind.ROUTINE_CHANGED,
                    new.signature,
                    C if trigger else B,
                    f"{_routine_kind(new)} {new.signature} now returns {new.result} instead of {old.result}"
                    + ("." if trigger else ": the old version's calls get a result of another shape."),
                    old.result,
                    new.result,
                )
        for old in dropped:
            trigger = _is_trigger(old)
            self.add(
                ChangeKind.ROUTINE_DROPPED,
                old.signature,
                C if trigger else B,
                f"{_routine_kind(old)} {old.signature} is dropped: "
                + (
                    "trigger functions are not called by the application."
                    if trigger
                    else "the old version's calls of it fail."
                ),
            )
        for new in added:
            self.add(
                ChangeKind.ROUTINE_ADDED,
                new.signature,
                C,
                f"New {_routine_kind(new).lower()} {new.signature}: the old version does not call it.",
            )


@dataclass(frozen=True)
class _Rekeyed(Generic[K]):
    """A constraint or index with the (new-side) OID of its table, for matching by name."""

    c: K
    table: int


def _oid(item: Schema | EnumType | Relation | Routine | object) -> int:
    return int(item.oid)  # type: ignore[union-attr]


def _schema_key(item: Schema) -> Hashable:
    return item.name


def _qualified_key(item: EnumType | Relation) -> Hashable:
    return (item.schema, item.name)


def _group(rel: Relation) -> str:
    if rel.is_table:
        return "table"
    if rel.is_view:
        return "view"
    return "sequence"


def _relation_kind(rel: Relation, *, dropped: bool) -> tuple[ChangeKind, str]:
    group = _group(rel)
    if group == "table":
        return (ChangeKind.TABLE_DROPPED if dropped else ChangeKind.TABLE_ADDED), rel.kind_name.capitalize()
    if group == "view":
        return (ChangeKind.VIEW_DROPPED if dropped else ChangeKind.VIEW_ADDED), rel.kind_name.capitalize()
    return (ChangeKind.SEQUENCE_DROPPED if dropped else ChangeKind.SEQUENCE_ADDED), "Sequence"


def _kind_change(old: Relation, new: Relation) -> tuple[Verdict, str]:
    if old.is_view and new.is_table:
        return C, "the old version's reads keep working (its columns are compared by name)."
    if old.kind == "v" and new.kind == "m":
        return C, "the old version's reads keep working, but see rows only as fresh as the last REFRESH."
    if old.is_table:
        return B, "the old version's writes to it fail."
    if old.kind == "m":
        return B, "the old version's REFRESH MATERIALIZED VIEW fails."
    return B, "the old version uses it as the former kind."


_INDEX_NAME = re.compile(r'^(CREATE (?:UNIQUE )?INDEX )(?:"(?:[^"]|"")*"|\S+) (ON )')


def _unnamed_index(definition: str) -> str:
    """An index definition without the index's own name (to compare two indexes' rules)."""
    return _INDEX_NAME.sub(r"\1\2", definition, count=1)


def _describe_column(column: Column) -> str:
    parts = [column.type.name]
    if column.not_null:
        parts.append("NOT NULL")
    if column.default is not None:
        parts.append(f"DEFAULT {column.default}")
    if column.identity:
        parts.append("GENERATED " + ("ALWAYS" if column.identity == "a" else "BY DEFAULT") + " AS IDENTITY")
    if column.generated is not None:
        parts.append(f"GENERATED ALWAYS AS ({column.generated}) STORED")
    return " ".join(parts)


def _is_trigger(routine: Routine) -> bool:
    return routine.result in _TRIGGER_RESULTS


def _routine_kind(routine: Routine) -> str:
    return {"p": "Procedure", "a": "Aggregate", "w": "Window function"}.get(routine.kind, "Function")
