-- A unique index is a uniqueness rule like a unique constraint.
-- expect: breaking
-- change: breaking index.added public.customers_handle_key
CREATE UNIQUE INDEX customers_handle_key ON customers (handle);
