"""Messages as one line of plain text, for titles, previews and search snippets.

An answer is markdown: its text is what the reader sees of it, taken from the tokens of the
same parser that renders its HTML (`cip.chat.markdown.SafeMarkdown`), so `**bold**` is `bold`,
a link is its text and a code block its code. A visitor's own message is shown as they typed
it (pages never render it), so only its whitespace is folded. A cut falls between words and
ends with "…".
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from markdown_it.token import Token

from cip.chat.markdown import SafeMarkdown

ELLIPSIS = "…"
_SPACES = re.compile(r"\s+")
_PARSER = SafeMarkdown()
# Inline tokens whose `content` is text the reader sees; the others are markup.
_TEXT_TOKENS = frozenset({"text", "code_inline", "html_inline"})
# Block tokens that hold their text themselves (not in inline children).
_BLOCK_TEXT_TOKENS = frozenset({"code_block", "fence", "html_block"})


def _words(tokens: Iterable[Token]) -> Iterable[str]:
    for token in tokens:
        if token.children is not None:
            yield from _words(token.children)
        elif token.type in _TEXT_TOKENS or token.type in _BLOCK_TEXT_TOKENS:
            yield token.content
        elif token.type in {"softbreak", "hardbreak"} or (token.block and token.nesting):
            yield " "  # blocks, cells and line breaks part words; emphasis and links do not


def one_line(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def markdown_text(markdown: str) -> str:
    """What a reader sees of `markdown`, on one line."""
    return one_line("".join(_words(_PARSER.parse(markdown))))


def shown_text(content: str, role: str) -> str:
    """A message as plain text: an answer's markdown stripped, a question as typed."""
    return markdown_text(content) if role == "assistant" else one_line(content)


def cut(text: str, limit: int, *, cut_before: bool = False) -> str:
    """`text` in at most `limit` characters, "…" included: cut at the last space that keeps
    at least half of it (else mid-word), the ellipsis added when anything was left out
    (`cut_before`: the text given was already cut short)."""
    if len(text) <= limit and not cut_before:
        return text
    kept = text[: limit - 1] if len(text) >= limit else text
    if len(text) >= limit:
        space = kept.rfind(" ")
        if space >= limit // 2:
            kept = kept[:space]
    return kept.rstrip(" ,;:.-–—") + ELLIPSIS
