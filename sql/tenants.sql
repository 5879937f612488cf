-- Tenants: looked up by slug or id, created by the command line and the config file.

-- name: by_slug
SELECT id, slug, name, settings, created_at
FROM tenant
WHERE slug = :slug;

-- name: by_id
SELECT id, slug, name, settings, created_at
FROM tenant
WHERE id = :tenant_id;

-- name: list_all
SELECT id, slug, name, settings, created_at
FROM tenant
ORDER BY slug;

-- name: create
INSERT INTO tenant (slug, name, settings)
VALUES (:slug, :name, :settings)
RETURNING id, slug, name, settings, created_at;

-- name: upsert
-- Config-file tenants: a missing name keeps the stored one (or the slug for a new tenant);
-- the given settings keys replace the stored ones.
INSERT INTO tenant (slug, name, settings)
VALUES (:slug, COALESCE(:name, :slug), :settings)
ON CONFLICT (slug) DO UPDATE
SET name = COALESCE(:name, tenant.name), settings = tenant.settings || EXCLUDED.settings
RETURNING id, slug, name, settings, created_at;
