-- name: hit
-- Count one hit in each bucket's current fixed window ($2 seconds long, aligned to the epoch)
-- and report the new count and the seconds left in the window.
WITH window_start AS (
    SELECT to_timestamp(floor(extract(epoch FROM now()) / $2) * $2) AS at
)
INSERT INTO rate_counter AS counter (bucket, window_start, hits)
SELECT bucket, window_start.at, 1
FROM unnest($1::text[]) AS bucket, window_start
ON CONFLICT (bucket, window_start) DO UPDATE SET hits = counter.hits + 1
RETURNING bucket, hits,
    ceil(extract(epoch FROM window_start + make_interval(secs => $2) - now()))::integer AS retry_after;

-- name: peek
-- The current window's counts of the given buckets, without counting a hit.
WITH window_start AS (
    SELECT to_timestamp(floor(extract(epoch FROM now()) / $2) * $2) AS at
)
SELECT counter.bucket, counter.hits,
    ceil(extract(epoch FROM counter.window_start + make_interval(secs => $2) - now()))::integer AS retry_after
FROM rate_counter AS counter, window_start
WHERE counter.bucket = ANY($1::text[]) AND counter.window_start = window_start.at;

-- name: prune
-- Drop windows that ended long ago.
DELETE FROM rate_counter
WHERE window_start < now() - make_interval(secs => $1);

-- name: forgive
-- Take back one hit from each bucket's current window (an attempt that turned out fine).
UPDATE rate_counter
SET hits = hits - 1
WHERE bucket = ANY($1::text[]) AND hits > 0
  AND window_start = to_timestamp(floor(extract(epoch FROM now()) / $2) * $2);
