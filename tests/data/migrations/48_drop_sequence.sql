-- expect: breaking
-- change: breaking sequence.dropped public.invoice_numbers
DROP SEQUENCE invoice_numbers;
