-- The base schema has orders_note_length NOT VALID; validating it adds no rule for writes.
-- expect: compatible
-- change: compatible constraint.validated public.orders.orders_note_length
ALTER TABLE orders VALIDATE CONSTRAINT orders_note_length;
