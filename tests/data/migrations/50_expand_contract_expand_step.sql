-- The expand step of renaming a column: add the new one, keep the old, copy values.
-- expect: compatible
-- change: compatible column.added public.customers.display_name
-- change: compatible index.added public.customers_display_name_idx
ALTER TABLE customers ADD COLUMN display_name varchar(40);
UPDATE customers SET display_name = nickname;
CREATE INDEX customers_display_name_idx ON customers (display_name);
