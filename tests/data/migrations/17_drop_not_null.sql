-- expect: compatible
-- change: compatible column.not_null_dropped public.orders.total
-- change: compatible column.not_null_dropped public.customers.email
ALTER TABLE orders ALTER COLUMN total DROP NOT NULL;
ALTER TABLE customers ALTER COLUMN email DROP NOT NULL;
