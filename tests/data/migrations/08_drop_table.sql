-- Its columns, indexes and constraints go with it and are not listed one by one.
-- expect: breaking
-- change: breaking table.dropped billing.invoices
DROP TABLE billing.invoices;
