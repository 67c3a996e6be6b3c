-- The usual way to remove an enum value: a new type under the old name, columns converted.
-- Compared value by value; the column keeps "the same" type; the materialized view that had
-- to be dropped for it comes back.
-- expect: breaking
-- change: compatible enum.recreated public.order_status
-- change: breaking enum.value_dropped public.order_status.cancelled
-- change: compatible view.recreated public.order_counts
BEGIN;
ALTER TYPE order_status RENAME TO order_status_old;
CREATE TYPE order_status AS ENUM ('pending', 'paid', 'shipped');
DROP MATERIALIZED VIEW order_counts;
ALTER TABLE orders ALTER COLUMN status DROP DEFAULT;
ALTER TABLE orders ALTER COLUMN status TYPE order_status USING status::text::order_status;
ALTER TABLE orders ALTER COLUMN status SET DEFAULT 'pending';
DROP TYPE order_status_old;
CREATE MATERIALIZED VIEW order_counts AS SELECT status, count(*) AS n FROM orders GROUP BY status;
COMMIT;
