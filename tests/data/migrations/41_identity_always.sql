-- GENERATED ALWAYS refuses the explicit ids an old version may write.
-- expect: breaking
-- change: breaking column.identity_changed public.customers.id
ALTER TABLE customers ALTER COLUMN id SET GENERATED ALWAYS;
