// vrx serve: the runs page, a run's page and the compare page. Plain JS, no build step.
// Everything comes from the JSON API and its SSE streams (docs/web.md); user data only ever
// reaches the DOM through textContent, never as HTML.
"use strict";

(function () {
  const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04",
    "#db2777", "#4b5563", "#65a30d"];
  // Follower notices that are state, not alerts.
  const QUIET_NOTICES = new Set(["waiting", "found", "caught_up", "active", "replaced", "residue"]);
  const MAX_ALERTS = 200;

  // -- helpers -------------------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children) node.append(c);
    return node;
  }

  function idPath(id) {
    return id.split("/").map(encodeURIComponent).join("/");
  }

  function runUrl(id) {
    return "/run/" + idPath(id);
  }

  async function getJSON(url) {
    const r = await fetch(url, { credentials: "same-origin" });
    if (!r.ok) throw new Error(url + ": " + r.status);
    return r.json();
  }

  // The log writes non-finite floats as strings; a chart shows them as gaps.
  function finite(v) {
    return typeof v === "number" && Number.isFinite(v) ? v : null;
  }

  function fmtNum(v) {
    if (typeof v !== "number") return String(v);
    if (!Number.isFinite(v)) return String(v);
    if (Number.isInteger(v) && Math.abs(v) < 1e9) return String(v);
    return Number(v.toPrecision(4)).toString();
  }

  function fmtDur(s) {
    if (s === null || s === undefined || !Number.isFinite(s)) return "-";
    s = Math.max(0, Math.floor(s));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    if (h) return `${h}h${String(m).padStart(2, "0")}m`;
    if (m) return `${m}m${String(sec).padStart(2, "0")}s`;
    return `${sec}s`;
  }

  function fmtValue(v) {
    if (v === null || v === undefined) return "-";
    if (typeof v === "number") return fmtNum(v);
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  }

  // Nested objects as dotted keys, as `vrx tail` shows params and snapshots.
  function flatten(obj, prefix, out) {
    out = out || [];
    for (const [k, v] of Object.entries(obj || {})) {
      const key = prefix ? prefix + "." + k : k;
      if (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length) flatten(v, key, out);
      else out.push([key, v]);
    }
    return out;
  }

  function kvTable(table, obj) {
    const body = el("tbody");
    for (const [k, v] of flatten(obj)) {
      body.append(el("tr", {}, el("th", { text: k }), el("td", { text: fmtValue(v) })));
    }
    table.replaceChildren(body);
  }

  function stripToken() {
    // The server set its cookie; keep the token out of the address bar, history and bookmarks.
    const url = new URL(location.href);
    if (url.searchParams.has("token")) {
      url.searchParams.delete("token");
      history.replaceState(null, "", url.pathname + url.search + url.hash);
    }
  }

  // The stream's state beside the run's status; once the run ended the status says it all.
  function setLive(text, cls) {
    const live = document.getElementById("live");
    if (live) {
      const ended = text === "ended";
      live.textContent = ended ? "" : text;
      live.className = "live " + (ended ? "" : cls || "");
    }
  }

  // Tick labels with enough digits to tell neighbours apart (uPlot's default rounds 0.00125 and
  // 0.0015 alike); very small or large values in exponent form.
  function tickLabels(u, splits) {
    return splits.map((v) => {
      if (v === null || v === undefined) return "";
      const a = Math.abs(v);
      if (a !== 0 && (a < 1e-4 || a >= 1e6)) return v.toExponential(2);
      return String(Number(v.toPrecision(4)));
    });
  }

  // -- charts ---------------------------------------------------------------------------------

  // One chart per metric; each series (a rank, or a run in the compare view) maps x -> y.
  class Chart {
    constructor(container, name, legend) {
      this.name = name;
      this.legend = legend;
      this.series = new Map(); // key -> {label, color, xs: [], ys: []}
      this.div = el("div", { class: "chart", "data-metric": name, "data-points": 0 });
      this.div.append(el("div", { class: "chart-title", text: name }));
      this.plotDiv = el("div", { class: "plot" });
      this.div.append(this.plotDiv);
      container.append(this.div);
      this.plot = null;
      this.points = 0;
    }

    add(key, label, color, x, y) {
      let s = this.series.get(key);
      if (!s) {
        s = { label, color, xs: [], ys: [] };
        this.series.set(key, s);
        this.rebuild = true;
      }
      s.xs.push(x);
      s.ys.push(y);
      if (y !== null) this.points += 1;
    }

    data() {
      const all = [...this.series.values()];
      if (all.length === 1) {
        const s = all[0];
        return sortedPairs(s.xs, s.ys);
      }
      return joinSeries(all.map((s) => sortedPairs(s.xs, s.ys)));
    }

    draw() {
      const data = this.data();
      const width = Math.max(240, this.plotDiv.clientWidth || 480);
      if (!this.plot || this.rebuild) {
        if (this.plot) this.plot.destroy();
        const series = [{ label: "step" }];
        for (const s of this.series.values()) {
          series.push({ label: s.label, stroke: s.color, width: 1.5, spanGaps: false, points: { show: false } });
        }
        this.plot = new uPlot({
          width,
          height: 220,
          scales: { x: { time: false } },
          axes: [{}, { values: tickLabels, size: 60 }],
          series,
          legend: { show: this.legend || this.series.size > 1 },
          cursor: { drag: { x: true, y: false } },
        }, data, this.plotDiv);
        this.rebuild = false;
      } else {
        this.plot.setData(data);
      }
      this.div.setAttribute("data-points", String(this.points));
    }

    resize() {
      if (this.plot) this.plot.setSize({ width: Math.max(240, this.plotDiv.clientWidth), height: 220 });
    }
  }

  function sortedPairs(xs, ys) {
    let sorted = true;
    for (let i = 1; i < xs.length; i++) if (xs[i] < xs[i - 1]) { sorted = false; break; }
    if (sorted) return [xs.slice(), ys.slice()];
    const idx = xs.map((_, i) => i).sort((a, b) => xs[a] - xs[b]);
    return [idx.map((i) => xs[i]), idx.map((i) => ys[i])];
  }

  // Several [xs, ys] on one x axis (the union of their xs), null where a series has no point.
  function joinSeries(tables) {
    const xset = new Set();
    for (const [xs] of tables) for (const x of xs) xset.add(x);
    const xs = [...xset].sort((a, b) => a - b);
    const pos = new Map(xs.map((x, i) => [x, i]));
    const out = [xs];
    for (const [sx, sy] of tables) {
      const ys = new Array(xs.length).fill(null);
      for (let i = 0; i < sx.length; i++) ys[pos.get(sx[i])] = sy[i];
      out.push(ys);
    }
    return out;
  }

  class Charts {
    constructor(container, legend) {
      this.container = container;
      this.legend = Boolean(legend);
      this.charts = new Map();
      this.dirty = new Set();
      this.scheduled = false;
      window.addEventListener("resize", () => { for (const c of this.charts.values()) c.resize(); });
    }

    add(metric, key, label, color, x, y) {
      let c = this.charts.get(metric);
      if (!c) {
        c = new Chart(this.container, metric, this.legend);
        this.charts.set(metric, c);
        this.sortDom();
      }
      c.add(key, label, color, x, y);
      this.dirty.add(c);
      this.schedule();
    }

    sortDom() {
      const names = [...this.charts.keys()].sort();
      for (const n of names) this.container.append(this.charts.get(n).div);
    }

    schedule() {
      if (this.scheduled) return;
      this.scheduled = true;
      // Redraw once per frame, however many points arrived; a hidden tab still counts its points.
      const run = () => { this.scheduled = false; this.flush(); };
      if (document.hidden) setTimeout(run, 250); else requestAnimationFrame(run);
    }

    flush() {
      for (const c of this.dirty) c.draw();
      this.dirty.clear();
    }

    clear() {
      for (const c of this.charts.values()) if (c.plot) c.plot.destroy();
      this.charts.clear();
      this.dirty.clear();
      this.container.replaceChildren();
    }
  }

  // -- a run's stream ------------------------------------------------------------------------

  function openStream(id, rank, onItem, onState) {
    const q = rank === null || rank === undefined || rank === "" ? "" : "?rank=" + encodeURIComponent(rank);
    const es = new EventSource("/api/run/" + idPath(id) + "/stream" + q);
    es.onopen = () => onState("live");
    es.onerror = () => onState(es.readyState === EventSource.CLOSED ? "closed" : "reconnecting");
    es.onmessage = (m) => {
      let item;
      try { item = JSON.parse(m.data); } catch (e) { return; }
      if (item.kind === "end") {
        es.close();
        onState("ended");
      }
      onItem(item);
    };
    return es;
  }

  function metricX(ev) {
    return typeof ev.step === "number" ? ev.step : ev.seq;
  }

  // -- the run page --------------------------------------------------------------------------

  function runIdFromPath() {
    return location.pathname.replace(/^\/run\//, "").split("/").map(decodeURIComponent).join("/");
  }

  class RunPage {
    constructor() {
      this.id = runIdFromPath();
      this.charts = new Charts(document.getElementById("charts"));
      this.params = {};
      this.alerts = new Map();
      this.rank = "";
      this.es = null;
      this.nameSet = false;
      this.multiRank = false;
    }

    async start() {
      const nameEl = document.getElementById("name");
      nameEl.textContent = this.id;
      try {
        const run = await getJSON("/api/run/" + idPath(this.id));
        this.nameSet = Boolean(run.name);
        nameEl.textContent = run.name || this.id;
        this.params = run.params || {};
        kvTable(document.getElementById("params"), this.params);
        this.setStatus(run.status === "ended" && run.end_status && run.end_status !== "ok"
          ? "ended/" + run.end_status : run.status);
        this.setupRanks(run.ranks || []);
      } catch (e) {
        this.setStatus("error");
        return;
      }
      this.connect();
    }

    setupRanks(ranks) {
      if (!ranks.length) return;
      this.multiRank = true;
      const box = document.getElementById("rank-box");
      const sel = document.getElementById("rank");
      sel.replaceChildren(el("option", { value: "", text: "all" }),
        ...ranks.map((r) => el("option", { value: String(r), text: String(r) })));
      box.hidden = false;
      sel.addEventListener("change", () => {
        this.rank = sel.value;
        this.reset();
        this.connect();
      });
    }

    reset() {
      if (this.es) this.es.close();
      this.charts.clear();
      this.alerts.clear();
      document.getElementById("alerts").replaceChildren();
      document.getElementById("snapshots").replaceChildren();
    }

    connect() {
      this.es = openStream(this.id, this.rank, (item) => this.item(item), (s) => setLive(s, s));
    }

    item(item) {
      if (item.kind === "event") this.event(item.event);
      else if (item.kind === "notice") this.notice(item);
      else if (item.kind === "snapshot") this.snapshots(item.plugins || {});
      else if (item.kind === "status") this.status(item);
      else if (item.kind === "end") this.setStatus(item.status);
    }

    event(ev) {
      if (ev.type === "metric") {
        const multi = this.multiRank && this.rank === "" && typeof ev.rank === "number";
        const key = multi ? "r" + ev.rank : "value";
        const label = multi ? "rank " + ev.rank : ev.name;
        const color = PALETTE[(multi ? ev.rank : 0) % PALETTE.length];
        this.charts.add(ev.name, key, label, color, metricX(ev), finite(ev.value));
      } else if (ev.type === "params") {
        Object.assign(this.params, ev.values || {});
        kvTable(document.getElementById("params"), this.params);
      } else if (ev.type === "run_start" && !this.nameSet && ev.name) {
        this.nameSet = true;
        document.getElementById("name").textContent = ev.name;
      }
    }

    notice(n) {
      if (QUIET_NOTICES.has(n.notice) && n.level !== "warning") return;
      const key = [n.notice, n.seq, n.rank, n.plugin, n.message].join("\u0000");
      if (this.alerts.has(key)) return; // a resumed stream may repeat the last one
      this.alerts.set(key, n);
      const list = document.getElementById("alerts");
      if (list.children.length >= MAX_ALERTS) list.firstElementChild.remove();
      const li = el("li", { class: "alert level-" + (n.level || "info"), "data-kind": n.notice });
      li.append(el("span", { class: "kind", text: n.plugin ? n.plugin + ": " + n.notice : n.notice }),
        el("span", { class: "msg", text: " " + (n.message || "") }));
      list.append(li);
    }

    snapshots(plugins) {
      const box = document.getElementById("snapshots");
      const tables = [];
      for (const [name, snap] of Object.entries(plugins).sort()) {
        if (!snap || !Object.keys(snap).length) continue;
        const table = el("table", { class: "kv", "data-plugin": name });
        kvTable(table, snap);
        table.prepend(el("caption", { text: name }));
        tables.push(table);
      }
      box.replaceChildren(...tables);
    }

    status(s) {
      this.setStatus(s.status);
      const prog = document.getElementById("progress");
      const p = s.progress;
      if (!p) {
        prog.classList.remove("known");
        return;
      }
      prog.classList.add("known");
      const pct = p.fraction === null ? null : Math.round(p.fraction * 100);
      prog.querySelector(".fill").style.width = (pct === null ? 0 : pct) + "%";
      let text = `${p.done}/${p.total} ${p.unit}` + (pct === null ? "" : ` (${pct}%)`);
      if (p.rate) text += `  ${fmtNum(p.rate)} ${p.unit}/s`;
      if (p.eta_s !== null && p.eta_s !== undefined) text += `  ETA ${fmtDur(p.eta_s)}`;
      prog.querySelector(".text").textContent = text;
      prog.setAttribute("data-done", p.done);
      prog.setAttribute("data-total", p.total);
    }

    setStatus(status) {
      const st = document.getElementById("status");
      st.textContent = status;
      st.className = "status status-" + String(status).split("/")[0];
      st.setAttribute("data-status", status);
    }
  }

  // -- the runs page -------------------------------------------------------------------------

  const SORTS = {
    status: (r) => r.status + "/" + (r.end_status || ""),
    start: (r) => r.start || 0,
    duration: (r) => duration(r) || 0,
    name: (r) => (r.name || "").toLowerCase(),
    id: (r) => r.id,
  };

  function duration(r) {
    if (r.status === "running" && r.start) return Date.now() / 1000 - r.start;
    return r.duration_s;
  }

  function shownStatus(r) {
    return r.status === "ended" && r.end_status && r.end_status !== "ok" ? "ended/" + r.end_status : r.status;
  }

  function metricsText(r) {
    return Object.entries(r.metrics || {}).slice(0, 4).map(([k, v]) => `${k}=${fmtValue(v)}`).join("  ");
  }

  function verdictsText(r) {
    return Object.entries(r.verdicts || {}).map(([k, v]) => `${k}: ${v}`).join("  ");
  }

  class RunsPage {
    constructor() {
      this.rows = [];
      this.sort = "start";
      this.desc = true;
      this.selected = new Set();
      this.filter = document.getElementById("filter");
      this.body = document.querySelector("#runs tbody");
    }

    start() {
      this.filter.addEventListener("input", () => this.render());
      for (const th of document.querySelectorAll("#runs th[data-sort]")) {
        th.addEventListener("click", () => {
          const key = th.getAttribute("data-sort");
          this.desc = this.sort === key ? !this.desc : key === "start" || key === "duration";
          this.sort = key;
          this.render();
        });
      }
      this.body.addEventListener("change", (e) => {
        const box = e.target;
        if (!box.classList || !box.classList.contains("compare")) return;
        const id = box.getAttribute("data-run-id");
        if (box.checked) this.selected.add(id); else this.selected.delete(id);
        this.updateCompare();
      });
      const es = new EventSource("/api/runs/stream");
      es.addEventListener("runs", (m) => {
        this.rows = JSON.parse(m.data).runs;
        this.render();
        setLive("live", "live");
      });
      es.onerror = () => setLive("reconnecting", "reconnecting");
      // Running runs' durations count on between updates.
      setInterval(() => this.tick(), 1000);
      this.updateCompare();
    }

    matches(r, words) {
      const hay = [r.id, r.name, shownStatus(r), metricsText(r), verdictsText(r), r.start_utc || ""]
        .join(" ").toLowerCase();
      return words.every((w) => hay.includes(w));
    }

    render() {
      const words = this.filter.value.toLowerCase().split(/\s+/).filter(Boolean);
      const key = SORTS[this.sort];
      const rows = this.rows.filter((r) => this.matches(r, words));
      rows.sort((a, b) => {
        const x = key(a), y = key(b);
        const c = x < y ? -1 : x > y ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
        return this.desc ? -c : c;
      });
      this.body.replaceChildren(...rows.map((r) => this.row(r)));
      for (const th of document.querySelectorAll("#runs th[data-sort]")) {
        const on = th.getAttribute("data-sort") === this.sort;
        th.className = on ? (this.desc ? "sorted desc" : "sorted asc") : "";
      }
      document.getElementById("count").textContent =
        `${rows.length} of ${this.rows.length} run${this.rows.length === 1 ? "" : "s"}`;
    }

    row(r) {
      const status = shownStatus(r);
      const box = el("input", { type: "checkbox", class: "compare", "data-run-id": r.id,
        checked: this.selected.has(r.id), "aria-label": "compare " + r.id });
      return el("tr", { "data-run-id": r.id, class: "run status-" + r.status },
        el("td", { class: "pick" }, box),
        el("td", { class: "status", "data-status": status, text: status, title: r.why || r.problem || "" }),
        el("td", { class: "start", text: r.start_utc ? r.start_utc.replace("T", " ").replace("Z", "") : "-" }),
        el("td", { class: "duration", text: fmtDur(duration(r)) }),
        el("td", { class: "name" }, el("a", { href: runUrl(r.id), text: r.name || r.id })),
        el("td", { class: "id", text: r.id }),
        el("td", { class: "metrics", text: metricsText(r) }),
        el("td", { class: "verdicts", text: verdictsText(r) }));
    }

    tick() {
      const byId = new Map(this.rows.map((r) => [r.id, r]));
      for (const tr of this.body.querySelectorAll("tr.status-running")) {
        const r = byId.get(tr.getAttribute("data-run-id"));
        if (r) tr.querySelector("td.duration").textContent = fmtDur(duration(r));
      }
    }

    updateCompare() {
      const link = document.getElementById("compare");
      const ids = [...this.selected];
      const q = new URLSearchParams();
      for (const id of ids) q.append("run", id);
      link.setAttribute("href", "/compare?" + q.toString());
      link.classList.toggle("disabled", ids.length < 2);
      link.textContent = ids.length ? `compare ${ids.length} selected` : "compare selected";
    }
  }

  // -- the compare page ----------------------------------------------------------------------

  class ComparePage {
    constructor() {
      this.ids = new URLSearchParams(location.search).getAll("run");
      this.charts = new Charts(document.getElementById("charts"), true);
    }

    start() {
      const list = document.getElementById("compared");
      this.ids.forEach((id, i) => {
        const color = PALETTE[i % PALETTE.length];
        const li = el("li", { "data-run-id": id }, el("span", { class: "swatch", style: null }),
          el("a", { href: runUrl(id), text: id }), el("span", { class: "state", text: "" }));
        li.firstChild.style.background = color;
        list.append(li);
        openStream(id, "", (item) => {
          if (item.kind === "event" && item.event.type === "metric") {
            const ev = item.event;
            const label = ev.rank === undefined ? id : `${id} r${ev.rank}`;
            this.charts.add(ev.name, id + "\u0000" + (ev.rank ?? ""), label, color, metricX(ev), finite(ev.value));
          } else if (item.kind === "status" || item.kind === "end") {
            li.querySelector(".state").textContent = " " + item.status;
          }
        }, () => {});
      });
      if (!this.ids.length) list.append(el("li", { text: "no runs selected: tick runs on the runs page" }));
    }
  }

  // -- start ---------------------------------------------------------------------------------

  function main() {
    stripToken();
    const kind = document.body.getAttribute("data-page");
    if (kind === "runs") new RunsPage().start();
    else if (kind === "run") new RunPage().start();
    else if (kind === "compare") new ComparePage().start();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", main);
  else main();
})();
