"""The HTML of ``vrx serve``: three page shells (the script in static/app.js fills them) and the
small error page. Everything shown comes from the JSON API; no user data is put into the HTML
except through :func:`html.escape`."""

from __future__ import annotations

import html
from typing import Final

_HEAD: Final = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title}</title>
<link rel="stylesheet" href="/static/uPlot.min.css">
<link rel="stylesheet" href="/static/app.css">
<script src="/static/uPlot.iife.min.js" defer></script>
<script src="/static/app.js" defer></script>
</head>
"""

_BODY: Final = """<body data-page="{page}">
<header><a class="home" href="/">vrx</a> <span id="crumb">{crumb}</span></header>
<main id="main">{main}</main>
</body>
</html>
"""

_RUNS: Final = """
<div class="toolbar">
  <input id="filter" type="search" placeholder="filter: name, id, status, metric..." autocomplete="off">
  <a id="compare" href="/compare" class="button disabled">compare selected</a>
  <span id="count"></span> <span id="live" class="live"></span>
</div>
<table id="runs">
<thead><tr>
  <th class="pick"></th>
  <th data-sort="status">status</th>
  <th data-sort="start">start (UTC)</th>
  <th data-sort="duration">duration</th>
  <th data-sort="name">name</th>
  <th data-sort="id">id</th>
  <th>metrics</th>
  <th>verdicts</th>
</tr></thead>
<tbody></tbody>
</table>
"""

_RUN: Final = """
<section class="head">
  <h1 id="name"></h1>
  <div class="facts">
    <span id="status" class="status"></span>
    <span id="progress" class="progress"><span class="bar"><span class="fill"></span></span>
      <span class="text"></span></span>
    <label id="rank-box" hidden>rank <select id="rank"></select></label>
    <span id="live" class="live"></span>
  </div>
</section>
<ul id="alerts"></ul>
<section id="charts" class="charts"></section>
<div class="side">
  <section><h2>params</h2><table id="params"><tbody></tbody></table></section>
  <section><h2>plugins</h2><div id="snapshots"></div></section>
</div>
"""

_COMPARE: Final = """
<section class="head"><h1>compare</h1><ul id="compared"></ul></section>
<section id="charts" class="charts"></section>
"""

PAGES: Final = {"runs": _RUNS, "run": _RUN, "compare": _COMPARE}


def page(kind: str, *, title: str, crumb: str = "") -> str:
    """The shell of the ``runs``, ``run`` or ``compare`` page."""
    esc = html.escape
    return _HEAD.format(title=esc(title)) + _BODY.format(page=kind, crumb=esc(crumb), main=PAGES[kind])


def error_page(status: int, message: str) -> str:
    """A small page for 401, 404, 405 outside the API."""
    esc = html.escape
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{status}</title></head>'
        f'<body><h1>{status}</h1><p>{esc(message)}</p><p><a href="/">runs</a></p></body></html>\n'
    )


__all__ = ["PAGES", "error_page", "page"]
