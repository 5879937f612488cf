"""`GET /metrics`: the Prometheus metrics (`cip.metrics`), to the addresses `[metrics] allow`
lists; anyone else gets the 404 of a path nobody has. The TCP peer decides, never
`X-Forwarded-For`: a header anyone can write cannot open it."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from cip import keys, metrics
from cip.http.openapi import endpoint
from cip.http.pages import not_found_page


def sample(app: web.Application) -> None:
    """Set this process's gauges from the service's state (at a scrape, and every
    `metrics.SAMPLE_INTERVAL` seconds)."""
    metrics.OPEN_STREAMS.set(len(app[keys.STREAMS]))
    pool = app[keys.POOL]
    size = pool.get_size()
    metrics.POOL_SIZE.set(size)
    metrics.POOL_IN_USE.set(size - pool.get_idle_size())
    metrics.POOL_WAITING.set(pool.waiting)
    metrics.MAIL_QUEUE.set(app[keys.MAILER].queued)


@endpoint(
    "Prometheus metrics, in the text format, to the addresses `[metrics] allow` lists (to "
    "anyone else, the 404 page of a path nobody has)",
    responses={200: "text", 404: "html"},
    tag="operations",
)
async def serve_metrics(request: web.Request) -> web.StreamResponse:
    if not metrics.allowed(request.remote, request.app[keys.CONFIG].metrics.allow):
        return not_found_page(request)  # as for any path no tenant has: nothing to learn
    sample(request.app)
    body = await asyncio.to_thread(metrics.exposition)
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
