-- expect: compatible
-- change: compatible column.added public.orders.total_cents
ALTER TABLE orders ADD COLUMN total_cents bigint GENERATED ALWAYS AS ((total * 100)::bigint) STORED;
