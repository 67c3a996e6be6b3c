-- RENAME VALUE keeps the value's OID: recognised as a rename.
-- expect: breaking
-- change: breaking enum.value_renamed public.order_status.canceled
ALTER TYPE order_status RENAME VALUE 'cancelled' TO 'canceled';
