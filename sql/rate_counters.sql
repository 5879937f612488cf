-- Fixed-window counters of the rate limits. A window is :window seconds long, aligned to the
-- epoch, and placed by the caller's clock: :at is the current time in epoch seconds.

-- name: hit
-- Count hits: :hits[i] more in bucket :buckets[i]'s current window of :windows[i] seconds (each
-- bucket and window once); report each window's start (epoch seconds) and its new count.
INSERT INTO rate_counter AS counter (bucket, window_start, hits)
SELECT hit.bucket, to_timestamp(floor(:at::float8 / hit.seconds) * hit.seconds), hit.hits
FROM unnest(:buckets::text[], :windows::integer[], :hits::integer[]) AS hit (bucket, seconds, hits)
ON CONFLICT (bucket, window_start) DO UPDATE SET hits = counter.hits + excluded.hits
RETURNING bucket, extract(epoch FROM window_start)::bigint AS window_start, hits;

-- name: forgive
-- Take back one hit from each bucket's current window (an attempt that turned out fine).
UPDATE rate_counter
SET hits = hits - 1
WHERE bucket = ANY(:buckets::text[]) AND hits > 0
  AND window_start = to_timestamp(floor(:at::float8 / :window::integer) * :window::integer);

-- name: prune
-- Drop windows that ended long ago.
DELETE FROM rate_counter
WHERE window_start < to_timestamp(:at::float8) - make_interval(secs => :keep_seconds);
