-- name: by_slug
SELECT id, slug, name, settings, created_at
FROM tenant
WHERE slug = $1;

-- name: by_id
SELECT id, slug, name, settings, created_at
FROM tenant
WHERE id = $1;

-- name: list_all
SELECT id, slug, name, settings, created_at
FROM tenant
ORDER BY slug;

-- name: create
INSERT INTO tenant (slug, name, settings)
VALUES ($1, $2, $3)
RETURNING id, slug, name, settings, created_at;

-- name: upsert
-- Config-file tenants: a missing name keeps the stored one (or the slug for a new tenant);
-- the given settings keys replace the stored ones.
INSERT INTO tenant (slug, name, settings)
VALUES ($1, COALESCE($2, $1), $3)
ON CONFLICT (slug) DO UPDATE
SET name = COALESCE($2, tenant.name), settings = tenant.settings || EXCLUDED.settings
RETURNING id, slug, name, settings, created_at;
