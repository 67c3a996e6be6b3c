-- A failing migration in one transaction leaves nothing behind.
-- expect: failed
BEGIN;
DROP TABLE billing.invoices;
SELECT 1 / 0;
COMMIT;
