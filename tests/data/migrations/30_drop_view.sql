-- expect: breaking
-- change: breaking view.dropped public.customer_totals
DROP VIEW customer_totals;
