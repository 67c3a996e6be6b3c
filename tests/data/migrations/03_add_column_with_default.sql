-- NOT NULL with a default: the old version's inserts get the default.
-- expect: compatible
-- change: compatible column.added public.customers.locale
ALTER TABLE customers ADD COLUMN locale text NOT NULL DEFAULT 'de-DE';
