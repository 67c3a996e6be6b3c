-- expect: compatible
-- change: compatible constraint.dropped public.orders.orders_total_check
-- change: compatible index.dropped public.orders_customer_idx
ALTER TABLE orders DROP CONSTRAINT orders_total_check;
DROP INDEX orders_customer_idx;
