-- expect: compatible
-- change: compatible column.type_changed public.customers.last_seen
-- change: compatible column.type_changed public.customers.tags
-- change: compatible column.type_changed public.customers.rating
ALTER TABLE customers ALTER COLUMN last_seen TYPE timestamp(6);
ALTER TABLE customers ALTER COLUMN tags TYPE varchar(50)[];
ALTER TABLE customers ALTER COLUMN rating TYPE double precision;
