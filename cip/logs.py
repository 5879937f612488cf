"""How `cip serve` writes its log: one line per record on stderr (`[logging] format`: readable
text, or one JSON object per line), no logged value able to start a line of its own, and
aiohttp's reports of requests it could not parse without the bytes they quote.

Values come from outside (a path decodes `%0a` into a newline), so every argument of every
record has its control characters escaped (`\\n`, `\\x1b`, ...) before it is formatted; the
message templates and tracebacks are the service's own and stay as they are, and so does text
marked `Verbatim`. aiohttp's parser quotes the offending header line when it refuses a request
(a whole `Authorization` header, token included): such a record is rewritten into one line that
names the peer, the status and the kind of error.

In JSON each line carries `time`, `level`, `logger`, `pid` and `message` (the text line's
words), and a record's `context` fields besides: the request log's `request_id`, `tenant_id`,
`route` (the route's template), `method`, `path`, `status` and `duration_ms`.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web import RequestPayloadError

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# `cip serve --workers N`: the processes share one stderr, so each line names its process.
PROCESS_FORMAT = "%(asctime)s %(levelname)s %(name)s[%(process)d] %(message)s"
QUIET = ("pgserver", "yoyo")  # chatty at INFO
LogFormat = Literal["text", "json"]
AIOHTTP_LOGGERS = ("aiohttp.server", "aiohttp.access", "aiohttp.web")
# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class Verbatim(str):
    """Text the service itself wrote on several lines (a mail in development mode, a
    traceback): logged as it is."""


def printable(text: str) -> str:
    """`text` with every control character escaped as Python writes it (`\\n`, `\\x1b`)."""
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], text)


def _escaped(value: Any) -> Any:
    if value is None or isinstance(value, Verbatim | int | float):
        return value
    return printable(value if isinstance(value, str) else str(value))


class EscapedValues(logging.Filter):
    """Escapes the control characters of every argument of a record (idempotent)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, Mapping):
            record.args = {key: _escaped(value) for key, value in record.args.items()}
        elif record.args:
            record.args = tuple(_escaped(value) for value in record.args)
        return True


class JsonLines(logging.Formatter):
    """One JSON object per record, on one line: the record's own fields and its `context`
    (a mapping passed as `extra={"context": ...}`), text values escaped as in the text format.
    JSON escapes the rest of the control characters; U+2028 and U+2029, which it may leave
    as they are and which some readers take for line breaks, are escaped too."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        context = getattr(record, "context", None)
        if isinstance(context, Mapping):
            line.update({key: _escaped(value) for key, value in context.items()})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        text = orjson.dumps(line, default=str).decode()
        return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


class ParserErrors(logging.Filter):
    """A request aiohttp could not parse (a malformed header line, a bad chunk size, a body
    that is not the gzip it claims): one line at INFO with the peer, the status and the
    error's kind, not the quoted bytes. It is the client's error, so it is no ERROR of the
    service either."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError | RequestPayloadError):
            # aiohttp names the peer first ("Error handling request from %s"), when it does.
            args = record.args if isinstance(record.args, tuple) else ()
            peer = args[0] if args else "a client"
            record.msg = "bad request from %s: %d %s (its content is not logged)"
            record.args = (peer, getattr(error, "code", 400), type(error).__name__)
            record.exc_info = record.exc_text = None
            if record.levelno > logging.INFO:
                record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def configure_logging(log_format: LogFormat = "text", level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if log_format == "json" else logging.Formatter(FORMAT))
    handler.addFilter(EscapedValues())
    logging.basicConfig(level=level, handlers=[handler])
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in AIOHTTP_LOGGERS:
        logging.getLogger(name).addFilter(ParserErrors())


def show_process_ids() -> None:
    """From now on every line names the process that wrote it (`cip.request[4242] ...`; a JSON
    line always carries its `pid`)."""
    for handler in logging.getLogger().handlers:
        if not isinstance(handler.formatter, JsonLines):
            handler.setFormatter(logging.Formatter(PROCESS_FORMAT))
