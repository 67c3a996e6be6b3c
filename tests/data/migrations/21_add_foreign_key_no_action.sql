-- The new column is left NULL by the old version, but deleting a customer that a new row
-- refers to now fails for it.
-- expect: breaking
-- change: compatible column.added public.customers.referrer_id
-- change: breaking constraint.added public.customers.customers_referrer_fkey
ALTER TABLE customers ADD COLUMN referrer_id bigint;
ALTER TABLE customers ADD CONSTRAINT customers_referrer_fkey FOREIGN KEY (referrer_id) REFERENCES customers (id);
