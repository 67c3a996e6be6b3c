-- expect: breaking
-- change: compatible table.added public.flag_names
-- change: breaking constraint.added public.customers.customers_flags_fkey
CREATE TABLE flag_names (flag smallint PRIMARY KEY, label text NOT NULL);
INSERT INTO flag_names VALUES (0, 'none'), (1, 'vip'), (2, 'blocked');
ALTER TABLE customers ADD CONSTRAINT customers_flags_fkey FOREIGN KEY (flags) REFERENCES flag_names (flag) NOT VALID;
