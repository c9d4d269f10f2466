"""Following a live run (``vrx tail`` and ``vrx_core.follow``), in parts a per-rank merge or a live
web view can reuse:

- :mod:`~vrx_core.follow.watch`: change watching (inotify, polling, network file system detection)
- :mod:`~vrx_core.follow.cursor`: the checked incremental read of a log and its saveable ``Position``
- :mod:`~vrx_core.follow.liveness`: the heartbeat and the dead-writer rule
- :mod:`~vrx_core.follow.alerts`, :mod:`~vrx_core.follow.core_alerts`: alert rules
  (``vrx_alert_rules``), the core's NaN/OOM/error/stall rules among them
- :mod:`~vrx_core.follow.pipeline`: events to derivers and alert rules, snapshots
- :mod:`~vrx_core.follow.stream`: what a follower yields and its JSON form
- :mod:`~vrx_core.follow.follower`: :class:`Follower`, which composes them, and :func:`follow`
- :mod:`~vrx_core.follow.ranks`, :mod:`~vrx_core.follow.rank_log`: :class:`RankedFollower`, the same
  parts per rank of a multi-rank run, merged by ``(t, rank, seq)`` up to the low watermark
- :mod:`~vrx_core.follow.choose`: which of the two a run needs (``make_follower``)

Importing any of these makes Python bind this package as ``vrx_core.follow``, where the public API
promises the function :func:`~vrx_core.follow.follower.follow`; so the package can be called as it.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallablePackage(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from vrx_core.follow.follower import follow

        return follow(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
