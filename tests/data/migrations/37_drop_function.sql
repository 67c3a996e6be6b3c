-- expect: breaking
-- change: breaking routine.dropped public.order_total(p_order integer)
DROP FUNCTION order_total(integer);
