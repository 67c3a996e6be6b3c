-- NOT VALID skips the rows already there; the old version's writes are still checked.
-- expect: breaking
-- change: breaking constraint.added public.customers.customers_score_nonnegative
ALTER TABLE customers ADD CONSTRAINT customers_score_nonnegative CHECK (score >= 0) NOT VALID;
