-- A table rebuilt under its own name: the rows are copied, but the new id column lost its
-- sequence default, which breaks the old version's inserts. Its keys come back under new
-- names (the old table still held the old ones), with the same definitions.
-- expect: breaking
-- change: compatible table.recreated billing.invoices
-- change: breaking column.default_dropped billing.invoices.id
-- change: compatible column.added billing.invoices.paid
-- change: compatible constraint.renamed billing.invoices.invoices_pkey1
-- change: compatible constraint.renamed billing.invoices.invoices_order_id_fkey1
BEGIN;
ALTER TABLE billing.invoices RENAME TO invoices_old;
CREATE TABLE billing.invoices (
    id bigint PRIMARY KEY,
    order_id integer NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    amount numeric(12,2) NOT NULL,
    issued_on date NOT NULL DEFAULT current_date,
    reference varchar(30),
    paid boolean NOT NULL DEFAULT false
);
INSERT INTO billing.invoices (id, order_id, amount, issued_on, reference)
    SELECT id, order_id, amount, issued_on, reference FROM billing.invoices_old;
DROP TABLE billing.invoices_old;
COMMIT;
