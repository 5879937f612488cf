"""A tenant's monthly quotas (`[tenants.<slug>] monthly_answer_quota`, `monthly_token_quota`;
0: none), checked before the upstream is called.

An answer is reserved in the tenant's month by one conditional statement (`usage.reserve_answer`),
so however many chats arrive at once, exactly the quota's number get through: the answer quota
is exact. A tenant without quotas reserves nothing (a chat then costs no statement and takes no
lock for it); its answer quota, once set, counts the answers reserved from then on, while its
token quota counts the whole month (`tenant_usage`). Tokens are known only once an answer
is written, so the token quota is checked against the tokens recorded so far: the answers in
flight when it is reached can take the month past it. A reserved answer that is refused
before it starts is given back.

When a quota is `quota_warning_percent` used (0: no warning), one mail goes to each of the
tenant's `notify` addresses, once a month whatever the number of instances: the instance whose
conditional update sets the month's `warned_at` sends it.
"""

from __future__ import annotations

from cip import errors, metrics
from cip.accounts.mail_texts import render
from cip.accounts.mailer import Mail, Mailer
from cip.db.queries import Executor
from cip.db.store import usage
from cip.db.store.usage import MonthRow
from cip.tenancy import Tenant, TenantSettings


def limited(tenant: Tenant) -> bool:
    """The tenant has a quota: its chats reserve their answers (others take no statement and
    no lock)."""
    return bool(tenant.settings.monthly_answer_quota or tenant.settings.monthly_token_quota)


async def reserve_answer(db: Executor, mailer: Mailer, tenant: Tenant) -> None:
    """One answer of the tenant's month, or 429 `quota_exceeded` with nothing written; the
    month's warning when this answer reaches its threshold."""
    settings = tenant.settings
    month = await usage.reserve_answer(
        db,
        tenant_id=tenant.id,
        answer_quota=settings.monthly_answer_quota,
        token_quota=settings.monthly_token_quota,
    )
    if month is None:
        metrics.QUOTA_REFUSALS.inc(tenant.slug)
        raise errors.QuotaExceeded()
    percent = used_percent(settings, month)
    if (
        not month.warned
        and settings.quota_warning_percent
        and settings.notify
        and percent >= settings.quota_warning_percent
        and await usage.mark_warned(db, tenant_id=tenant.id)
    ):
        rendered = render(settings.locale, "quota_warning", tenant=tenant.name, percent=percent)
        for address in settings.notify:
            mailer.enqueue(
                Mail(to=address, subject=rendered.subject, text=rendered.text, html=rendered.html)
            )


async def release_answer(db: Executor, tenant: Tenant) -> None:
    """Give back an answer reserved for a turn refused before anything was written."""
    await usage.release_answer(db, tenant_id=tenant.id)


def used_percent(settings: TenantSettings, month: MonthRow) -> int:
    """The larger share of the tenant's quotas the month has used, in whole percent (0 with
    no quota)."""
    shares = [
        month.answers_reserved * 100 // settings.monthly_answer_quota
        if settings.monthly_answer_quota
        else 0,
        month.tokens_used * 100 // settings.monthly_token_quota
        if settings.monthly_token_quota
        else 0,
    ]
    return max(shares)
