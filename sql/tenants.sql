-- Tenants: looked up by slug or id, created by the command line and the config file, switched
-- off and on, deleted (once `cip.tenant_data` has emptied them). A change every instance must
-- see at once is announced on the channel `cip_tenant` (`announce`).

-- name: by_slug
SELECT id, slug, name, settings, created_at, disabled_at
FROM tenant
WHERE slug = :slug;

-- name: by_id
SELECT id, slug, name, settings, created_at, disabled_at
FROM tenant
WHERE id = :tenant_id;

-- name: list_all
SELECT id, slug, name, settings, created_at, disabled_at
FROM tenant
ORDER BY slug;

-- name: create
INSERT INTO tenant (slug, name, settings)
VALUES (:slug, :name, :settings)
RETURNING id, slug, name, settings, created_at, disabled_at;

-- name: upsert
-- Config-file tenants: a missing name keeps the stored one (or the slug for a new tenant);
-- the given settings keys replace the stored ones.
INSERT INTO tenant (slug, name, settings)
VALUES (:slug, COALESCE(:name, :slug), :settings)
ON CONFLICT (slug) DO UPDATE
SET name = COALESCE(:name, tenant.name), settings = tenant.settings || EXCLUDED.settings
RETURNING id, slug, name, settings, created_at, disabled_at;

-- name: set_disabled
-- Switch a tenant off (keeping the first moment it was) or on; no row for an unknown slug.
UPDATE tenant
SET disabled_at = CASE WHEN :disabled::boolean THEN COALESCE(disabled_at, now()) END
WHERE slug = :slug
RETURNING id, slug, name, settings, created_at, disabled_at;

-- name: delete
-- The tenant row, last: its foreign keys cascade to whatever rows arrived after the batches.
DELETE FROM tenant
WHERE id = :tenant_id
RETURNING id;

-- name: announce
-- Tells every instance that this tenant changed (its cached copy is dropped); sent at commit.
SELECT pg_notify('cip_tenant', :tenant_id::uuid::text);
