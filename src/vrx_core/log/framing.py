"""Line framing of ``events.jsonl`` (format 1.0, docs/log-format.md).

A committed line looks like::

    {"seq":7,"t":1764071000.123456,"v":1,"type":"metric","name":"loss","value":0.25,"crc":"9ab5f6e8"}\\n

* the ``\\n`` is the commit marker: bytes after the last one are not part of the log;
* ``seq`` is dense from 0; ``t`` is the writer's wall clock; ``v`` the kind's schema version;
* ``crc`` is always the last key, 8 lowercase hex digits: CRC-32 of every byte before
  ``,"crc"``, seeded with the CRC of line 0 (the salt), so a line pasted from another run fails.

This module only turns events into framed bytes and checks framed bytes; it does no I/O.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import msgspec

from vrx_core.codec import nonfinite_marker, with_plain_numbers
from vrx_core.errors import InvalidEvent
from vrx_core.events import WRITER_KINDS, Event, EventRegistry, KindInfo, UnknownEvent

FORMAT_MAJOR: Final = 1
FORMAT_MINOR: Final = 0
MAX_LINE_BYTES: Final = 1 << 20
MAX_DEPTH: Final = 32
CRC_SUFFIX_LEN: Final = len(b',"crc":"00000000"}')


ENVELOPE_RE: Final = re.compile(
    rb'\{"seq":(0|[1-9][0-9]{0,18}),"t":(-?[0-9][0-9.eE+-]{0,30}),"v":([1-9][0-9]{0,5}),'
    rb'"type":"([a-z][a-z0-9_.]{0,127})"(?:[,}]|$)'  # $: a kind whose fields are all defaults
)


_SEQ_DEFAULT, _T_DEFAULT, _ = Event.__struct_defaults__


def crc_of(prefix: bytes, salt: int) -> int:
    return zlib.crc32(prefix, salt)


# The two format strings of a line; frame() spells them out (constants), the writer's generated
# framers (_framer_lines) use these.
_HEAD: Final = b'{"seq":%d,"t":%.6f,"v":%d,%s'
_TAIL: Final = b'%s,"crc":"%08x"}\n'


def frame(seq: int, t: float, version: int, body: bytes, salt: int) -> bytes:
    """Wrap an encoded event body (``{"type":...}``) into a committed line."""
    prefix = b'{"seq":%d,"t":%.6f,"v":%d,%s' % (seq, t, version, body[1:-1])  # = _HEAD
    return b'%s,"crc":"%08x"}\n' % (prefix, zlib.crc32(prefix, salt))  # = _TAIL


def split_crc(line: bytes) -> tuple[bytes, int] | None:
    """Return (prefix, stored crc) of a line without its ``\\n``, or None if the suffix is malformed.

    The hex digits must be exactly 8 lowercase ones: ``int(x, 16)`` alone would also accept
    spaces, ``_``, ``+`` and upper case, so the value is formatted back and compared.
    """
    if line[-18:-10] != b',"crc":"' or line[-2:] != b'"}':
        return None
    digits = line[-10:-2]
    try:
        value = int(digits, 16)
    except ValueError:
        return None
    if b"%08x" % value != digits:
        return None
    return line[:-18], value


@dataclass(frozen=True)
class FieldCheck:
    """A cheap isinstance check of one flat field, run on every emit."""

    name: str
    types: tuple[type, ...]
    allow_bool: bool
    literals: frozenset[object] | None


def _checks_for(info: KindInfo) -> tuple[FieldCheck, ...]:
    import types as _types
    import typing

    hints = typing.get_type_hints(info.cls)
    out: list[FieldCheck] = []
    for name in sorted(info.fields):
        tp = hints[name]
        args = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, _types.UnionType) else (tp,)
        allowed: list[type] = []
        literals: set[object] = set()
        for a in args:
            if typing.get_origin(a) is typing.Literal:
                literals.update(typing.get_args(a))
            elif a is float:
                allowed += [float, int]
            elif a is type(None):
                allowed.append(type(None))
            else:
                allowed.append(a)
        out.append(
            FieldCheck(
                name=name,
                types=tuple(allowed),
                allow_bool=bool in args,
                literals=frozenset(literals) if literals else None,
            )
        )
    return tuple(out)


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


class EventEncoder:
    """Validates events against their kind and the log limits, and encodes them to bodies.

    "Never write what you cannot read": every value that could not be decoded back by the reader
    is refused here, with the path of the field, before anything reaches the file.
    """

    def __init__(
        self,
        registry: EventRegistry,
        *,
        max_line_bytes: int = MAX_LINE_BYTES,
        max_depth: int = MAX_DEPTH,
    ) -> None:
        self.registry = registry
        self.max_line_bytes = max_line_bytes
        self.max_depth = max_depth
        self._enc = msgspec.json.Encoder()
        self._checks: dict[type[Event], tuple[FieldCheck, ...]] = {}
        self._fast: dict[type[Any], tuple[KindInfo, Callable[[Any], bool]] | None] = {}

    def encode(self, event: Event, *, internal: bool = False) -> tuple[KindInfo, bytes]:
        """Return the kind and the JSON body (``{"type":...,...}``) of ``event``."""
        cls = event.__class__
        fast = self._fast.get(cls, _UNSET)
        if fast is _UNSET:
            fast = self._fast[cls] = self._fast_spec(cls)
        if fast is not None and fast[1](event):
            return fast[0], self._encode_bytes(fast[0], event)
        return self._encode_checked(event, internal)

    def framer(self, cls: type[Any]) -> Callable[[Any, int, float, int], bytes | None] | None:
        """The writer's hot path for one kind: ``framer(event, seq, t, salt)`` returns exactly
        ``frame(seq, t, version, body, salt)`` of what :meth:`encode` would return, or None when the
        event needs the full path (anything unusual, an encoding error, which the full path
        raises with its precise message, or a line over ``max_line_bytes``, which the full path
        refuses naming the field). None for kinds that have no fast path at all.

        It is the fast check, the encode and the framing as one generated function: on a
        per-event path of a few microseconds, each Python call saved is measurable.
        """
        source = self.framer_source(cls, "None")
        if source is None:
            return None
        lines, env = source
        code = ["def framer(ev, seq, t, salt):", *lines, "    return line"]
        exec(compile("\n".join(code), f"<vrx framer {cls.__name__}>", "exec"), env)
        framer: Callable[[Any, int, float, int], bytes | None] = env["framer"]
        return framer

    def framer_source(
        self, cls: type[Any], fail: str, prefix: str = ""
    ) -> tuple[list[str], dict[str, Any]] | None:
        """The code of :meth:`framer`, for a caller that inlines it into its own generated function:
        lines (indented 4) that read ``ev``, ``seq``, ``t`` and ``salt`` and set ``line``, or
        ``return <fail>``; and the globals they need, their names starting with ``prefix``."""
        fast = self._fast.get(cls, _UNSET)
        if fast is _UNSET:
            fast = self._fast[cls] = self._fast_spec(cls)
        if fast is None:
            return None
        info, check = fast
        fields = check.__vrx_fields__
        env: dict[str, Any] = {}
        lines = _framer_lines(
            fields,
            version=info.version,
            encode=self._enc.encode,
            max_line=self.max_line_bytes,
            env=env,
            fail=fail,
            p=prefix,
        )
        return lines, env

    def _fast_spec(self, cls: type[Any]) -> tuple[KindInfo, Callable[[Any], bool]] | None:
        """For a user-emittable flat kind: per field, the exact classes that need no further check."""
        if not (isinstance(cls, type) and issubclass(cls, Event)):
            return None
        info = self.registry.info_for(cls)
        if not info.flat or info.tag in WRITER_KINDS:
            return None
        fields = []
        for c in _checks_for(info):
            exact = frozenset(t for t in c.types if t is not float) | ({bool} if c.allow_bool else set())
            str_literals = frozenset(x for x in c.literals or () if isinstance(x, str)) or None
            fields.append(_FastField(c.name, exact, float in c.types, str_literals))
        return info, _compile_fast_check(tuple(fields))

    def _encode_checked(self, event: Event, internal: bool) -> tuple[KindInfo, bytes]:
        """The full path: every check with a precise error, non-finite floats, containers."""
        if isinstance(event, UnknownEvent):
            raise InvalidEvent(
                f"cannot record an event of unknown kind {event.type!r}: install the plugin that defines it"
            )
        if not isinstance(event, Event):
            raise InvalidEvent(f"expected a vrx_core.events.Event, got {type(event).__name__}")
        info = self.registry.info_for(type(event))
        if info.tag in WRITER_KINDS and not internal:
            raise InvalidEvent(f"{info.tag!r} events are written by the recorder itself", field="$.type")
        if event.seq != -1 or event.t != 0.0 or event.rank is not None:
            # The defaults' own objects: msgspec omits a default by identity, and a fresh 0.0
            # would put a second "t" into the line (the reader keeps the last one). A rank is
            # never written: an event read from a multi-rank run carries the rank of its log.
            event = msgspec.structs.replace(event, seq=_SEQ_DEFAULT, t=_T_DEFAULT, rank=None)
        event = with_plain_numbers(event)  # numpy/torch scalars, as training loops produce them
        if info.flat:
            self._check_flat(info, event)
            if all(
                math.isfinite(getattr(event, f)) for f in info.float_fields if getattr(event, f) is not None
            ):
                return info, self._encode_bytes(info, event)
        return info, self._encode_slow(info, event)

    def _check_flat(self, info: KindInfo, event: Event) -> None:
        checks = self._checks.get(info.cls)
        if checks is None:
            checks = self._checks[info.cls] = _checks_for(info)
        for c in checks:
            value = getattr(event, c.name)
            if c.literals is not None and value in c.literals and type(value) is not bool:
                continue
            if isinstance(value, bool) and not c.allow_bool:
                raise InvalidEvent(f"{info.tag}: expected {_expected(c)}, got bool", field=f"$.{c.name}")
            if not isinstance(value, c.types):
                raise InvalidEvent(
                    f"{info.tag}: expected {_expected(c)}, got {_type_name(value)}", field=f"$.{c.name}"
                )

    def _encode_bytes(self, info: KindInfo, obj: Any) -> bytes:
        try:
            return self._enc.encode(obj)
        except UnicodeEncodeError:
            raise InvalidEvent(
                f"{info.tag}: string is not valid Unicode (lone surrogate)", field=_find_bad_str(obj)
            ) from None
        except (msgspec.EncodeError, TypeError, OverflowError) as exc:
            raise InvalidEvent(f"{info.tag}: {exc}") from None

    def _encode_slow(self, info: KindInfo, event: Event) -> bytes:
        try:
            data = msgspec.to_builtins(event)
        except (TypeError, msgspec.EncodeError) as exc:
            raise InvalidEvent(f"{info.tag}: {exc}") from None
        except UnicodeEncodeError:
            raise InvalidEvent(
                f"{info.tag}: string is not valid Unicode (lone surrogate)", field=_find_bad_str(event)
            ) from None
        if not isinstance(data, dict):
            raise InvalidEvent(f"{info.tag}: event did not encode to an object")
        for name in info.float_fields:
            x = data.get(name)
            if isinstance(x, float) and not math.isfinite(x):
                data[name] = nonfinite_marker(x)
        for key, value in data.items():
            if key not in info.float_fields:
                self._walk(info, value, f"$.{key}", 1)
        # Round-trip through the kind's decoder: the reader will accept exactly what passes here.
        try:
            msgspec.convert(data, info.cls, strict=False)
        except msgspec.ValidationError as exc:
            raise InvalidEvent(f"{info.tag}: {exc}") from None
        return self._encode_bytes(info, data)

    def _walk(self, info: KindInfo, value: Any, path: str, depth: int) -> None:
        if depth > self.max_depth:
            raise InvalidEvent(f"{info.tag}: nested deeper than {self.max_depth} levels", field=path)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise InvalidEvent(
                    f"{info.tag}: non-finite float {value!r} is only allowed in a float field of the kind;"
                    " free-form values must be finite",
                    field=path,
                )
        elif isinstance(value, dict):
            for k, v in value.items():
                self._walk(info, v, f"{path}.{k}", depth + 1)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                self._walk(info, v, f"{path}[{i}]", depth + 1)

    def check_size(self, info: KindInfo, event: Event, line: bytes) -> None:
        """Refuse a framed line over the limit, naming its largest field."""
        if len(line) <= self.max_line_bytes:
            return
        sizes = {
            name: len(self._enc.encode(getattr(event, name)))
            for name in info.fields
            if _encodable(self._enc, getattr(event, name))
        }
        biggest = max(sizes, key=lambda n: sizes[n]) if sizes else None
        raise InvalidEvent(
            f"{info.tag}: line of {len(line)} bytes exceeds the {self.max_line_bytes}-byte limit"
            " (store large payloads as files and record an artifact event)",
            field=f"$.{biggest}" if biggest else None,
        )


class _FastField(NamedTuple):
    name: str
    exact: frozenset[type]
    float_ok: bool
    str_literals: frozenset[str] | None


_UNSET: Any = object()


def _compile_fast_check(fields: tuple[_FastField, ...]) -> Callable[[Any], bool]:
    """Build ``check(event) -> bool``: True when every field has an exactly expected class (finite
    if float) and seq/t/rank are unset, so the event can be encoded without the full validation.

    This is the per-event hot path of ``emit``; the check is generated as straight-line code
    because a generic loop over fields costs several times more. Anything unusual (a subclass of
    str, a non-finite float, a literal outside its set, a re-emitted event) returns False and takes
    the full path, which raises the precise error.
    """
    env: dict[str, Any] = {}
    lines = ["def check(ev):", *_fast_check_lines(fields, env, "False"), "    return True"]
    exec(compile("\n".join(lines), f"<vrx fast check {len(fields)} fields>", "exec"), env)
    check: Callable[[Any], bool] = env["check"]
    check.__vrx_fields__ = fields  # type: ignore[attr-defined]
    return check


def _fast_check_lines(
    fields: tuple[_FastField, ...], env: dict[str, Any], fail: str, p: str = ""
) -> list[str]:
    """The body of the fast check: ``return <fail>`` for anything that needs the full path.

    Per field: its exact class must be one of ``exact`` (a float also when ``float_ok``, and then
    finite: ``v - v`` is 0.0 for a finite float, NaN, which is true, for NaN and the infinities);
    a string that must be one of some literals must be one of them.
    """
    lines = [f"    if ev.seq != -1 or ev.t != 0.0 or ev.rank is not None: return {fail}"]
    for i, f in enumerate(fields):
        # `exact` never holds float (floats are float_ok's business); `c is X` beats `c in set`.
        names = []
        for j, tp in enumerate(sorted(f.exact, key=lambda tp: (tp is not str, tp.__qualname__))):
            env[f"{p}T{i}_{j}"] = tp
            names.append(f"{p}T{i}_{j}")
        not_exact = " and ".join(f"c is not {n}" for n in names) or "True"
        if f.float_ok or f.str_literals is not None or len(names) != 1:
            lines += [f"    v = ev.{f.name}", "    c = type(v)"]
        else:  # the common single-class field, without the temporaries
            lines.append(f"    if type(ev.{f.name}) is not {names[0]}: return {fail}")
            continue
        if f.float_ok:
            lines += [
                "    if c is float:",
                f"        if v - v: return {fail}",
                f"    elif {not_exact}: return {fail}",
            ]
        else:
            lines.append(f"    if {not_exact}: return {fail}")
        if f.str_literals is not None:
            env[f"{p}L{i}"] = f.str_literals
            lines.append(f"    if c is str and v not in {p}L{i}: return {fail}")
    return lines


#: Below this the clock window is not used (nor needed: no real clock reads so little).
_WINDOW_MIN_T: Final = 8192.0


def _framer_lines(
    fields: tuple[_FastField, ...],
    *,
    version: int,
    encode: Callable[[Any], bytes],
    max_line: int,
    env: dict[str, Any],
    fail: str,
    p: str = "",
) -> list[str]:
    """The fast check of ``ev``, then its line framed from ``seq``, ``t`` and ``salt``, byte for byte
    what :func:`frame` builds, into ``line``; ``return <fail>`` when the check fails, the encoder
    raises or the line is longer than ``max_line``, so the caller takes the full path.

    ``t`` is formatted through a 10-second window: ``%.6f`` of ``t - base`` (``base`` a multiple of
    10 at or below ``t``) after the window's digits ``base // 10``. It is the same text: ``t - base``
    is exact (Sterbenz: ``base <= t <= 2 * base``), and rounding to 6 decimals commutes with adding
    an integer (same grid, same half-even tie on the same last digit); it is ~2x cheaper, since
    CPython's dtoa takes its slow bignum path for the 16 digits of ``%.6f`` of a Unix time but not
    for the 7 of a value below 10. Outside the window (a carry to 10.000000, a jump of the clock),
    :func:`_slow_prefix` moves the window or formats ``t`` whole.
    """
    v = b"%d" % int(version)
    plain = _HEAD.replace(b"%d,%s", v + b",%s", 1)  # the version as a literal
    win: list[tuple[float, bytes]] = [(float("inf"), b"")]  # (base, head with base // 10 in it)

    def make_head(base: int) -> bytes:
        return b'{"seq":%%d,"t":%d%%s,"v":%s,%%s' % (base // 10, v)

    env[f"{p}encode"] = encode
    env[f"{p}crc32"] = zlib.crc32
    env[f"{p}WIN"] = win
    env[f"{p}slow"] = lambda seq, t, mid: _slow_prefix(seq, t, mid, win=win, plain=plain, make_head=make_head)
    return [
        *_fast_check_lines(fields, env, fail, p),
        "    try:",
        f"        body = {p}encode(ev)",
        "    except Exception:",
        f"        return {fail}",
        f"    base, head = {p}WIN[0]",
        "    d = t - base",
        "    if 0.0 <= d < 9.99:",
        "        prefix = head % (seq, b'%.6f' % d, body[1:-1])",
        "    else:",
        f"        prefix = {p}slow(seq, t, body[1:-1])",
        f"    if len(prefix) > {int(max_line) - CRC_SUFFIX_LEN - 1}: return {fail}",
        f"    line = {_TAIL!r} % (prefix, {p}crc32(prefix, salt))",
    ]


def _slow_prefix(
    seq: int,
    t: float,
    mid: bytes,
    *,
    win: list[tuple[float, bytes]],
    plain: bytes,
    make_head: Callable[[int], bytes],
) -> bytes:
    """The framer's prefix when ``t`` is outside its window: move the window there, or (a clock
    before 1970-01-01T02:16:32Z, NaN, infinities) format ``t`` as :func:`frame` does."""
    if _WINDOW_MIN_T <= t < 1e15:
        base = int(t) // 10 * 10
        win[0] = entry = (float(base), make_head(base))  # one tuple: atomic for other threads
        d = t - entry[0]
        if 0.0 <= d < 9.99:
            return entry[1] % (seq, b"%.6f" % d, mid)
    return plain % (seq, t, mid)


def _expected(c: FieldCheck) -> str:
    names = [
        ("null" if t is type(None) else t.__name__) for t in c.types if t is not int or float not in c.types
    ]
    if c.literals:
        names += [repr(x) for x in sorted(c.literals, key=repr)]
    return " | ".join(names)


def _encodable(enc: msgspec.json.Encoder, value: object) -> bool:
    try:
        enc.encode(value)
    except (msgspec.EncodeError, TypeError, UnicodeEncodeError, OverflowError):
        return False
    return True


def _find_bad_str(obj: Any, path: str = "$") -> str:
    """Path of the first string that cannot be encoded as UTF-8 (a lone surrogate)."""
    if isinstance(obj, str):
        try:
            obj.encode("utf-8")
        except UnicodeEncodeError:
            return path
        return ""
    if isinstance(obj, msgspec.Struct):
        obj = {f: getattr(obj, f) for f in obj.__struct_fields__}
    if isinstance(obj, dict):
        for k, v in obj.items():
            for cand, p in ((k, f"{path}.<key {k!r}>"), (v, f"{path}.{k}")):
                found = _find_bad_str(cand, p)
                if found:
                    return found
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            found = _find_bad_str(v, f"{path}[{i}]")
            if found:
                return found
    return ""
