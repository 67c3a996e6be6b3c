-- expect: breaking
-- change: breaking column.default_dropped public.customers.balance
ALTER TABLE customers ALTER COLUMN balance DROP DEFAULT;
