-- A "rename" done as drop + add is a drop (breaking) and an add.
-- expect: breaking
-- change: breaking column.dropped public.customers.nickname
-- change: compatible column.added public.customers.display_name
ALTER TABLE customers DROP COLUMN nickname;
ALTER TABLE customers ADD COLUMN display_name varchar(40);
