-- expect: breaking
-- change: breaking column.type_changed billing.invoices.reference
ALTER TABLE billing.invoices ALTER COLUMN reference TYPE varchar(10);
