-- Properties under management.
CREATE TABLE properties (
    id          bigserial PRIMARY KEY,
    street      text        NOT NULL,
    postcode    text        NOT NULL,
    city        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
