"""Text pieces of the ``vrx tail`` views: plugin snapshots and params as key/value rows (nested
values flattened to dotted keys), sparklines, numbers and durations.

Plain text only, no Rich: the live view puts these strings into Rich tables, the plain view prints
them as they are.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from vrx_core.codec import nonfinite_marker, stream_json

#: The bars of a sparkline, lowest to highest.
SPARK_BARS = "▁▂▃▄▅▆▇█"
#: Non-finite values in a sparkline, distinct from every bar: NaN, +Inf, -Inf.
SPARK_NAN, SPARK_POS_INF, SPARK_NEG_INF = "!", "↑", "↓"
#: Characters of one value before any width applies (the views cut to their width as well).
MAX_VALUE = 200
#: Nesting flattened into dotted keys; anything deeper is shown as compact JSON.
MAX_DEPTH = 3


def num(x: float, digits: int = 6) -> str:
    """A float in ``digits`` significant digits; NaN and ±Inf as the log spells them."""
    return nonfinite_marker(x) if not math.isfinite(x) else f"{x:.{digits}g}"


def hms(seconds: float | None) -> str:
    """``H:MM:SS`` (``-`` for unknown)."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def ago(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def truncate(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the cut marked with an ellipsis."""
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: width - 1] + "…"


def sparkline(values: Iterable[float]) -> str:
    """One character per value, scaled between the finite minimum and maximum; NaN ``!``,
    +Inf ``↑``, -Inf ``↓``; a flat series is a row of middle bars."""
    vals = list(values)
    finite = [v for v in vals if math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 0.0)
    span = hi / 2 - lo / 2  # halved: hi - lo can overflow to Inf
    out = []
    for v in vals:
        if math.isnan(v):
            out.append(SPARK_NAN)
        elif math.isinf(v):
            out.append(SPARK_POS_INF if v > 0 else SPARK_NEG_INF)
        elif span <= 0:
            out.append(SPARK_BARS[3])
        else:
            level = int((v / 2 - lo / 2) / span * len(SPARK_BARS))
            out.append(SPARK_BARS[max(0, min(len(SPARK_BARS) - 1, level))])
    return "".join(out)


def scalar(value: Any) -> str:
    """One value as text: numbers compact, ``true``/``false``, ``-`` for null, JSON otherwise."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return num(value)
    if isinstance(value, int):
        return str(value)
    text = value if isinstance(value, str) else stream_json(value).decode()
    return truncate(text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", " "), MAX_VALUE)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _label(items: Sequence[Mapping[str, Any]]) -> str | None:
    """The key that names each item of a list of objects (``name`` or ``id``), if unique."""
    for key in ("name", "id"):
        labels = [item.get(key) for item in items]
        named = all(isinstance(x, str | int) and not isinstance(x, bool) for x in labels)
        if named and len(set(labels)) == len(labels):
            return key
    return None


def _inline(obj: Mapping[str, Any]) -> str:
    """An object on one line: ``k=v k=v`` (nested values as compact JSON)."""
    return " ".join(f"{k}={scalar(v)}" for k, v in obj.items())


def flatten(obj: Mapping[str, Any], prefix: str = "", depth: int = 0) -> list[tuple[str, str]]:
    """Key/value rows of a JSON object: nested objects become dotted keys, a list of scalars one
    comma-separated value, a list of objects one row per item (keyed by its ``name``/``id``, or
    its index) with the item's fields inline; values are cut to :data:`MAX_VALUE` characters."""
    rows: list[tuple[str, str]] = []
    for key, value in obj.items():
        k = f"{prefix}{key}"
        if isinstance(value, Mapping) and value and depth < MAX_DEPTH:
            rows += flatten(value, k + ".", depth + 1)
        elif isinstance(value, list | tuple) and value and all(_is_scalar(v) for v in value):
            rows.append((k, truncate(", ".join(scalar(v) for v in value), MAX_VALUE)))
        elif (
            isinstance(value, list | tuple)
            and value
            and depth < MAX_DEPTH
            and all(isinstance(v, Mapping) for v in value)
        ):
            by = _label(value)
            for i, item in enumerate(value):
                if by is None:
                    rows.append((f"{k}[{i}]", truncate(_inline(item), MAX_VALUE)))
                else:
                    rest = {a: b for a, b in item.items() if a != by}
                    rows.append((f"{k}.{item[by]}", truncate(_inline(rest), MAX_VALUE)))
        else:
            rows.append((k, scalar(value)))
    return rows


def capped(rows: list[tuple[str, str]], limit: int) -> list[tuple[str, str]]:
    """At most ``limit`` rows; the last one says how many were left out."""
    if len(rows) <= limit:
        return rows
    keep = max(0, limit - 1)
    return [*rows[:keep], ("…", f"+{len(rows) - keep} more")]


def kv_lines(rows: list[tuple[str, str]], width: int, indent: str = "") -> list[str]:
    """Rows as aligned ``key  value`` lines no wider than ``width`` (keys up to 32 characters)."""
    if not rows:
        return []
    kw = min(32, max(len(k) for k, _ in rows))
    out = []
    for k, v in rows:
        key = truncate(k, kw).ljust(kw)
        out.append(truncate(f"{indent}{key}  {v}", width).rstrip())
    return out


__all__ = [
    "SPARK_BARS",
    "ago",
    "capped",
    "flatten",
    "hms",
    "kv_lines",
    "num",
    "scalar",
    "sparkline",
    "truncate",
]
