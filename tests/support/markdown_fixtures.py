"""The markdown both renderers are checked with (tests/fixtures/markdown.json): tables,
strikethrough, autolinks, lists, code, quotes, Russian text, and the unsafe inputs, each of
those with the HTML it must come out as."""

from __future__ import annotations

import json
from typing import TypedDict

from support.database import ROOT


class MarkdownFixture(TypedDict, total=False):
    name: str
    markdown: str
    html: str  # for the unsafe inputs: the exact safe rendering


FIXTURES: list[MarkdownFixture] = json.loads(
    (ROOT / "tests/fixtures/markdown.json").read_text(encoding="utf-8")
)
UNSAFE = [(fixture["markdown"], fixture["html"]) for fixture in FIXTURES if "html" in fixture]
