-- expect: breaking
-- change: breaking column.not_null_added public.customers.name
ALTER TABLE customers ALTER COLUMN name SET NOT NULL;
