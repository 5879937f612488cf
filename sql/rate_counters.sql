-- Fixed-window counters of the rate limits. A window is :window seconds long, aligned to the
-- epoch, and placed by the caller's clock: :at is the current time in epoch seconds.

-- name: hit
-- Count one hit in each bucket's current window and report the new count and the whole
-- seconds left in the window.
INSERT INTO rate_counter AS counter (bucket, window_start, hits)
SELECT bucket, to_timestamp(floor(:at::float8 / :window::integer) * :window::integer), 1
FROM unnest(:buckets::text[]) AS bucket
ON CONFLICT (bucket, window_start) DO UPDATE SET hits = counter.hits + 1
RETURNING bucket, hits,
    ceil(extract(epoch FROM counter.window_start) + :window::integer - :at::float8)::integer
        AS retry_after;

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
