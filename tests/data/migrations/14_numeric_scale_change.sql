-- More decimals: values the old version reads change shape.
-- expect: breaking
-- change: breaking column.type_changed billing.invoices.amount
ALTER TABLE billing.invoices ALTER COLUMN amount TYPE numeric(14,4);
