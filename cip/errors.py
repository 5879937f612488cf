"""Domain and API errors; the error middleware turns each into the SPEC's JSON envelope.

Every user-facing message is a constant here, so texts and codes stay stable.
"""

from __future__ import annotations

from typing import Any


class CommandFailed(Exception):
    """A failure the command line reports in one line on stderr, with exit code 2."""


class ApiError(Exception):
    """An error with an HTTP status, a stable snake_case code and a human text."""

    status = 400
    code = "bad_request"
    detail = "Bad request."

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.detail = detail or self.detail
        self.code = code or self.code
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra or {}
        super().__init__(self.detail)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"detail": self.detail, "code": self.code, **self.extra}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


class ValidationFailed(ApiError):
    status = 400
    code = "validation_error"
    detail = "The request is not valid."


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"
    detail = "Authentication failed."


class Forbidden(ApiError):
    status = 403
    code = "forbidden"
    detail = "Not allowed."


class NotFound(ApiError):
    """A thing that does not exist, or that the caller may not see."""

    status = 404
    code = "not_found"
    detail = "Not found."


class Conflict(ApiError):
    status = 409
    code = "conflict"
    detail = "The request conflicts with what is stored."


class TenantDisabled(ApiError):
    """The tenant is switched off (`cip tenant disable`): its data is kept, nothing is served."""

    status = 410
    code = "tenant_disabled"
    detail = "This tenant is disabled: its chat, cabinet and accounts are unavailable."


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"
    detail = "The request body is too large."


class RequestTimeout(ApiError):
    status = 408
    code = "body_timeout"
    detail = "The request body did not arrive in time."


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"
    detail = "The request body must be JSON (Content-Type: application/json)."


class RateLimited(ApiError):
    status = 429
    code = "rate_limited"
    detail = "Too many requests. Please wait and try again."

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})


class QuotaExceeded(ApiError):
    """The tenant has used up a monthly quota; nothing was written."""

    status = 429
    code = "quota_exceeded"
    detail = "This chat has used up its quota for the month. Please try again later."


class ClientClosedRequest(ApiError):
    """The client left before an answer could start (nobody reads this one; the log does)."""

    status = 499
    code = "client_closed_request"
    detail = "The client closed the request."


class BadGateway(ApiError):
    """An upstream service (the LLM) failed before anything could be streamed."""

    status = 502
    code = "bad_gateway"
    detail = "An upstream service failed. Please try again later."


class ServiceUnavailable(ApiError):
    status = 503
    code = "service_unavailable"
    detail = "The service is temporarily unavailable. Please try again shortly."


class Busy(ServiceUnavailable):
    """Too many chats are being let in at once: this one waited its longest; nothing was
    written, so the same request may simply be sent again after Retry-After."""

    code = "busy"
    detail = "Many visitors are asking right now. Your question was not sent; please retry."

    def __init__(self, retry_after: int) -> None:
        super().__init__(headers={"Retry-After": str(max(1, retry_after))})


TENANT_NOT_FOUND = "Tenant not found."
DIALOG_NOT_FOUND = "Dialog not found."
ROUTE_NOT_FOUND = "No such route."
METHOD_NOT_ALLOWED = "Method not allowed on this route."
INTERNAL_ERROR = "Internal server error."
CHAT_RATE_LIMITED = "Too many messages. Please wait a moment before sending another."
CABINET_RATE_LIMITED = "Too many requests to your cabinet. Please wait a moment."
DATABASE_UNAVAILABLE = "The database is temporarily unavailable. Please try again shortly."
MESSAGE_BLANK = "The message is empty."
MESSAGE_TOO_LONG = "The message is too long (at most {limit} characters)."
LLM_NOT_CONFIGURED = (
    "The AI assistant is not configured: set llm.api_key in config.toml "
    "or the DEEPSEEK_API_KEY environment variable."
)
LLM_UNREACHABLE = "The AI service cannot be reached. Please try again later."
LLM_ERROR_STATUS = "The AI service answered with an error. Please try again later."
LLM_TIMEOUT = "The AI service did not answer in time. Please try again later."
LLM_DROPPED = "The connection to the AI service was lost before the answer was complete."
LLM_BAD_RESPONSE = "The AI service sent an answer that could not be read."
LLM_REPORTED_ERROR = "The AI service reported an error while answering."
REPLY_NOT_SAVED = (
    "The answer could not be saved: the database is temporarily unavailable. "
    "Please send your message again shortly."
)
ANSWER_INTERRUPTED = "The answer was interrupted before it was complete."
ANSWER_FAILED = "The AI service failed while writing this answer."
INVALID_LAST_EVENT_ID = "Last-Event-ID must be a whole number of characters (0 or more)."
SERVICE_RESTARTING = "The service is restarting. Please send your message again."
PROMPT_MISSING = "The assistant's instructions are missing on the server."


BODY_INCOMPLETE = "The request body ended before it was complete."
SLOW_BODIES = "Too many request bodies are still arriving from your address. Please retry."
BODY_UNREADABLE = "The request body could not be decoded."


class InternalError(ApiError):
    status = 500
    code = "internal_error"
    detail = INTERNAL_ERROR


class DatabaseUnavailable(ServiceUnavailable):
    """PostgreSQL cannot be reached or did not answer in time (raised by `cip.db.pool`, with
    the driver's error as its cause); the request answers 503."""

    code = "database_unavailable"
    detail = DATABASE_UNAVAILABLE
