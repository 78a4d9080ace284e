"""Small shared UI helpers."""
from __future__ import annotations

import re

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def escape_markdown(text: object) -> str:
    """User-typed text shown inside Markdown (titles, captions) appears as typed, never as formatting."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", str(text))
