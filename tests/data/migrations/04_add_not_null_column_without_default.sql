-- Breaking: the old version's inserts do not set it. On a copy with rows (template) the
-- statement itself fails, as it would on the real database.
-- expect: breaking
-- change: breaking column.added public.customers.country
-- with-data: failed
ALTER TABLE customers ADD COLUMN country char(2) NOT NULL;
