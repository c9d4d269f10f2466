"""The string escaping of the labops JSON writers, which every byte-exact bundle file uses."""

from __future__ import annotations

import re

_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f]')


def json_escape(text: str) -> str:
    """The labops ``EscapeJson``: short escapes, ``\\u00XX`` for other C0 controls, UTF-8 as is."""
    return _NEEDS_ESCAPE.sub(lambda m: _SHORT_ESCAPES.get(m.group(), f"\\u{ord(m.group()):04x}"), text)


def utf8_key(text: str) -> bytes:
    """Sort key for labops' bytewise ordering of keys and paths."""
    return text.encode()
