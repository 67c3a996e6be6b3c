-- A new table with its own keys and checks: nothing the old version uses.
-- expect: compatible
-- change: compatible table.added public.coupons
CREATE TABLE coupons (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code text NOT NULL UNIQUE,
    percent integer NOT NULL CHECK (percent BETWEEN 1 AND 100)
);
