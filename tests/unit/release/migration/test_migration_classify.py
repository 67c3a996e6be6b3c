"""The classifier on hand-made snapshot pairs: every rule, breaking and compatible, and the
matching by OID (renames) and by name (drop and create again)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from shipflow.release.migration import Change, ChangeKind, Verdict, classify
from shipflow.release.migration.snapshot import (
    Column,
    Constraint,
    EnumType,
    EnumValue,
    Index,
    Relation,
    Routine,
    Schema,
    SchemaSnapshot,
    TypeRef,
)

B = Verdict.BREAKING
C = Verdict.COMPATIBLE

INT4 = TypeRef(23, "integer", 23, "int4")
INT8 = TypeRef(20, "bigint", 20, "int8")
INT2 = TypeRef(21, "smallint", 21, "int2")
TEXT = TypeRef(25, "text", 25, "text")
NUMERIC = TypeRef(1700, "numeric", 1700, "numeric")
MOOD = TypeRef(90001, "mood", 90001, "public.mood", base_kind="e")


def varchar(n: int | None) -> TypeRef:
    return TypeRef(
        1043,
        f"character varying({n})" if n else "character varying",
        1043,
        "varchar",
        typmod=n + 4 if n else -1,
    )


def varchar_array(n: int) -> TypeRef:
    return TypeRef(1015, f"character varying({n})[]", 1043, "varchar", array=True, typmod=n + 4)


def numeric(p: int, s: int) -> TypeRef:
    return TypeRef(1700, f"numeric({p},{s})", 1700, "numeric", typmod=((p << 16) | s) + 4)


PUBLIC = Schema(2200, "public")


def col(attnum: int, name: str, type_: TypeRef = INT4, **kw: Any) -> Column:
    return Column(attnum, name, type_, **kw)


def table(
    oid: int, name: str, *columns: Column, schema: Schema = PUBLIC, kind: str = "r", **kw: Any
) -> Relation:
    return Relation(oid, schema.oid, schema.name, name, kind, tuple(columns), **kw)


USERS = table(
    1000,
    "users",
    col(1, "id", INT8, not_null=True, identity="d"),
    col(2, "email", varchar(100), not_null=True),
    col(3, "name", TEXT),
    col(4, "score", INT4),
    col(5, "balance", numeric(10, 2), not_null=True, default="0"),
)
USERS_PKEY_INDEX = Index(
    1001,
    2200,
    "public",
    "users_pkey",
    1000,
    "CREATE UNIQUE INDEX users_pkey ...",
    unique=True,
    primary=True,
    columns=(1,),
)
USERS_PKEY = Constraint(1002, "users_pkey", 1000, "p", "PRIMARY KEY (id)", columns=(1,), index_oid=1001)


def snap(*relations: Relation, **kw: Any) -> SchemaSnapshot:
    kw.setdefault("schemas", (PUBLIC,))
    return SchemaSnapshot(server_version_num=150000, relations=tuple(relations), **kw)


def base(**kw: Any) -> SchemaSnapshot:
    kw.setdefault("indexes", (USERS_PKEY_INDEX,))
    kw.setdefault("constraints", (USERS_PKEY,))
    return snap(USERS, **kw)


def with_users(*columns: Column, **kw: Any) -> SchemaSnapshot:
    """The base snapshot with the users table's columns replaced."""
    return (
        base(**kw)
        if not columns
        else dataclasses.replace(base(**kw), relations=(dataclasses.replace(USERS, columns=columns),))
    )


def found(changes: tuple[Change, ...]) -> set[tuple[Verdict, ChangeKind, str]]:
    return {(c.verdict, c.kind, c.object) for c in changes}


def only(changes: tuple[Change, ...]) -> Change:
    assert len(changes) == 1, [c.to_json() for c in changes]
    return changes[0]


def test_identical_snapshots_have_no_changes() -> None:
    assert classify(base(), base()) == ()


# --- tables ----------------------------------------------------------------------------------


def test_new_table_is_compatible_and_its_parts_are_not_listed() -> None:
    audit = table(2000, "audit", col(1, "id", INT8, not_null=True), col(2, "what", TEXT, not_null=True))
    after = dataclasses.replace(
        base(),
        relations=(USERS, audit),
        indexes=(
            USERS_PKEY_INDEX,
            Index(2001, 2200, "public", "audit_pkey", 2000, "...", unique=True, columns=(1,)),
        ),
        constraints=(
            USERS_PKEY,
            Constraint(2002, "audit_pkey", 2000, "p", "PRIMARY KEY (id)", columns=(1,), index_oid=2001),
        ),
    )
    change = only(classify(base(), after))
    assert (change.verdict, change.kind, change.object) == (C, ChangeKind.TABLE_ADDED, "public.audit")


def test_dropped_table_is_breaking_and_reported_once() -> None:
    change = only(classify(base(), snap()))
    assert (change.verdict, change.kind, change.object) == (B, ChangeKind.TABLE_DROPPED, "public.users")
    assert "fail" in change.reason


def test_renamed_table_is_breaking_and_its_column_changes_still_count() -> None:
    renamed = dataclasses.replace(USERS, name="accounts", columns=(*USERS.columns, col(6, "nick", TEXT)))
    changes = classify(base(), dataclasses.replace(base(), relations=(renamed,)))
    assert found(changes) == {
        (B, ChangeKind.TABLE_RENAMED, "public.accounts"),
        (C, ChangeKind.COLUMN_ADDED, "public.accounts.nick"),
    }
    assert changes[0].before == "public.users"


def test_table_moved_to_another_schema_is_breaking() -> None:
    archive = Schema(3000, "archive")
    moved = dataclasses.replace(USERS, schema_oid=3000, schema="archive")
    after = dataclasses.replace(base(), relations=(moved,), schemas=(PUBLIC, archive))
    changes = classify(base(), after)
    assert found(changes) == {
        (B, ChangeKind.TABLE_RENAMED, "archive.users"),
        (C, ChangeKind.SCHEMA_ADDED, "archive"),
    }
    assert "moved to schema archive" in next(c for c in changes if c.breaking).reason


def test_renamed_schema_is_one_breaking_change() -> None:
    app = Schema(3000, "app")
    users = dataclasses.replace(USERS, schema_oid=3000, schema="app")
    before = dataclasses.replace(base(), schemas=(PUBLIC, app), relations=(users,))
    after = dataclasses.replace(
        before,
        schemas=(PUBLIC, Schema(3000, "application")),
        relations=(dataclasses.replace(users, schema="application"),),
    )
    assert found(classify(before, after)) == {(B, ChangeKind.SCHEMA_RENAMED, "application")}


def test_table_dropped_and_created_again_is_compared_by_column_name() -> None:
    recreated = table(
        5000,
        "users",
        col(1, "id", INT8, not_null=True, identity="d"),
        col(2, "email", varchar(200), not_null=True),
        col(3, "name", TEXT),
        col(4, "score", INT8),
    )
    after = snap(recreated)
    changes = classify(base(), after)
    assert found(changes) == {
        (C, ChangeKind.TABLE_RECREATED, "public.users"),
        (C, ChangeKind.COLUMN_TYPE_CHANGED, "public.users.email"),
        (C, ChangeKind.COLUMN_TYPE_CHANGED, "public.users.score"),
        (B, ChangeKind.COLUMN_DROPPED, "public.users.balance"),
        (C, ChangeKind.CONSTRAINT_DROPPED, "public.users.users_pkey"),  # the new table has no key
    }


def test_table_replaced_by_a_view_is_breaking() -> None:
    view = table(5000, "users", *USERS.columns, kind="v", definition="SELECT ...")
    changes = classify(base(), snap(view))
    assert (B, ChangeKind.RELATION_KIND_CHANGED, "public.users") in found(changes)


def test_view_replaced_by_a_table_is_compatible() -> None:
    view = table(5000, "report", col(1, "n", INT8), kind="v", definition="SELECT 1")
    as_table = table(5001, "report", col(1, "n", INT8))
    assert found(classify(snap(view), snap(as_table))) == {
        (C, ChangeKind.RELATION_KIND_CHANGED, "public.report")
    }


# --- columns ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "verdict"),
    [
        (col(6, "nick", TEXT), C),
        (col(6, "nick", TEXT, not_null=True), B),
        (col(6, "nick", TEXT, not_null=True, default="''::text"), C),
        (col(6, "seq", INT8, not_null=True, identity="a"), C),
        (col(6, "twice", INT8, generated="score * 2"), C),
    ],
    ids=["nullable", "not-null-without-default", "not-null-with-default", "identity", "generated"],
)
def test_new_column(column: Column, verdict: Verdict) -> None:
    change = only(classify(base(), with_users(*USERS.columns, column)))
    assert (change.kind, change.verdict) == (ChangeKind.COLUMN_ADDED, verdict)


def test_dropped_column_is_breaking() -> None:
    change = only(classify(base(), with_users(*USERS.columns[:3], USERS.columns[4])))
    assert (change.verdict, change.kind, change.object) == (
        B,
        ChangeKind.COLUMN_DROPPED,
        "public.users.score",
    )


def test_renamed_column_is_recognised_by_attnum() -> None:
    renamed = dataclasses.replace(USERS.columns[2], name="full_name")
    change = only(classify(base(), with_users(*USERS.columns[:2], renamed, *USERS.columns[3:])))
    assert (change.verdict, change.kind, change.before, change.after) == (
        B,
        ChangeKind.COLUMN_RENAMED,
        "name",
        "full_name",
    )


def test_rename_done_as_drop_and_add_is_a_drop_and_an_add() -> None:
    added = col(6, "full_name", TEXT)
    changes = classify(base(), with_users(*USERS.columns[:2], *USERS.columns[3:], added))
    assert found(changes) == {
        (B, ChangeKind.COLUMN_DROPPED, "public.users.name"),
        (C, ChangeKind.COLUMN_ADDED, "public.users.full_name"),
    }


def test_column_dropped_and_added_again_under_its_name() -> None:
    again = col(6, "name", varchar(10))
    changes = classify(base(), with_users(*USERS.columns[:2], *USERS.columns[3:], again))
    assert found(changes) == {
        (C, ChangeKind.COLUMN_RECREATED, "public.users.name"),
        (B, ChangeKind.COLUMN_TYPE_CHANGED, "public.users.name"),
    }


@pytest.mark.parametrize(
    ("old", "new", "verdict"),
    [
        (varchar(100), varchar(200), C),
        (varchar(100), varchar(50), B),
        (varchar(100), varchar(None), C),
        (varchar(100), TEXT, C),
        (TEXT, varchar(50), B),
        (INT4, INT8, C),
        (INT2, INT4, C),
        (INT8, INT4, B),
        (INT4, NUMERIC, B),
        (numeric(10, 2), numeric(14, 2), C),
        (numeric(10, 2), numeric(8, 2), B),
        (numeric(10, 2), numeric(12, 4), B),
        (numeric(10, 2), NUMERIC, C),
        (varchar_array(20), varchar_array(40), C),
        (varchar_array(20), varchar(40), B),
        (INT4, TEXT, B),
    ],
)
def test_column_type_changes(old: TypeRef, new: TypeRef, verdict: Verdict) -> None:
    before = with_users(*USERS.columns[:3], dataclasses.replace(USERS.columns[3], type=old), USERS.columns[4])
    after = with_users(*USERS.columns[:3], dataclasses.replace(USERS.columns[3], type=new), USERS.columns[4])
    change = only(classify(before, after))
    assert (change.kind, change.verdict, change.before, change.after) == (
        ChangeKind.COLUMN_TYPE_CHANGED,
        verdict,
        old.name,
        new.name,
    )
    if verdict is B and "narrowed" in change.reason:
        assert "no longer fit" in change.reason


def test_not_null_added_is_breaking_and_dropped_is_compatible() -> None:
    strict = dataclasses.replace(USERS.columns[2], not_null=True)
    loose = dataclasses.replace(USERS.columns[1], not_null=False)
    changes = classify(base(), with_users(USERS.columns[0], loose, strict, *USERS.columns[3:]))
    assert found(changes) == {
        (B, ChangeKind.COLUMN_NOT_NULL_ADDED, "public.users.name"),
        (C, ChangeKind.COLUMN_NOT_NULL_DROPPED, "public.users.email"),
    }


def test_defaults() -> None:
    balance = USERS.columns[4]
    dropped_on_not_null = only(
        classify(base(), with_users(*USERS.columns[:4], dataclasses.replace(balance, default=None)))
    )
    assert (dropped_on_not_null.kind, dropped_on_not_null.verdict) == (ChangeKind.COLUMN_DEFAULT_DROPPED, B)
    nullable = dataclasses.replace(balance, not_null=False)
    dropped_on_nullable = only(
        classify(
            with_users(*USERS.columns[:4], nullable),
            with_users(*USERS.columns[:4], dataclasses.replace(nullable, default=None)),
        )
    )
    assert (dropped_on_nullable.kind, dropped_on_nullable.verdict) == (ChangeKind.COLUMN_DEFAULT_DROPPED, C)
    changed = only(
        classify(base(), with_users(*USERS.columns[:4], dataclasses.replace(balance, default="1")))
    )
    assert (changed.kind, changed.verdict) == (ChangeKind.COLUMN_DEFAULT_CHANGED, C)
    added = only(
        classify(
            base(),
            with_users(
                USERS.columns[0],
                USERS.columns[1],
                dataclasses.replace(USERS.columns[2], default="'x'"),
                *USERS.columns[3:],
            ),
        )
    )
    assert (added.kind, added.verdict) == (ChangeKind.COLUMN_DEFAULT_ADDED, C)


@pytest.mark.parametrize(
    ("old", "new", "verdict"), [("d", "a", B), ("a", "d", C), ("", "a", B), ("", "d", C), ("d", "", B)]
)
def test_identity_changes(old: str, new: str, verdict: Verdict) -> None:
    column = col(1, "id", INT8, not_null=True, identity=old)
    after = dataclasses.replace(column, identity=new)
    change = only(classify(with_users(column, *USERS.columns[1:]), with_users(after, *USERS.columns[1:])))
    assert (change.kind, change.verdict) == (ChangeKind.COLUMN_IDENTITY_CHANGED, verdict)


# --- enums -----------------------------------------------------------------------------------

MOOD_TYPE = EnumType(
    90001,
    2200,
    "public",
    "mood",
    (EnumValue(1, "sad", 1.0), EnumValue(2, "ok", 2.0), EnumValue(3, "happy", 3.0)),
)
PEOPLE = table(7000, "people", col(1, "id", INT4), col(2, "mood", MOOD))


def test_enum_value_added_is_compatible() -> None:
    after = dataclasses.replace(MOOD_TYPE, values=(*MOOD_TYPE.values, EnumValue(4, "ecstatic", 4.0)))
    change = only(classify(snap(PEOPLE, enums=(MOOD_TYPE,)), snap(PEOPLE, enums=(after,))))
    assert (change.verdict, change.kind, change.object) == (
        C,
        ChangeKind.ENUM_VALUE_ADDED,
        "public.mood.ecstatic",
    )


def test_enum_value_renamed_keeps_its_oid_and_is_breaking() -> None:
    after = dataclasses.replace(
        MOOD_TYPE, values=(MOOD_TYPE.values[0], EnumValue(2, "fine", 2.0), MOOD_TYPE.values[2])
    )
    change = only(classify(snap(PEOPLE, enums=(MOOD_TYPE,)), snap(PEOPLE, enums=(after,))))
    assert (change.verdict, change.kind, change.before, change.after) == (
        B,
        ChangeKind.ENUM_VALUE_RENAMED,
        "ok",
        "fine",
    )


def test_enum_dropped_by_recreate_is_compared_by_label_and_columns_keep_their_type() -> None:
    recreated = EnumType(
        90500, 2200, "public", "mood", (EnumValue(11, "sad", 1.0), EnumValue(13, "happy", 2.0))
    )
    people = dataclasses.replace(
        PEOPLE,
        columns=(
            PEOPLE.columns[0],
            col(2, "mood", TypeRef(90500, "mood", 90500, "public.mood", base_kind="e")),
        ),
    )
    changes = classify(snap(PEOPLE, enums=(MOOD_TYPE,)), snap(people, enums=(recreated,)))
    assert found(changes) == {
        (C, ChangeKind.ENUM_RECREATED, "public.mood"),
        (B, ChangeKind.ENUM_VALUE_DROPPED, "public.mood.ok"),
    }


def test_enum_values_reordered_is_breaking() -> None:
    recreated = EnumType(
        90500,
        2200,
        "public",
        "mood",
        (EnumValue(11, "happy", 1.0), EnumValue(12, "ok", 2.0), EnumValue(13, "sad", 3.0)),
    )
    changes = classify(snap(enums=(MOOD_TYPE,)), snap(enums=(recreated,)))
    assert (B, ChangeKind.ENUM_VALUES_REORDERED, "public.mood") in found(changes)


def test_enum_type_renamed_is_breaking_and_columns_are_unchanged() -> None:
    renamed = dataclasses.replace(MOOD_TYPE, name="feeling")
    people = dataclasses.replace(
        PEOPLE,
        columns=(
            PEOPLE.columns[0],
            col(2, "mood", dataclasses.replace(MOOD, name="feeling", base="public.feeling")),
        ),
    )
    change = only(classify(snap(PEOPLE, enums=(MOOD_TYPE,)), snap(people, enums=(renamed,))))
    assert (change.verdict, change.kind) == (B, ChangeKind.ENUM_RENAMED)


def test_enum_added_and_dropped() -> None:
    assert found(classify(snap(), snap(enums=(MOOD_TYPE,)))) == {(C, ChangeKind.ENUM_ADDED, "public.mood")}
    assert found(classify(snap(enums=(MOOD_TYPE,)), snap())) == {(B, ChangeKind.ENUM_DROPPED, "public.mood")}


# --- constraints and indexes -----------------------------------------------------------------


def constraint(
    oid: int, name: str, type_: str, definition: str, columns: tuple[int, ...], **kw: Any
) -> Constraint:
    return Constraint(oid, name, 1000, type_, definition, columns=columns, **kw)


def test_new_unique_constraint_on_existing_column_is_breaking() -> None:
    unique = constraint(8000, "users_email_key", "u", "UNIQUE (email)", (2,), index_oid=8001)
    index = Index(
        8001, 2200, "public", "users_email_key", 1000, "CREATE UNIQUE INDEX ...", unique=True, columns=(2,)
    )
    after = base(constraints=(USERS_PKEY, unique), indexes=(USERS_PKEY_INDEX, index))
    change = only(classify(base(), after))  # the backing index is not reported on its own
    assert (change.verdict, change.kind, change.object) == (
        B,
        ChangeKind.CONSTRAINT_ADDED,
        "public.users.users_email_key",
    )


def test_check_added_not_valid_is_still_breaking() -> None:
    check = constraint(8000, "score_positive", "c", "CHECK ((score > 0)) NOT VALID", (4,), validated=False)
    change = only(classify(base(), base(constraints=(USERS_PKEY, check))))
    assert change.verdict is B
    assert "NOT VALID only skips the rows already there" in change.reason


def test_validating_a_constraint_is_compatible() -> None:
    check = constraint(8000, "score_positive", "c", "CHECK ((score > 0)) NOT VALID", (4,), validated=False)
    valid = dataclasses.replace(check, validated=True, definition="CHECK ((score > 0))")
    change = only(classify(base(constraints=(USERS_PKEY, check)), base(constraints=(USERS_PKEY, valid))))
    assert (change.verdict, change.kind) == (C, ChangeKind.CONSTRAINT_VALIDATED)


def test_dropped_constraint_is_compatible() -> None:
    check = constraint(8000, "score_positive", "c", "CHECK ((score > 0))", (4,))
    change = only(classify(base(constraints=(USERS_PKEY, check)), base()))
    assert (change.verdict, change.kind) == (C, ChangeKind.CONSTRAINT_DROPPED)


def test_foreign_key_on_existing_column_is_breaking() -> None:
    fk = constraint(
        8000, "users_score_fkey", "f", "FOREIGN KEY (score) REFERENCES scores(id)", (4,), referenced_oid=9999
    )
    assert only(classify(base(), base(constraints=(USERS_PKEY, fk)))).verdict is B


def test_unique_rule_on_a_new_nullable_column_is_compatible_unless_nulls_not_distinct() -> None:
    added = (*USERS.columns, col(6, "handle", TEXT))
    unique = constraint(8000, "users_handle_key", "u", "UNIQUE (handle)", (6,), index_oid=8001)
    index = Index(8001, 2200, "public", "users_handle_key", 1000, "...", unique=True, columns=(6,))
    after = with_users(*added, constraints=(USERS_PKEY, unique), indexes=(USERS_PKEY_INDEX, index))
    assert found(classify(base(), after)) == {
        (C, ChangeKind.COLUMN_ADDED, "public.users.handle"),
        (C, ChangeKind.CONSTRAINT_ADDED, "public.users.users_handle_key"),
    }
    strict = dataclasses.replace(unique, definition="UNIQUE NULLS NOT DISTINCT (handle)")
    after = with_users(
        *added,
        constraints=(USERS_PKEY, strict),
        indexes=(USERS_PKEY_INDEX, dataclasses.replace(index, nulls_not_distinct=True)),
    )
    assert (B, ChangeKind.CONSTRAINT_ADDED, "public.users.users_handle_key") in found(classify(base(), after))


def test_unique_rule_on_a_new_column_with_a_default_is_breaking() -> None:
    added = (*USERS.columns, col(6, "code", INT4, default="0"))
    index = Index(8001, 2200, "public", "users_code_idx", 1000, "...", unique=True, columns=(6,))
    after = with_users(*added, indexes=(USERS_PKEY_INDEX, index))
    assert (B, ChangeKind.INDEX_ADDED, "public.users_code_idx") in found(classify(base(), after))


def test_primary_key_using_an_existing_unique_index_is_compatible() -> None:
    no_pk_before = base(
        constraints=(), indexes=(dataclasses.replace(USERS_PKEY_INDEX, name="users_id_idx", primary=False),)
    )
    after = base(constraints=(USERS_PKEY,), indexes=(USERS_PKEY_INDEX,))
    change = only(classify(no_pk_before, after))
    assert (change.verdict, change.kind) == (C, ChangeKind.CONSTRAINT_ADDED)
    assert "already applied before" in change.reason


def test_foreign_key_on_a_new_nullable_column() -> None:
    added = (*USERS.columns, col(6, "team_id", INT8))
    cascade = constraint(
        8000, "users_team_fkey", "f", "FOREIGN KEY (team_id) REFERENCES teams(id) ON DELETE SET NULL", (6,)
    )
    no_action = dataclasses.replace(cascade, definition="FOREIGN KEY (team_id) REFERENCES teams(id)")
    assert (C, ChangeKind.CONSTRAINT_ADDED, "public.users.users_team_fkey") in found(
        classify(base(), with_users(*added, constraints=(USERS_PKEY, cascade)))
    )
    assert (B, ChangeKind.CONSTRAINT_ADDED, "public.users.users_team_fkey") in found(
        classify(base(), with_users(*added, constraints=(USERS_PKEY, no_action)))
    )


def test_constraint_redefined_under_the_same_name_is_judged_as_new() -> None:
    check = constraint(8000, "score_range", "c", "CHECK ((score > 0))", (4,))
    tighter = dataclasses.replace(check, oid=8100, definition="CHECK ((score > 10))")
    change = only(classify(base(constraints=(USERS_PKEY, check)), base(constraints=(USERS_PKEY, tighter))))
    assert (change.verdict, change.kind, change.before) == (
        B,
        ChangeKind.CONSTRAINT_CHANGED,
        "CHECK ((score > 0))",
    )
    same = dataclasses.replace(check, oid=8100)
    assert classify(base(constraints=(USERS_PKEY, check)), base(constraints=(USERS_PKEY, same))) == ()


def test_renamed_constraint_and_index_are_compatible() -> None:
    renamed = dataclasses.replace(USERS_PKEY, name="users_pk")
    index = dataclasses.replace(USERS_PKEY_INDEX, name="users_pk")
    change = only(classify(base(), base(constraints=(renamed,), indexes=(index,))))
    assert (change.verdict, change.kind) == (C, ChangeKind.CONSTRAINT_RENAMED)
    plain = Index(8001, 2200, "public", "users_name_idx", 1000, "CREATE INDEX ...", columns=(3,))
    change = only(
        classify(
            base(indexes=(USERS_PKEY_INDEX, plain)),
            base(indexes=(USERS_PKEY_INDEX, dataclasses.replace(plain, name="users_by_name"))),
        )
    )
    assert (change.verdict, change.kind) == (C, ChangeKind.INDEX_RENAMED)


def test_indexes() -> None:
    plain = Index(8001, 2200, "public", "users_name_idx", 1000, "CREATE INDEX ...", columns=(3,))
    unique = Index(
        8002, 2200, "public", "users_name_key", 1000, "CREATE UNIQUE INDEX ...", unique=True, columns=(3,)
    )
    assert found(classify(base(), base(indexes=(USERS_PKEY_INDEX, plain)))) == {
        (C, ChangeKind.INDEX_ADDED, "public.users_name_idx")
    }
    assert found(classify(base(), base(indexes=(USERS_PKEY_INDEX, unique)))) == {
        (B, ChangeKind.INDEX_ADDED, "public.users_name_key")
    }
    assert found(classify(base(indexes=(USERS_PKEY_INDEX, unique)), base())) == {
        (C, ChangeKind.INDEX_DROPPED, "public.users_name_key")
    }


# --- views, sequences, partitions, routines --------------------------------------------------


def test_views() -> None:
    view = table(
        6000,
        "user_names",
        col(1, "id", INT8),
        col(2, "name", TEXT),
        kind="v",
        definition="SELECT id, name FROM users",
    )
    wider = dataclasses.replace(
        view,
        columns=(*view.columns, col(3, "email", varchar(100))),
        definition="SELECT id, name, email FROM users",
    )
    assert found(classify(snap(view), snap(wider))) == {
        (C, ChangeKind.VIEW_DEFINITION_CHANGED, "public.user_names"),
        (C, ChangeKind.COLUMN_ADDED, "public.user_names.email"),
    }
    narrower = table(6100, "user_names", col(1, "id", INT8), kind="v", definition="SELECT id FROM users")
    assert found(classify(snap(view), snap(narrower))) == {
        (C, ChangeKind.VIEW_RECREATED, "public.user_names"),
        (B, ChangeKind.COLUMN_DROPPED, "public.user_names.name"),
    }
    assert found(classify(snap(view), snap())) == {(B, ChangeKind.VIEW_DROPPED, "public.user_names")}
    matview = dataclasses.replace(view, oid=6200, kind="m")
    assert found(classify(snap(matview), snap(view))) == {
        (B, ChangeKind.RELATION_KIND_CHANGED, "public.user_names")
    }


def test_sequences() -> None:
    seq = table(6500, "invoice_numbers", kind="S", definition="bigint start 1 increment 1")
    assert found(classify(snap(seq), snap())) == {(B, ChangeKind.SEQUENCE_DROPPED, "public.invoice_numbers")}
    changed = dataclasses.replace(seq, definition="bigint start 1 increment 10")
    assert found(classify(snap(seq), snap(changed))) == {
        (C, ChangeKind.SEQUENCE_CHANGED, "public.invoice_numbers")
    }


def test_partitions() -> None:
    parent = table(6600, "events", col(1, "id", INT8), col(2, "day", TEXT), kind="p")
    part = table(6601, "events_a", col(1, "id", INT8), col(2, "day", TEXT), parent_oid=6600)
    detached = dataclasses.replace(part, parent_oid=None)
    assert found(classify(snap(parent, part), snap(parent, detached))) == {
        (B, ChangeKind.PARTITION_DETACHED, "public.events_a")
    }
    assert found(classify(snap(parent, detached), snap(parent, part))) == {
        (C, ChangeKind.PARTITION_ATTACHED, "public.events_a")
    }
    assert found(classify(snap(parent), snap(parent, part))) == {
        (C, ChangeKind.TABLE_ADDED, "public.events_a")
    }
    # A column added to the parent propagates to the partitions: reported once, on the parent.
    wider = [dataclasses.replace(r, columns=(*r.columns, col(3, "extra", TEXT))) for r in (parent, part)]
    assert found(classify(snap(parent, part), snap(*wider))) == {
        (C, ChangeKind.COLUMN_ADDED, "public.events.extra")
    }


def test_routines() -> None:
    fn = Routine(9100, 2200, "public", "order_total", "f", "p_order integer", "numeric")
    trigger = Routine(9200, 2200, "public", "touch", "f", "", "trigger")
    before = snap(routines=(fn, trigger))
    assert found(classify(before, snap())) == {
        (B, ChangeKind.ROUTINE_DROPPED, "public.order_total(p_order integer)"),
        (C, ChangeKind.ROUTINE_DROPPED, "public.touch()"),
    }
    renamed = dataclasses.replace(fn, name="order_sum")
    assert found(classify(before, snap(routines=(renamed, trigger)))) == {
        (B, ChangeKind.ROUTINE_RENAMED, "public.order_sum(p_order integer)")
    }
    returns_text = dataclasses.replace(fn, oid=9300, result="text")
    assert found(classify(before, snap(routines=(returns_text, trigger)))) == {
        (B, ChangeKind.ROUTINE_CHANGED, "public.order_total(p_order integer)")
    }
    extra = Routine(9400, 2200, "public", "order_total", "f", "p_order integer, p_tax boolean", "numeric")
    assert found(classify(before, snap(routines=(fn, trigger, extra)))) == {
        (C, ChangeKind.ROUTINE_ADDED, "public.order_total(p_order integer, p_tax boolean)")
    }


# --- output ----------------------------------------------------------------------------------


def test_breaking_changes_come_first_and_json_round_trips() -> None:
    after = with_users(
        *USERS.columns[:3], USERS.columns[4], col(6, "nick", TEXT), col(7, "zz", TEXT, not_null=True)
    )
    changes = classify(base(), after)
    assert [c.verdict for c in changes] == [B, B, C]
    assert [c.object for c in changes[:2]] == ["public.users.score", "public.users.zz"]
    for change in changes:
        assert Change.from_json(change.to_json()) == change
        assert change.reason.endswith(".")


def test_quoted_identifiers_in_objects() -> None:
    odd = table(9900, "Order Items", col(1, "Qty", INT4))
    assert found(classify(snap(), snap(odd))) == {(C, ChangeKind.TABLE_ADDED, 'public."Order Items"')}
