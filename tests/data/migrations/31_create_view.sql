-- expect: compatible
-- change: compatible view.added public.paid_orders
CREATE VIEW paid_orders AS SELECT id, customer_id, total FROM orders WHERE status = 'paid';
