"""What a tenant's slug may be.

A path's first segment is either one the service routes itself (the API, the static files,
the probes, the metrics: the route table in `cip.app` is built from the names below) or a
tenant's slug, under which its pages live. So a slug is never one of the reserved names: such a
tenant's pages would be unreachable, and its slug would look like it owns the service's paths.
"""

from __future__ import annotations

import re

API = "api"
STATIC = "static"
HEALTHZ = "healthz"
READYZ = "readyz"
METRICS = "metrics"
RESERVED_SLUGS = frozenset({API, STATIC, HEALTHZ, READYZ, METRICS})
# Routed at the top level too, but never a slug's shape (a slug has no dot).
WIDGET = "widget.js"

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def checked_slug(slug: str) -> str:
    """The slug, when a tenant may have it; else ValueError saying why."""
    if not SLUG_PATTERN.match(slug):
        raise ValueError(
            f"{slug!r} is not a valid slug "
            "(1-63 lowercase letters, digits or '-', starting with a letter or digit)"
        )
    if slug in RESERVED_SLUGS:
        reserved = ", ".join(sorted(RESERVED_SLUGS))
        raise ValueError(
            f"{slug!r} is reserved: the service routes /{slug} itself (reserved: {reserved})"
        )
    return slug
