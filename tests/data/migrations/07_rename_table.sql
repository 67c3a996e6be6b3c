-- expect: breaking
-- change: breaking table.renamed billing.bills
ALTER TABLE billing.invoices RENAME TO bills;
