-- A new column the old version leaves NULL: NULLs never collide in a unique index.
-- expect: compatible
-- change: compatible column.added public.customers.external_id
-- change: compatible index.added public.customers_external_id_key
ALTER TABLE customers ADD COLUMN external_id uuid;
CREATE UNIQUE INDEX customers_external_id_key ON customers (external_id);
