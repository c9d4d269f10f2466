"""manifest: ``bundle_manifest.json`` for every run (per-file size and FNV-1a 64), checked by ``vrx verify``.

Hook glue only; ``bundle`` holds the logic, ``fnv`` the compiled hash, ``paths`` safe member paths;
the file format itself is in the ``bundles`` library.
"""

from __future__ import annotations

from pathlib import Path

from vrx_core import hookimpl
from vrx_core.hooks.api import DerivedFiles, Deriver, ReplayContext

from ..bundles.manifest import MANIFEST
from .bundle import build_manifest, verify_manifest


class ManifestDeriver(Deriver):
    """Runs last (stage 100): hashes the log and every file the other plugins just derived.

    It handles no event: what it needs is in ``out.committed`` and the run directory.
    """

    outputs = frozenset({MANIFEST})
    stage = 100

    def __init__(self, context: ReplayContext) -> None:
        self.context = context

    def finish(self, out: DerivedFiles) -> None:
        if self.context.run_dir is None:
            return
        out.write_bytes(MANIFEST, build_manifest(self.context.run_dir, out.out_dir, sorted(out.committed)))


@hookimpl
def vrx_deriver(context: ReplayContext) -> Deriver:
    return ManifestDeriver(context)


@hookimpl
def vrx_verify_run(run_dir: Path) -> list[str]:
    return verify_manifest(run_dir)
