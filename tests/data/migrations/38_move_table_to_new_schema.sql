-- expect: breaking
-- change: compatible schema.added archive
-- change: breaking table.renamed archive.invoices
CREATE SCHEMA archive;
ALTER TABLE billing.invoices SET SCHEMA archive;
