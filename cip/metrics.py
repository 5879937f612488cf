"""Prometheus metrics, served at `/metrics` to the addresses `[metrics] allow` lists.

The metrics live in prometheus-client's default registry, one set per process. Under
`cip serve --workers N` the supervisor gives its workers one fresh directory,
`PROMETHEUS_MULTIPROC_DIR` (`metrics_directory`); each worker writes its values there, and the
worker that answers a scrape reads them all (`MultiProcessCollector`): counters and
histograms add up over every worker that ever ran, gauges over the living ones.

Gauges (open streams, the pool, the mail queue) are sampled from the service's state: by the
worker answering a scrape, and by every worker every `SAMPLE_INTERVAL` seconds, so another
worker's gauge may be that much behind. Requests are labelled by their route template (never
the raw path): the label sets stay bounded. What tenants use (answers, tokens, quota
refusals) is counted by `TenantCounter`s, whose series carry the tenant's slug only when
`[metrics] tenant_label` is on: tenants are made by their operator (the config file, `cip
tenant create`), never by a visitor, so that label is bounded too.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from ipaddress import IPv4Network, IPv6Network, ip_address

from aiohttp import web
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
SAMPLE_INTERVAL = 5.0  # seconds between a worker's samples of its gauges
UNMATCHED = "unmatched"  # the route label of a request no route took (a 404)
# Seconds: from a millisecond request to a long answer's stream (a request lasts as long as
# its answer streams), and from a fast first token to the LLM's first-token timeout.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
FIRST_TOKEN_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 60)

REQUESTS = Counter("cip_http_requests", "HTTP requests answered", ["route", "method", "status"])
REQUEST_SECONDS = Histogram(
    "cip_http_request_duration_seconds",
    "Time to answer an HTTP request (a chat request: until its stream ends)",
    ["route", "method", "status"],
    buckets=REQUEST_BUCKETS,
)
OPEN_STREAMS = Gauge("cip_open_streams", "Answers being written", multiprocess_mode="livesum")
FIRST_TOKEN_SECONDS = Histogram(
    "cip_llm_first_token_seconds",
    "Time from asking the LLM to its first text of the answer",
    buckets=FIRST_TOKEN_BUCKETS,
)
LLM_FAILURES = Counter("cip_llm_failures", "LLM calls that failed, by kind", ["kind"])
POOL_SIZE = Gauge(
    "cip_db_pool_size", "Connections open in the database pools", multiprocess_mode="livesum"
)
POOL_IN_USE = Gauge(
    "cip_db_pool_in_use", "Connections of the pools in use", multiprocess_mode="livesum"
)
POOL_WAITING = Gauge(
    "cip_db_pool_waiting",
    "Callers waiting for a connection of the pools (all of them in use)",
    multiprocess_mode="livesum",
)
LLM_RESPONSE_SECONDS = Histogram(
    "cip_llm_response_seconds",
    "Time from asking the LLM to its response's status and headers, or to its failure to give one",
    buckets=FIRST_TOKEN_BUCKETS,
)
RATE_LIMITED = Counter(
    "cip_rate_limit_refusals", "Requests refused by a rate limit (429), by rule", ["rule"]
)
MAIL_QUEUE = Gauge(
    "cip_mail_queue_length", "Mails waiting to be sent (or being sent)", multiprocess_mode="livesum"
)
MAIL_FAILURES = Counter("cip_mail_failures", "Mails given up on: not sent")


class TenantCounter(Collector):
    """A counter of what tenants use: one series per value of its labels, and with `[metrics]
    tenant_label` on, per tenant too (a `tenant` label, the slug). The switch is the
    process's: a process serves one configuration (`label_tenants`, at the app's start)."""

    tenant_label = False

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...]) -> None:
        self._all = Counter(name, documentation, labelnames, registry=None)
        self._by_tenant = Counter(name, documentation, ("tenant", *labelnames), registry=None)
        REGISTRY.register(self)

    def inc(self, tenant: str, *labels: str, amount: float = 1) -> None:
        if TenantCounter.tenant_label:
            self._by_tenant.labels(tenant, *labels).inc(amount)
        else:
            (self._all.labels(*labels) if labels else self._all).inc(amount)

    def describe(self) -> Iterable[Metric]:
        return self._all.describe()

    def collect(self) -> Iterable[Metric]:
        return (self._by_tenant if TenantCounter.tenant_label else self._all).collect()


ANSWERS = TenantCounter(
    "cip_answers",
    "Answers stored by their closing write, by how they ended",
    ("status",),
)
TOKENS = TenantCounter(
    "cip_tokens",
    "Tokens of the answers stored: the upstream's usage, else estimated",
    ("kind",),
)
QUOTA_REFUSALS = TenantCounter(
    "cip_quota_refusals", "Chats refused past a monthly quota (429 quota_exceeded)", ()
)

Network = IPv4Network | IPv6Network


def route_template(request: web.Request) -> str | None:
    """The template of the route that took `request` (`/api/v1/tenants/{tenant_id}/chat`), or
    None when none did."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else None


def record_request(request: web.Request, status: int, seconds: float) -> None:
    labels = (route_template(request) or UNMATCHED, request.method, str(status))
    REQUESTS.labels(*labels).inc()
    REQUEST_SECONDS.labels(*labels).observe(seconds)


def label_tenants(on: bool) -> None:
    """`[metrics] tenant_label`: whether what tenants use is counted per tenant."""
    TenantCounter.tenant_label = on


def answered(tenant: str, status: str, *, prompt_tokens: int, completion_tokens: int) -> None:
    """An answer of `tenant` (its slug) was stored with `status` and these tokens."""
    ANSWERS.inc(tenant, status)
    TOKENS.inc(tenant, "prompt", amount=prompt_tokens)
    TOKENS.inc(tenant, "completion", amount=completion_tokens)


def rule_of(bucket: str) -> str:
    """A rate-limit bucket's rule, its first two parts (`chat:ip` of
    `chat:ip:<tenant>:<address>`): a label of bounded values."""
    return ":".join(bucket.split(":", 2)[:2])


@contextlib.contextmanager
def metrics_directory() -> Iterator[None]:
    """For a supervisor: a fresh `PROMETHEUS_MULTIPROC_DIR` for the workers it starts in the
    block (they inherit the environment), removed at its end."""
    path = tempfile.mkdtemp(prefix="cip-metrics-")
    os.environ[MULTIPROC_DIR] = path
    try:
        yield
    finally:
        del os.environ[MULTIPROC_DIR]
        shutil.rmtree(path, ignore_errors=True)


def process_ended(pid: int) -> None:
    """For a supervisor: a worker is gone; its gauges no longer count."""
    path = os.environ.get(MULTIPROC_DIR)
    if path:
        multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]


def allowed(peer: str | None, allow: tuple[Network, ...]) -> bool:
    """Whether the TCP peer's address is in one of the networks."""
    if peer is None:
        return False
    try:
        address = ip_address(peer.split("%", 1)[0])
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in allow)


def exposition() -> bytes:
    """Every metric in the text format: this process's, or every worker's."""
    if MULTIPROC_DIR not in os.environ:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def first_text(asked: float) -> None:
    """The LLM's first text of an answer arrived; `asked` is when it was asked
    (`time.monotonic()`)."""
    FIRST_TOKEN_SECONDS.observe(time.monotonic() - asked)
