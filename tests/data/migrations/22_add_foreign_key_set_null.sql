-- New nullable column, and deleting a referenced row sets it NULL: the old version never fails.
-- expect: compatible
-- change: compatible column.added public.customers.referrer_id
-- change: compatible constraint.added public.customers.customers_referrer_fkey
ALTER TABLE customers ADD COLUMN referrer_id bigint
    CONSTRAINT customers_referrer_fkey REFERENCES customers (id) ON DELETE SET NULL;
