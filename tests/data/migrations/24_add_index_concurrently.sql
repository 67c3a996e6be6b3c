-- expect: compatible
-- change: compatible index.added public.customers_created_idx
CREATE INDEX CONCURRENTLY customers_created_idx ON customers (created_at);
