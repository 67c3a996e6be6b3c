-- Invoices in cents; the gross total is what /api/billing/total computes (billing parity).
CREATE TABLE invoices (
    id          bigserial PRIMARY KEY,
    tenant_id   bigint  NOT NULL REFERENCES tenants (id),
    net_cents   bigint  NOT NULL CHECK (net_cents >= 0),
    vat_percent integer NOT NULL DEFAULT 19,
    issued_on   date    NOT NULL DEFAULT current_date
);
-- Compatible with the version before it: a new nullable column.
ALTER TABLE properties ADD COLUMN country text;
