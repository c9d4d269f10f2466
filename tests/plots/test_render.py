"""Drawing: the bytes follow the series alone, whatever the user's matplotlib configuration."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

from vrx_plugins.plots.render import render_png
from vrx_plugins.plots.series import Points, to_series

RENDER = """
import sys
from vrx_plugins.plots.render import render_png
from vrx_plugins.plots.series import Points, to_series
pts = Points()
for i in range(50):
    pts.x.append(float(i))
    pts.values.append(float("nan") if i == 20 else 1.0 / (i + 1))
sys.stdout.buffer.write(render_png("loss", [to_series("run", pts)], x_label="step"))
"""


def _png(env: dict[str, str]) -> bytes:
    r = subprocess.run([sys.executable, "-c", RENDER], capture_output=True, env=env, check=True)
    return r.stdout


def test_a_user_matplotlibrc_changes_no_byte(tmp_path: Path) -> None:
    """A matplotlibrc with another style, size, dpi and backend leaves the PNG unchanged."""
    (tmp_path / "matplotlibrc").write_text(
        "lines.linewidth: 5\naxes.facecolor: red\nfont.size: 22\nfont.family: serif\n"
        "savefig.dpi: 37\nfigure.figsize: 3, 3\npath.simplify: False\nbackend: svg\n"
    )
    plain = _png({**os.environ, "MPLCONFIGDIR": str(tmp_path / "plain")})
    styled = _png({**os.environ, "MPLCONFIGDIR": str(tmp_path)})
    assert plain.startswith(b"\x89PNG") and styled == plain


def test_names_outside_the_font_draw_without_warning() -> None:
    """A metric named in a script DejaVu Sans lacks still renders, and warns nothing (warnings are errors)."""
    pts = Points()
    pts.x.extend([0.0, 1.0])
    pts.values.extend([1.0, math.inf])
    png = render_png("損失/训练", [to_series("運転", pts), to_series("b", pts)], x_label="step")
    assert png.startswith(b"\x89PNG")
