-- expect: compatible
-- change: compatible column.type_changed public.customers.nickname
ALTER TABLE customers ALTER COLUMN nickname TYPE varchar(80);
