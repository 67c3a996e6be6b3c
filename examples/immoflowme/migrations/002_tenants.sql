-- Tenants and their leases.
CREATE TABLE tenants (
    id           bigserial PRIMARY KEY,
    property_id  bigint NOT NULL REFERENCES properties (id),
    name         text   NOT NULL,
    iban         text
);
CREATE INDEX tenants_property_id ON tenants (property_id);
