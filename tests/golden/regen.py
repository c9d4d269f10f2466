"""Rewrite the expected files of golden cases from a fresh replay (review the git diff afterwards)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _golden import GOLDEN, cases, derive, expected


def main(names: list[str]) -> None:
    for case in cases():
        if names and case.name not in names:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            files = derive(case, Path(tmp) / case.name)
        for rel in expected(case):
            if rel not in files:
                (case / rel).unlink()
        for rel, data in files.items():
            (case / rel).parent.mkdir(parents=True, exist_ok=True)
            (case / rel).write_bytes(data)
        print(f"{case.relative_to(GOLDEN)}: {len(files)} file(s)")


if __name__ == "__main__":
    main(sys.argv[1:])
