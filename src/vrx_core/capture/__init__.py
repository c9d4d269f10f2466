"""What a run records about itself at its start: git state, environment, configuration.

Collected once by :class:`vrx_core.Recorder` (``environment=`` / ``config=`` / ``layout=``) and
recorded as the ``environment`` and ``config`` events; plugins read those events instead of asking
the machine again (the GPU probe's ``env.json`` is built from the same collection). Nothing here
raises for a missing git, torch or GPU: a fact that cannot be read is None plus a reason.
"""
