"""The plugin contract: hook specifications, the objects plugins receive, and the plugin manager.

- :mod:`~vrx_core.hooks.specs`: every hook, documented like pytest's (``hookimpl`` lives here)
- :mod:`~vrx_core.hooks.api`: what plugins implement and receive (``Deriver``, ``ReplayContext``,
  ``DerivedFiles``, ...)
- :mod:`~vrx_core.hooks.manager`: discovery (entry points, ``--plugins-dir``, ``-p``), isolation of
  broken plugins, and the loaded :class:`PluginSet`
"""
