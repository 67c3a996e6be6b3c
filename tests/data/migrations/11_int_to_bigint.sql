-- expect: compatible
-- change: compatible column.type_changed public.customers.score
ALTER TABLE customers ALTER COLUMN score TYPE bigint;
