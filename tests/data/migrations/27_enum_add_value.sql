-- expect: compatible
-- change: compatible enum.value_added public.order_status.refunded
ALTER TYPE order_status ADD VALUE 'refunded' AFTER 'shipped';
