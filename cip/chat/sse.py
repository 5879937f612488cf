"""The text/event-stream format, both ways: an incremental decoder for the upstream LLM's
stream, and the encoder for the streams this service writes.

The decoder follows the WHATWG rules (any of CRLF, LF or CR ends a line; `field:value` with
one optional space after the colon; comment lines start with `:`; a blank line dispatches
the event) and is fed raw bytes as they arrive, so a line, or a UTF-8 character, split
across reads is reassembled. It is sans-IO: the LLM client feeds it, tests feed it every
possible split of a stream. It is written here rather than taken from a library because the
maintained SSE clients are bound to another HTTP client (httpx-sse) or no longer maintained.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Any

from cip.http.jsonio import dumps

PING = b": ping\n\n"
_LINE_END = re.compile(r"\r\n|\r|\n")
MAX_LINE_CHARS = 1 << 20


class LineTooLong(ValueError):
    """The stream sent a line longer than any real event: it is not an event stream."""


@dataclass(frozen=True, slots=True)
class Event:
    data: str
    event: str = "message"


class EventStreamDecoder:
    """Bytes in, complete events out. Comments (keep-alives) produce nothing."""

    def __init__(self) -> None:
        self._text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""  # text after the last line end
        self._skip_lf = False  # the previous piece ended with CR: a leading LF belongs to it
        self._started = False
        self._data: list[str] = []
        self._event = ""

    def feed(self, chunk: bytes) -> list[Event]:
        return self._lines(self._text.decode(chunk))

    def close(self) -> list[Event]:
        """End of stream: flush what is left. An event whose blank line never came is still
        delivered: a final chunk matters more than the strict rule that would drop it."""
        events = self._lines(self._text.decode(b"", final=True))
        if self._pending:
            events.extend(self._line(self._pending))
            self._pending = ""
        events.extend(self._dispatch())
        return events

    def _lines(self, text: str) -> list[Event]:
        if not text:
            return []
        if not self._started:
            text = text.removeprefix("\ufeff")
            self._started = True
        if self._skip_lf:
            text = text.removeprefix("\n")
        self._skip_lf = text.endswith("\r")
        *complete, rest = _LINE_END.split(text)
        events: list[Event] = []
        for index, line in enumerate(complete):
            events.extend(self._line(self._pending + line if index == 0 else line))
        if complete:
            self._pending = ""
        self._pending += rest
        if len(self._pending) > MAX_LINE_CHARS:
            raise LineTooLong(f"a line over {MAX_LINE_CHARS} characters")
        return events

    def _line(self, line: str) -> list[Event]:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return []
        field, colon, value = line.partition(":")
        if colon:
            value = value.removeprefix(" ")
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        return []  # `id` and `retry` mean nothing to a one-shot completion stream

    def _dispatch(self) -> list[Event]:
        if not self._data:
            self._event = ""
            return []
        event = Event(data="\n".join(self._data), event=self._event or "message")
        self._data, self._event = [], ""
        return [event]


def encode(data: Any, event: str | None = None, event_id: int | None = None) -> bytes:
    """One event with `data` as JSON (real UTF-8); a bytes `data` is written verbatim."""
    payload = data if isinstance(data, bytes) else dumps(data)
    head = b"event: " + event.encode() + b"\n" if event else b""
    if event_id is not None:
        head += b"id: %d\n" % event_id
    return head + b"data: " + payload + b"\n\n"
