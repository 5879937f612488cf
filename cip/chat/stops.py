"""Stopping an answer from whichever instance the request reaches.

The stop route publishes the message id on the PostgreSQL channel `cip_stop` (`NOTIFY`, which
every instance already shares). Every instance listens to it (`cip.db.listener`) and hands each
id it hears to its open streams, where the one running that answer aborts it: the upstream is
closed and the text so far stored as `stopped`. A notification sent while an instance had lost
its listening connection is not heard by it; the stop route then reports an answer not yet
stopped as still `streaming` rather than pretending.
"""

from __future__ import annotations

import logging
from uuid import UUID

from cip.chat.streams import OpenStreams
from cip.db.listener import Handler

log = logging.getLogger(__name__)
CHANNEL = "cip_stop"


def stop_handler(streams: OpenStreams) -> Handler:
    """What this instance does with a stop it hears: stop the answer if it streams it."""

    def heard(payload: str) -> None:
        try:
            message_id = UUID(payload)
        except ValueError:
            log.warning("ignored a malformed stop notification")
            return
        streams.stop(message_id)

    return heard
