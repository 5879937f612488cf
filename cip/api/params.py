"""What the cabinet handlers share: paging, bounded free text, and the errors every route with
a caller may answer (documented in the OpenAPI file)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from cip.http.openapi import Response

MAX_PAGE = 100
# OFFSET is a bigint in PostgreSQL; a bound keeps absurd values a 400 instead of an overflow.
MAX_OFFSET = 2**31 - 1


class PageIn(BaseModel):
    # Unknown query parameters (cache busters) are ignored.
    model_config = ConfigDict(extra="ignore")

    limit: int = Field(20, ge=1, le=MAX_PAGE)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


class MessagePageIn(BaseModel):
    """A page of a dialog's messages, walking back from the newest."""

    model_config = ConfigDict(extra="ignore")

    limit: int = Field(50, ge=1, le=MAX_PAGE)
    before: UUID | None = None  # the first message of the page already shown


MAX_EVENT_ID = 10**9  # characters: far past any answer, and inside PostgreSQL's integer


class ResumeIn(BaseModel):
    """Where a reconnecting visitor's answer resumes: the id of the last text event it got
    (the `Last-Event-ID` header, or this query parameter for clients that cannot set it)."""

    model_config = ConfigDict(extra="ignore")

    last_event_id: int = Field(0, ge=0, le=MAX_EVENT_ID)


CALLER_ERRORS: dict[int, Response] = {
    400: "Invalid input or no identity",
    401: "Bad token, or an account id used as guest id",
    403: "X-User-Id does not match the token",
    404: "Unknown tenant (or not yours)",
    429: "Rate limited",
}


def _blank_is_none(value: str) -> str | None:
    return value or None


# Free text is trimmed, bounded after trimming, and stored as NULL when nothing is left.
NoteText = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=1000), AfterValidator(_blank_is_none)
]
ProfileText = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=256), AfterValidator(_blank_is_none)
]


def _no_control_characters(value: str) -> str:
    if any(ord(char) < 32 or 127 <= ord(char) < 160 for char in value):
        raise ValueError("must not contain control characters (line breaks, tabs, ...)")
    return value


# One line: a dialog's title, a search. Trimmed, 1-200 characters after trimming, no control
# character (C0, DEL, C1).
LineText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_no_control_characters),
]
