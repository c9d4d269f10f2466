"""Following a live run: change watching, the checked incremental cursor, liveness, alerts, and
the follower that composes them (``vrx tail`` and ``vrx_core.follow``)."""
