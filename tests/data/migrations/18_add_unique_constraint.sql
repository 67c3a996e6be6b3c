-- expect: breaking
-- change: breaking constraint.added public.customers.customers_nickname_key
ALTER TABLE customers ADD CONSTRAINT customers_nickname_key UNIQUE (nickname);
