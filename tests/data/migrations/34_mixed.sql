-- expect: breaking
-- change: compatible table.added public.audit_log
-- change: compatible column.added public.orders.shipped_at
-- change: breaking column.dropped public.customers.flags
-- change: compatible index.added public.orders_shipped_at_idx
CREATE TABLE audit_log (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), what text NOT NULL);
ALTER TABLE orders ADD COLUMN shipped_at timestamptz;
CREATE INDEX orders_shipped_at_idx ON orders (shipped_at);
ALTER TABLE customers DROP COLUMN flags;
