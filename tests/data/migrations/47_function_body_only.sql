-- Function bodies are not compared: no schema change.
-- expect: compatible
CREATE OR REPLACE FUNCTION order_total(p_order integer) RETURNS numeric LANGUAGE sql STABLE
    AS $$ SELECT coalesce(total, 0) FROM orders WHERE id = p_order $$;
