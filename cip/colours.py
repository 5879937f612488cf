"""Colours of a tenant's brand: WCAG 2 contrast, and the text colour that reads on an accent.

An accent colour is a button's background with text on it, and a link's colour on the page.
The text on it is white or the pages' dark text, whichever contrasts more; an accent on
which neither reaches WCAG AA for normal text (4.5:1) is refused when the config is loaded.
"""

from __future__ import annotations

import re

HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
WHITE = "#ffffff"
DARK_TEXT = "#1c1f24"  # the pages' own text colour (static/css/app.css, --text)
DARK_SURFACE = "#1e2127"  # a message's background in the dark theme (--surface)
LIGHT_LINK_ON_DARK = "#9dbaff"  # links in the dark theme when the accent is too dark there
AA_NORMAL_TEXT = 4.5


def luminance(colour: str) -> float:
    """The relative luminance of `#rrggbb` (WCAG 2)."""

    def channel(hex_pair: str) -> float:
        value = int(hex_pair, 16) / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (channel(colour[at : at + 2]) for at in (1, 3, 5))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(first: str, second: str) -> float:
    """The WCAG 2 contrast ratio of two `#rrggbb` colours, 1 to 21."""
    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def text_on(accent: str) -> str:
    """White or the dark text, whichever reads better on `accent`."""
    return WHITE if contrast(accent, WHITE) >= contrast(accent, DARK_TEXT) else DARK_TEXT


def accent_problem(accent: str) -> str | None:
    """Why `accent` cannot carry text (WCAG AA), or None when it can."""
    on_white, on_dark = contrast(accent, WHITE), contrast(accent, DARK_TEXT)
    if max(on_white, on_dark) >= AA_NORMAL_TEXT:
        return None
    return (
        f"{accent} fails WCAG AA for the text on it: {on_white:.2f}:1 with white text, "
        f"{on_dark:.2f}:1 with dark text ({DARK_TEXT}); {AA_NORMAL_TEXT}:1 is needed"
    )


def link_colours(accent: str) -> tuple[str, str]:
    """The accent as a link colour on the light theme's white and on the dark theme's
    surface, where it reads there (AA); else the theme's own text or link colour."""
    on_light = accent if contrast(accent, WHITE) >= AA_NORMAL_TEXT else DARK_TEXT
    on_dark = accent if contrast(accent, DARK_SURFACE) >= AA_NORMAL_TEXT else LIGHT_LINK_ON_DARK
    return on_light, on_dark
