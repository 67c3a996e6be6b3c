-- expect: breaking
-- change: breaking table.partition_detached public.events_2026
ALTER TABLE events DETACH PARTITION events_2026;
