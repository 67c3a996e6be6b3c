-- CREATE OR REPLACE VIEW keeps the view (same OID) and may only add columns at the end.
-- expect: compatible
-- change: compatible view.definition_changed public.customer_totals
-- change: compatible column.added public.customer_totals.orders
CREATE OR REPLACE VIEW customer_totals AS
    SELECT c.id, c.email, coalesce(sum(o.total), 0) AS total, count(o.id) AS orders
    FROM customers c LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.id, c.email;
