"""System prompts: which file serves a tenant, and a cache that re-reads a file only when it
changes.

A tenant's prompt is its configured `prompt_file`, else `<prompts.directory>/<slug>.txt`,
else `prompts.default_file`. A file is read once and kept with its modification time and
size; a later edit is picked up at the next chat without a restart. The default must exist
when the service starts; if every candidate is gone later, chat answers 500.
"""

from __future__ import annotations

import logging
from pathlib import Path

from cip import errors
from cip.config import PromptsConfig

log = logging.getLogger(__name__)


class PromptMissing(Exception):
    """The default system prompt file does not exist: the service cannot start."""


class Prompts:
    def __init__(self, settings: PromptsConfig) -> None:
        self._settings = settings
        self._cache: dict[Path, tuple[tuple[int, int], str]] = {}

    def require_default(self) -> None:
        """The service must not start without the default prompt."""
        if self.read(self._settings.default_file) is None:
            raise PromptMissing(
                f"prompts.default_file: {self._settings.default_file} not found "
                "(set it or PROMPT_FILE)"
            )

    def candidates(self, slug: str, prompt_file: Path | None) -> list[Path]:
        own = [prompt_file] if prompt_file else []
        return [*own, self._settings.directory / f"{slug}.txt", self._settings.default_file]

    def for_tenant(self, slug: str, prompt_file: Path | None = None) -> str:
        for path in self.candidates(slug, prompt_file):
            text = self.read(path)
            if text is not None:
                return text
        log.error("no system prompt for tenant %s: %s missing", slug, self._settings.default_file)
        raise errors.InternalError(errors.PROMPT_MISSING, code="prompt_missing")

    def read(self, path: Path) -> str | None:
        """The file's text, from the cache while it is unchanged; None when it is missing."""
        try:
            stat = path.stat()
        except OSError:
            return None
        version = (stat.st_mtime_ns, stat.st_size)
        cached = self._cache.get(path)
        if cached is not None and cached[0] == version:
            return cached[1]
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        self._cache[path] = (version, text)
        return text
