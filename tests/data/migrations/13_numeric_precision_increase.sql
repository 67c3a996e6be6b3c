-- expect: compatible
-- change: compatible column.type_changed billing.invoices.amount
ALTER TABLE billing.invoices ALTER COLUMN amount TYPE numeric(16,2);
