-- expect: compatible
-- change: compatible column.added public.orders.coupon_code
ALTER TABLE orders ADD COLUMN coupon_code text;
