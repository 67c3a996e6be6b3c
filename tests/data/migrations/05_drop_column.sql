-- expect: breaking
-- change: breaking column.dropped public.customers.nickname
ALTER TABLE customers DROP COLUMN nickname;
