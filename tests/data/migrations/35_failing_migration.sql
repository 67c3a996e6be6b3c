-- The second statement fails: the command fails (a gate failure), and what the first statement
-- did before is still shown.
-- expect: failed
-- change: compatible column.added public.orders.gift_note
ALTER TABLE orders ADD COLUMN gift_note text;
ALTER TABLE no_such_table ADD COLUMN y integer;
