"""A schema snapshot read from ``pg_catalog`` (never by parsing SQL).

:func:`take_snapshot` reads, in one REPEATABLE READ READ ONLY transaction, everything the
classifier compares, with the OIDs that identify each object across a rename:

* schemas (user schemas: not ``pg_catalog``, ``information_schema``, ``pg_toast*``, ``pg_temp*``,
  and not created by an extension);
* relations — tables (``r``), partitioned tables (``p``), foreign tables (``f``), views (``v``),
  materialized views (``m``) and free-standing sequences (``S``; sequences owned by a serial or
  identity column belong to their column) — with their columns: attnum, name, type (with its
  typmod, the element type of arrays resolved), NOT NULL, default, identity and generation;
* enum types and their values in order, each value with its own OID (``ALTER TYPE ... RENAME
  VALUE`` keeps it);
* indexes (unique, primary, exclusion, partial, NULLS NOT DISTINCT, the columns, the definition);
* constraints: primary key, unique, check, foreign key, exclusion (NOT NULL is a column
  property up to PostgreSQL 17 and is read from the column);
* functions and procedures (identity arguments and result type).

Objects that belong to an extension are left out (they come and go with ``CREATE EXTENSION``,
and are the extension's business). Partitions' own indexes and constraints that are clones of
the parent's are left out too: a change on the parent is reported once.

Before and after snapshots are taken in the same scratch database, so an OID names the same
object in both: a renamed table keeps its OID, a renamed column its attnum.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .server import database_error

if TYPE_CHECKING:
    import psycopg
    from psycopg.rows import TupleRow

__all__ = [
    "Column",
    "Constraint",
    "EnumType",
    "EnumValue",
    "Index",
    "Relation",
    "Routine",
    "Schema",
    "SchemaSnapshot",
    "TypeRef",
    "ident",
    "take_snapshot",
]

_PLAIN_IDENT = re.compile(r"[a-z_][a-z0-9_$]*")

TABLE_KINDS = frozenset({"r", "p", "f"})
VIEW_KINDS = frozenset({"v", "m"})
KIND_NAMES = {
    "r": "table",
    "p": "partitioned table",
    "f": "foreign table",
    "v": "view",
    "m": "materialized view",
    "S": "sequence",
}


def ident(name: str) -> str:
    """``users`` stays, ``Order Items`` becomes ``"Order Items"`` (for display)."""
    if _PLAIN_IDENT.fullmatch(name):
        return name
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class TypeRef:
    """A column's type: the formatted name, and what the classifier compares."""

    oid: int
    name: str  # format_type(oid, typmod): "character varying(20)[]"
    base_oid: int  # the element type for arrays, else oid
    base: str  # pg_catalog types by typname ("varchar", "int4"); others "schema.name"
    array: bool = False
    typmod: int = -1
    base_kind: str = "b"  # pg_type.typtype of the base: b, e (enum), d (domain), c, r, m, p


@dataclass(frozen=True)
class Column:
    attnum: int
    name: str
    type: TypeRef
    not_null: bool = False
    default: str | None = None
    identity: str = ""  # "" | "a" (ALWAYS) | "d" (BY DEFAULT)
    generated: str | None = None  # the generation expression of a GENERATED ... STORED column
    default_key: str | None = None  # the stored expression tree of the default (OIDs, not names)

    @property
    def has_value_source(self) -> bool:
        """Whether an INSERT that leaves the column out still gets a value (not NULL)."""
        return self.default is not None or bool(self.identity) or self.generated is not None


@dataclass(frozen=True)
class Schema:
    oid: int
    name: str


@dataclass(frozen=True)
class Relation:
    oid: int
    schema_oid: int
    schema: str
    name: str
    kind: str  # r p f v m S
    columns: tuple[Column, ...] = ()
    definition: str | None = None  # views: the query; sequences: their parameters
    parent_oid: int | None = None  # the partitioned table a partition belongs to

    @property
    def qualified(self) -> str:
        return f"{ident(self.schema)}.{ident(self.name)}"

    @property
    def kind_name(self) -> str:
        return KIND_NAMES.get(self.kind, "relation")

    @property
    def is_table(self) -> bool:
        return self.kind in TABLE_KINDS

    @property
    def is_view(self) -> bool:
        return self.kind in VIEW_KINDS


@dataclass(frozen=True)
class EnumValue:
    oid: int
    label: str
    sort_order: float


@dataclass(frozen=True)
class EnumType:
    oid: int
    schema_oid: int
    schema: str
    name: str
    values: tuple[EnumValue, ...] = ()

    @property
    def qualified(self) -> str:
        return f"{ident(self.schema)}.{ident(self.name)}"


@dataclass(frozen=True)
class Index:
    oid: int
    schema_oid: int
    schema: str
    name: str
    table_oid: int
    definition: str
    unique: bool = False
    primary: bool = False
    exclusion: bool = False
    nulls_not_distinct: bool = False
    partial: bool = False
    columns: tuple[int, ...] = ()  # attnums; 0 for an expression

    @property
    def qualified(self) -> str:
        return f"{ident(self.schema)}.{ident(self.name)}"


@dataclass(frozen=True)
class Constraint:
    oid: int
    name: str
    table_oid: int
    type: str  # p u c f x
    definition: str
    columns: tuple[int, ...] = ()
    validated: bool = True
    index_oid: int = 0  # the index behind a p/u/x constraint
    referenced_oid: int = 0  # the table a foreign key references


@dataclass(frozen=True)
class Routine:
    oid: int
    schema_oid: int
    schema: str
    name: str
    kind: str  # f function, p procedure, a aggregate, w window
    arguments: str
    result: str | None = None

    @property
    def signature(self) -> str:
        return f"{ident(self.schema)}.{ident(self.name)}({self.arguments})"


@dataclass(frozen=True)
class SchemaSnapshot:
    """Everything the classifier compares, as read from one database at one moment."""

    server_version_num: int = 0
    schemas: tuple[Schema, ...] = ()
    relations: tuple[Relation, ...] = ()
    enums: tuple[EnumType, ...] = ()
    indexes: tuple[Index, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    routines: tuple[Routine, ...] = ()
    _by_oid: dict[int, Relation] = field(default_factory=dict, repr=False, compare=False)

    def relation(self, oid: int) -> Relation | None:
        if not self._by_oid and self.relations:
            self._by_oid.update({r.oid: r for r in self.relations})
        return self._by_oid.get(oid)

    def counts(self) -> dict[str, int]:
        return {
            "tables": sum(1 for r in self.relations if r.is_table),
            "views": sum(1 for r in self.relations if r.is_view),
            "columns": sum(len(r.columns) for r in self.relations),
            "enums": len(self.enums),
            "indexes": len(self.indexes),
            "constraints": len(self.constraints),
            "sequences": sum(1 for r in self.relations if r.kind == "S"),
            "routines": len(self.routines),
        }


# --- reading the catalog -----------------------------------------------------------------------

_USER_SCHEMAS = """
    SELECT n.oid, n.nspname FROM pg_namespace n
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname !~ '^pg_(toast|temp_)'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass
                      AND d.objid = n.oid AND d.deptype = 'e')
"""


def _not_extension_member(catalog: str, alias: str) -> str:
    return (
        f"NOT EXISTS (SELECT 1 FROM pg_depend dep WHERE dep.classid = '{catalog}'::regclass"  # noqa: S608
        f" AND dep.objid = {alias}.oid AND dep.deptype = 'e')"
    )


_RELATIONS = f"""
    WITH ns AS ({_USER_SCHEMAS})
    SELECT c.oid, c.relnamespace, ns.nspname, c.relname, c.relkind::text,
           CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid)
                WHEN c.relkind = 'S' THEN format_type(s.seqtypid, NULL) || ' start ' || s.seqstart
                     || ' increment ' || s.seqincrement || ' min ' || s.seqmin || ' max ' || s.seqmax
                     || ' cache ' || s.seqcache || CASE WHEN s.seqcycle THEN ' cycle' ELSE '' END
           END,
           (SELECT i.inhparent FROM pg_inherits i WHERE i.inhrelid = c.oid AND c.relispartition)
    FROM pg_class c
    JOIN ns ON ns.oid = c.relnamespace
    LEFT JOIN pg_sequence s ON s.seqrelid = c.oid
    WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S')
      AND {_not_extension_member("pg_class", "c")}
      AND NOT (c.relkind = 'S' AND EXISTS (
            SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
              AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i')))
    ORDER BY c.oid
"""  # noqa: S608 - composed of constants only

_COLUMNS = """
    SELECT a.attrelid, a.attnum, a.attname, a.atttypid, format_type(a.atttypid, a.atttypmod),
           bt.oid,
           CASE WHEN btn.nspname = 'pg_catalog' THEN bt.typname::text
                ELSE btn.nspname || '.' || bt.typname END,
           bt.oid <> t.oid, a.atttypmod, bt.typtype::text,
           a.attnotnull,
           CASE WHEN a.attgenerated = '' THEN pg_get_expr(ad.adbin, ad.adrelid) END,
           a.attidentity::text,
           CASE WHEN a.attgenerated <> '' THEN pg_get_expr(ad.adbin, ad.adrelid) END,
           CASE WHEN a.attgenerated = ''
                THEN regexp_replace(ad.adbin::text, ':location -?[0-9]+', '', 'g') END
    FROM pg_attribute a
    JOIN pg_type t ON t.oid = a.atttypid
    JOIN pg_type bt ON bt.oid = CASE WHEN t.typcategory = 'A' AND t.typelem <> 0 AND t.typlen = -1
                                     THEN t.typelem ELSE t.oid END
    JOIN pg_namespace btn ON btn.oid = bt.typnamespace
    LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
    WHERE a.attrelid = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY a.attrelid, a.attnum
"""

_ENUMS = f"""
    WITH ns AS ({_USER_SCHEMAS})
    SELECT t.oid, t.typnamespace, ns.nspname, t.typname, e.oid, e.enumlabel, e.enumsortorder
    FROM pg_type t
    JOIN ns ON ns.oid = t.typnamespace
    LEFT JOIN pg_enum e ON e.enumtypid = t.oid
    WHERE t.typtype = 'e' AND {_not_extension_member("pg_type", "t")}
    ORDER BY t.oid, e.enumsortorder
"""  # noqa: S608 - composed of constants only

_INDEXES = """
    SELECT i.indexrelid, ic.relnamespace, n.nspname, ic.relname, i.indrelid, pg_get_indexdef(i.indexrelid),
           i.indisunique, i.indisprimary, i.indisexclusion, {nulls_not_distinct}, i.indpred IS NOT NULL,
           i.indkey::int2[]
    FROM pg_index i
    JOIN pg_class ic ON ic.oid = i.indexrelid
    JOIN pg_namespace n ON n.oid = ic.relnamespace
    WHERE i.indrelid = ANY(%s) AND NOT ic.relispartition
    ORDER BY i.indexrelid
"""

_CONSTRAINTS = """
    SELECT co.oid, co.conname, co.conrelid, co.contype::text, pg_get_constraintdef(co.oid),
           co.conkey, co.convalidated, co.conindid, co.confrelid
    FROM pg_constraint co
    WHERE co.conrelid = ANY(%s) AND co.contype IN ('p', 'u', 'c', 'f', 'x')
      AND co.conislocal AND co.conparentid = 0
    ORDER BY co.oid
"""

_ROUTINES = f"""
    WITH ns AS ({_USER_SCHEMAS})
    SELECT p.oid, p.pronamespace, ns.nspname, p.proname, p.prokind::text,
           pg_get_function_identity_arguments(p.oid),
           CASE WHEN p.prokind <> 'p' THEN pg_get_function_result(p.oid) END
    FROM pg_proc p
    JOIN ns ON ns.oid = p.pronamespace
    WHERE {_not_extension_member("pg_proc", "p")}
    ORDER BY p.oid
"""  # noqa: S608 - composed of constants only


def take_snapshot(conn: psycopg.Connection[TupleRow]) -> SchemaSnapshot:
    """Read the schema of the database ``conn`` is connected to (an autocommit connection)."""
    import psycopg

    try:
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return _read(conn)
    except psycopg.Error as exc:
        raise database_error(exc, "reading the schema from pg_catalog") from exc


def _read(conn: psycopg.Connection[TupleRow]) -> SchemaSnapshot:
    version_num = int(str(_scalar(conn, "SELECT current_setting('server_version_num')")))
    schemas = tuple(Schema(int(oid), str(name)) for oid, name in conn.execute(_USER_SCHEMAS + " ORDER BY 1"))

    rel_rows = conn.execute(_RELATIONS).fetchall()
    rel_oids = [int(row[0]) for row in rel_rows]
    columns: dict[int, list[Column]] = {}
    for row in conn.execute(_COLUMNS, (rel_oids,)):
        (relid, attnum, attname, typid, typname, base_oid, base, is_array, typmod, base_kind) = row[:10]
        (not_null, default, identity, generated, default_key) = row[10:]
        columns.setdefault(int(relid), []).append(
            Column(
                attnum=int(attnum),
                name=str(attname),
                type=TypeRef(
                    oid=int(typid),
                    name=str(typname),
                    base_oid=int(base_oid),
                    base=str(base),
                    array=bool(is_array),
                    typmod=int(typmod),
                    base_kind=str(base_kind),
                ),
                not_null=bool(not_null),
                default=None if default is None else str(default),
                identity=str(identity or ""),
                generated=None if generated is None else str(generated),
                default_key=None if default_key is None else str(default_key),
            )
        )
    relations = tuple(
        Relation(
            oid=int(oid),
            schema_oid=int(nsp),
            schema=str(nspname),
            name=str(relname),
            kind=str(kind),
            columns=tuple(columns.get(int(oid), ())),
            definition=None if definition is None else str(definition),
            parent_oid=None if parent is None else int(parent),
        )
        for oid, nsp, nspname, relname, kind, definition, parent in rel_rows
    )

    enums: dict[int, tuple[int, str, str, list[EnumValue]]] = {}
    for oid, nsp, nspname, typname, value_oid, label, order in conn.execute(_ENUMS):
        entry = enums.setdefault(int(oid), (int(nsp), str(nspname), str(typname), []))
        if value_oid is not None:
            entry[3].append(EnumValue(int(value_oid), str(label), float(order)))
    enum_types = tuple(
        EnumType(oid, nsp, nspname, typname, tuple(values))
        for oid, (nsp, nspname, typname, values) in enums.items()
    )

    nnd = "i.indnullsnotdistinct" if version_num >= 150000 else "false"
    indexes = tuple(
        Index(
            oid=int(row[0]),
            schema_oid=int(row[1]),
            schema=str(row[2]),
            name=str(row[3]),
            table_oid=int(row[4]),
            definition=str(row[5]),
            unique=bool(row[6]),
            primary=bool(row[7]),
            exclusion=bool(row[8]),
            nulls_not_distinct=bool(row[9]),
            partial=bool(row[10]),
            columns=tuple(int(n) for n in (row[11] or ())),
        )
        for row in conn.execute(_INDEXES.format(nulls_not_distinct=nnd), (rel_oids,))
    )
    constraints = tuple(
        Constraint(
            oid=int(row[0]),
            name=str(row[1]),
            table_oid=int(row[2]),
            type=str(row[3]),
            definition=str(row[4]),
            columns=tuple(int(n) for n in (row[5] or ())),
            validated=bool(row[6]),
            index_oid=int(row[7] or 0),
            referenced_oid=int(row[8] or 0),
        )
        for row in conn.execute(_CONSTRAINTS, (rel_oids,))
    )
    routines = tuple(
        Routine(
            oid=int(row[0]),
            schema_oid=int(row[1]),
            schema=str(row[2]),
            name=str(row[3]),
            kind=str(row[4]),
            arguments=str(row[5] or ""),
            result=None if row[6] is None else str(row[6]),
        )
        for row in conn.execute(_ROUTINES)
    )
    return SchemaSnapshot(
        server_version_num=version_num,
        schemas=schemas,
        relations=relations,
        enums=enum_types,
        indexes=indexes,
        constraints=constraints,
        routines=routines,
    )


def _scalar(conn: psycopg.Connection[TupleRow], query: str) -> Any:
    row = conn.execute(query).fetchone()
    return None if row is None else row[0]
