"""The outputs of ``vrx tail``: the live Rich view on a terminal, plain lines, JSON lines and raw
events. Each turns what the follower yields (folded into a :class:`TailState`) into output.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any

import msgspec

from vrx_core.cli.render import event_json_line, event_row
from vrx_core.cli.tail_format import capped, flatten, kv_lines
from vrx_core.cli.tail_ranks import first_new_seq
from vrx_core.cli.tail_view import Progress, TailState, render_view
from vrx_core.events import AnyEvent, event_tag
from vrx_core.follow.stream import Notice, Snapshot, TailItem, event_json

# -- outputs ---------------------------------------------------------------------------------------


class _Output:
    """How ``vrx tail`` prints: one of events, JSON lines, plain lines or the live view."""

    tick_s = 1.0
    #: Seconds between two ``progress`` notices (plain and JSON lines), while the run goes on.
    progress_every_s = 5.0

    def __init__(self, state: TailState, args: argparse.Namespace) -> None:
        self._progress_at = -math.inf
        self._progress_seen: tuple[int, int] | None = None
        self.state = state
        self.types: set[str] = set(args.types)
        self.from_start: bool = args.from_start
        self.once_only: bool = args.once and not args.events
        self.out = sys.stdout

    def wanted(self, ev: AnyEvent) -> bool:
        if not self.from_start:
            first = first_new_seq(self.state.follower, ev)  # in a multi-rank run, of ev's rank
            if first is None or ev.seq < first:
                return False
        return not self.types or event_tag(ev) in self.types

    def handle(self, items: Sequence[TailItem]) -> None:
        for item in items:
            self.state.update(item)
            if self.streams:
                self.item(item)
        if items:
            self.out.flush()

    @property
    def streams(self) -> bool:
        """Whether items are printed as they come (``--once`` prints only the state, but --events)."""
        return not self.once_only

    def item(self, item: TailItem) -> None:
        raise NotImplementedError

    def tick(self) -> None:
        """Called at least every ``tick_s`` seconds."""

    def progress_due(self) -> Progress | None:
        """The run's progress when a ``progress`` notice is due: it changed, the history has been
        read, the run has not ended (the end shows it anyway), and the last notice is
        ``progress_every_s`` old."""
        state = self.state
        p = state.progress()
        if p is None or state.run_end is not None or not state.follower.caught_up:
            return None
        if (p.done, p.total) == self._progress_seen:
            return None
        now = time.monotonic()
        if now - self._progress_at < self.progress_every_s:
            return None
        self._progress_at, self._progress_seen = now, (p.done, p.total)
        return p

    def once(self) -> None:
        """Print the state (``--once``)."""

    def finish(self, reason: str, code: int, message: str | None) -> None:
        """The tail is over: ``reason`` is ended, dead, timeout, log_changed, corrupt, ..."""

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.out.flush()

    def __enter__(self) -> _Output:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _label(item: Notice) -> str:
    """The notice's kind, and the plugin whose alert rules raised it."""
    return item.kind if item.plugin is None else f"{item.kind} ({item.plugin})"


def _stderr_notice(item: Notice) -> None:
    if item.level == "warning" or item.kind in ("waiting", "found", "replaced"):
        by = f"{item.plugin}: " if item.plugin is not None else ""
        print(
            f"vrx: {'warning: ' if item.level == 'warning' else ''}{by}{item.message}",
            file=sys.stderr,
            flush=True,
        )


class _EventsOutput(_Output):
    """``--events``: each event as a table row (or a JSON line with ``--json``), nothing else."""

    def __init__(self, state: TailState, args: argparse.Namespace) -> None:
        super().__init__(state, args)
        self.json: bool = args.json

    def item(self, item: TailItem) -> None:
        if isinstance(item, Notice):
            _stderr_notice(item)
        elif not isinstance(item, Snapshot) and self.wanted(item):
            self.out.write(event_json_line(item) if self.json else event_row(item))


class _JsonOutput(_Output):
    """``--json``: one object per update: event, snapshot, notice, and a final end (or state)."""

    def item(self, item: TailItem) -> None:
        if isinstance(item, Snapshot | Notice):
            self._write(item.to_json())
        elif self.wanted(item):
            self._write({"kind": "event", "event": event_json(item)})

    def _write(self, obj: dict[str, Any]) -> None:
        self.out.write(msgspec.json.encode(obj).decode() + "\n")

    def tick(self) -> None:
        p = self.progress_due() if self.streams else None
        if p is not None:
            self._write(
                {
                    "kind": "notice",
                    "notice": "progress",
                    "level": "info",
                    "seq": self.state.last_seq,
                    "message": p.text(),
                    "progress": self.state.progress_json(),
                }
            )
            self.out.flush()

    def once(self) -> None:
        self._write(self.state.to_json())

    def finish(self, reason: str, code: int, message: str | None) -> None:
        end: dict[str, Any] = {
            "kind": "end",
            "reason": reason,
            "exit": code,
            "last_seq": self.state.last_seq,
            "message": message,
        }
        progress = self.state.progress_json()
        if progress is not None:  # only runs with a plan: the end of any other run is unchanged
            end["progress"] = progress
        self._write(end)
        self.out.flush()


class _PlainOutput(_Output):
    """Not a terminal: event rows, warnings and plugin snapshots (at most every 5 s) as lines."""

    snapshot_every_s = 5.0

    def __init__(self, state: TailState, args: argparse.Namespace) -> None:
        super().__init__(state, args)
        self._snap_at: dict[str, float] = {}
        self._pending: set[str] = set()

    def item(self, item: TailItem) -> None:
        if isinstance(item, Notice):
            mark = "!" if item.level == "warning" else "--"
            self.out.write(f"{mark} {_label(item)}: {item.message}\n")
        elif isinstance(item, Snapshot):
            self._pending.update(item.changed)
            self.tick()
        elif self.wanted(item):
            self.out.write(event_row(item))

    def tick(self) -> None:
        now = time.monotonic()
        width = _width()
        for name in sorted(self._pending):
            if now - self._snap_at.get(name, -math.inf) >= self.snapshot_every_s:
                self._snap_at[name] = now
                self._pending.discard(name)
                snap = self.state.snapshots.get(name)
                if snap:  # a plugin with nothing to say about this run prints nothing
                    rows = kv_lines(capped(flatten(snap), 40), width, "     ")
                    self.out.write(f"   [{name}]\n" + "".join(line + "\n" for line in rows))
        p = self.progress_due()
        if p is not None:
            self.out.write(f"-- progress: {p.text()}\n")
        self.out.flush()

    def once(self) -> None:
        self.out.write("\n".join(self.state.summary_lines(_width())) + "\n")

    def finish(self, reason: str, code: int, message: str | None) -> None:
        if self.state.follower.exists:
            self.out.write("-- " + "\n   ".join(self.state.summary_lines(_width() - 3)) + "\n")
            self.out.flush()


def _width() -> int:
    """Columns for plain lines: the terminal's, ``COLUMNS``, or 80 when piped."""
    return max(40, shutil.get_terminal_size((80, 24)).columns)


class _LiveOutput(_Output):
    """A terminal: the Rich live view, refreshed on new events (at most 10 times a second)."""

    tick_s = 0.25

    def __init__(self, state: TailState, args: argparse.Namespace, console: Any) -> None:
        super().__init__(state, args)
        self.console = console
        self.live: Any = None
        self._shown = 0.0
        self._restore_echo: Callable[[], None] | None = None

    def item(self, item: TailItem) -> None:
        self.state.update(item)

    def handle(self, items: Sequence[TailItem]) -> None:
        for item in items:
            self.state.update(item)
        if items and not self.once_only and time.monotonic() - self._shown >= 0.1:
            self.tick()

    def tick(self) -> None:
        if self.once_only:
            return
        self._shown = time.monotonic()
        with _no_sigint():  # a Ctrl-C mid-frame would leave half a frame for stop() to redraw below
            if self.live is None:
                from rich.live import Live

                self._restore_echo = _echo_off()
                self.live = Live(
                    render_view(self.state), console=self.console, auto_refresh=False, redirect_stderr=False
                )
                self.live.start(refresh=True)
            else:
                self.live.update(render_view(self.state), refresh=True)

    def once(self) -> None:
        self.console.print(render_view(self.state))

    def finish(self, reason: str, code: int, message: str | None) -> None:
        if self.live is not None:
            with _no_sigint():
                self.live.update(render_view(self.state), refresh=True)

    def close(self) -> None:
        """Stop the live view, once: its last frame stays on the screen, the cursor below it."""
        live, self.live = self.live, None
        restore, self._restore_echo = self._restore_echo, None
        try:
            if live is not None:
                with _no_sigint():
                    live.stop()
        finally:
            if restore is not None:
                restore()
            super().close()


@contextlib.contextmanager
def _no_sigint() -> Iterator[None]:
    """Hold SIGINT back while a frame is written: Ctrl-C lands after it. (A tail has no other
    thread that could take the signal instead.)"""
    mask = getattr(signal, "pthread_sigmask", None)
    if mask is None:
        yield
        return
    old = mask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        mask(signal.SIG_SETMASK, old)


def _echo_off() -> Callable[[], None] | None:
    """Stop the terminal on stdin echoing keys while the live view is shown, and return what
    restores it. An echoed ``^C`` (or Enter) moves the cursor, and a full-width frame's last
    line then wraps, so Rich redraws the last frame a line too low, under a second top border."""
    try:
        import termios

        fd = sys.stdin.fileno()
        if not os.isatty(fd):
            return None
        old = termios.tcgetattr(fd)
        new = list(old)
        new[3] &= ~termios.ECHO  # lflag; with ECHO off, ECHOCTL (^C) is off too
        termios.tcsetattr(fd, termios.TCSANOW, new)
    except Exception:  # no termios (not POSIX), no usable stdin, termios.error
        return None

    def restore() -> None:
        with contextlib.suppress(Exception):
            termios.tcsetattr(fd, termios.TCSANOW, old)

    return restore


def make_output(args: argparse.Namespace, state: TailState) -> _Output:
    """The output ``args`` ask for (the live view only on a capable terminal)."""
    if args.events:
        return _EventsOutput(state, args)
    if args.json:
        return _JsonOutput(state, args)
    if not args.plain:
        from rich.console import Console

        console = Console()
        if console.is_terminal and not console.is_dumb_terminal:
            return _LiveOutput(state, args, console)
    return _PlainOutput(state, args)


__all__ = ["make_output"]
