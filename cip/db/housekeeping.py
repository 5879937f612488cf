"""Rows nobody needs any more: rate-limit windows that ended long ago, tokens long expired, the
dialogs each tenant keeps no longer than its `retention_days`, and the dialogs visitors deleted
once their undo window (`[limits] dialog_undo_seconds`) has passed."""

from __future__ import annotations

import logging

from cip.config import Config
from cip.db.queries import Executor
from cip.db.store import credentials, rate_counters, tenant_data, tenants
from cip.tenancy import settings_of

log = logging.getLogger(__name__)
# Counter windows that started longer ago than this are dropped; every window is shorter.
KEEP_COUNTERS_SECONDS = 24 * 3600
INTERVAL_SECONDS = 600.0  # how often a running service tidies up
PURGE_BATCH = 1000  # rows per delete of the retention purge: each a short transaction


async def prune(db: Executor, *, at: float) -> None:
    """One round of cleanup; `at` is the rate-limit clock's time."""
    await rate_counters.prune(db, keep_seconds=KEEP_COUNTERS_SECONDS, at=at)
    await credentials.prune_tokens(db)


async def purge_expired_dialogs(db: Executor, config: Config) -> None:
    """Each tenant loses the dialogs its visitors deleted past their undo window and, with a
    `retention_days`, the dialogs idle for longer, their messages and saved items with them,
    in batches; one tenant at a time (every statement stays inside one tenant). Several
    instances may purge at once: each skips the rows another holds."""
    for row in await tenants.list_all(db):
        settings = settings_of(row.settings, config)
        discarded = await tenant_data.purge_discarded(
            db,
            tenant_id=row.id,
            undo_seconds=settings.limits.dialog_undo_seconds,
            batch=PURGE_BATCH,
        )
        if discarded["dialog"]:
            log.info(
                "tenant %s: purged %d deleted dialog(s), %d message(s)",
                row.id,
                discarded["dialog"],
                discarded["message"],
            )
        days = settings.retention_days
        if not days:
            continue
        purged = await tenant_data.purge_expired(
            db, tenant_id=row.id, retention_days=days, batch=PURGE_BATCH
        )
        if any(purged.values()):
            log.info(
                "retention: tenant %s lost %d dialog(s) and %d message(s) idle over %d days",
                row.id,
                purged["dialog"],
                purged["message"],
                days,
            )
