-- expect: breaking
-- change: breaking column.type_changed public.customers.flags
ALTER TABLE customers ALTER COLUMN flags TYPE text;
