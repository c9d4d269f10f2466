"""bundles: a library, not a plugin. The labops bundle file formats that several plugins share.

Plugins never import one another (each can be blocked or missing on its own); what two plugins
both need lives in a library package like this one, which has no hooks and no ``vrx`` entry point.

- :mod:`~vrx_plugins.bundles.labops_json`: the labops JSON writer's string escaping
- :mod:`~vrx_plugins.bundles.manifest`: ``bundle_manifest.json`` (written by the manifest plugin,
  and the format a triage bundle is hashed with)
"""

from __future__ import annotations

from .labops_json import json_escape, utf8_key
from .manifest import (
    MANIFEST,
    MANIFEST_HASH_ALGORITHM,
    MANIFEST_SCHEMA_VERSION,
    ManifestEntry,
    bundle_manifest_json,
)

__all__ = [
    "MANIFEST",
    "MANIFEST_HASH_ALGORITHM",
    "MANIFEST_SCHEMA_VERSION",
    "ManifestEntry",
    "bundle_manifest_json",
    "json_escape",
    "utf8_key",
]
