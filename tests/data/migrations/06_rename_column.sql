-- expect: breaking
-- change: breaking column.renamed public.customers.full_name
ALTER TABLE customers RENAME COLUMN name TO full_name;
