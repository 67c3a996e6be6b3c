-- Narrowing a key column: PostgreSQL rebuilds its primary key (new OIDs, same name and
-- definition), which is therefore not reported.
-- expect: breaking
-- change: breaking column.type_changed billing.invoices.id
ALTER TABLE billing.invoices ALTER COLUMN id TYPE integer;
