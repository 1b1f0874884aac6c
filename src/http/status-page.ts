/**
 * The status page of `cesync serve` (GET /status): plain HTML, one small script and a style
 * sheet, served from these strings (no build step, no framework, nothing from a CDN). The page
 * holds no data: it asks for the API key (kept in sessionStorage), fetches GET /api/status with
 * it every 5 s and builds the DOM with createElement/textContent only (ids and error texts come
 * from users' data), charts as inline SVG. The Content-Security-Policy sent with it allows only
 * the page's own script and style sheet, so even an injected tag could not run.
 */

export const STATUS_PAGE_PATH = '/status';
export const STATUS_API_PATH = '/api/status';
export const STATUS_SCRIPT_PATH = '/status/app.js';
export const STATUS_STYLE_PATH = '/status/style.css';

export const STATUS_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

export const STATUS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>cesync status</title>
<link rel="stylesheet" href="${STATUS_STYLE_PATH}">
<script src="${STATUS_SCRIPT_PATH}" defer></script>
</head>
<body data-state="loading">
<header>
  <h1>cesync status</h1>
  <span id="updated" class="muted"></span>
  <button type="button" id="forget" class="link" hidden>Forget key</button>
</header>
<!-- The field has no name and the form posts: submitted before the script runs, it sends nothing of the key, never a URL with it. -->
<form id="key-form" autocomplete="off" method="post">
  <label for="api-key">API key</label>
  <input id="api-key" type="password" placeholder="api.key or CESYNC_API_KEY" required>
  <button type="submit">Show status</button>
</form>
<p id="message" role="status"></p>
<main id="pipelines"></main>
<footer class="muted">
  Refreshed every 5 s from <code>GET ${STATUS_API_PATH}</code>. The lag charts come from this server: it samples each
  pipeline's watermark lag every 30 s and keeps the last hour in memory (a restarted server starts over).
  The key is kept in this tab's sessionStorage only.
</footer>
</body>
</html>
`;

export const STATUS_STYLE = String.raw`
:root { color-scheme: light; --fg: #1d2330; --muted: #5f6b7a; --line: #d8dde5; --bg: #f5f7fa; --card: #fff; --ok: #1a7f37; --bad: #c62828; --warn: #b26a00; --accent: #2f6fde; }
* { box-sizing: border-box; }
body { margin: 0; padding: 16px 24px 32px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; align-items: baseline; gap: 16px; }
h1 { font-size: 20px; margin: 0 0 12px; }
h2 { font-size: 17px; margin: 0; word-break: break-all; }
h3 { font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); margin: 0 0 6px; }
code { font-size: 12px; }
.muted { color: var(--muted); }
form { display: flex; gap: 8px; align-items: center; margin-bottom: 8px; }
body[data-state="ok"] form { display: none; }
input[type=password] { padding: 6px 8px; width: 320px; border: 1px solid var(--line); border-radius: 4px; }
button { padding: 6px 12px; border: 1px solid var(--accent); background: var(--accent); color: #fff; border-radius: 4px; cursor: pointer; }
button.link { background: none; color: var(--accent); border: none; padding: 0; }
#message:empty { display: none; }
#message { padding: 8px 12px; border-radius: 4px; background: #fff4e5; border: 1px solid #f0c36d; }
main { display: grid; gap: 16px; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); }
section.pipeline { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 14px 16px; }
.head { display: flex; justify-content: space-between; align-items: baseline; gap: 12px; margin-bottom: 10px; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 12px 20px; }
.block { min-width: 0; }
.wide { grid-column: 1 / -1; }
table { border-collapse: collapse; width: 100%; }
td, th { text-align: left; padding: 2px 6px 2px 0; vertical-align: top; border-bottom: 1px solid #eef0f3; }
th { font-weight: 600; color: var(--muted); font-size: 12px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.text { word-break: break-all; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; background: #e8eaee; }
.badge.finished, .badge.in-sync { background: #dcf3e3; color: var(--ok); }
.badge.running { background: #e3ecfc; color: var(--accent); }
.badge.failed, .badge.drift { background: #fde2e1; color: var(--bad); }
.badge.interrupted { background: #fff0d6; color: var(--warn); }
progress { width: 100%; height: 10px; }
svg { display: block; width: 100%; height: auto; }
svg text { font-size: 10px; fill: var(--muted); }
.error { color: var(--bad); word-break: break-word; }
footer { margin-top: 24px; font-size: 12px; }
`;

// Plain JavaScript (no template literals, so it can live in this string).
export const STATUS_SCRIPT = String.raw`
(function () {
  'use strict';
  var STORAGE = 'cesync.status.key';
  var API = '/api/status';
  var EVERY_MS = 5000;
  var SVGNS = 'http://www.w3.org/2000/svg';
  var form, input, message, root, updated, forget;
  var timer = null;
  var inFlight = false;

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }
  function svg(tag, attrs, children) {
    var e = document.createElementNS(SVGNS, tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }
  function setAttrs(e, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (k) {
      if (attrs[k] === undefined || attrs[k] === null) return;
      if (k === 'class') e.setAttribute('class', attrs[k]);
      else e.setAttribute(k, String(attrs[k]));
    });
  }
  function append(e, children) {
    if (children === undefined || children === null) return;
    if (!Array.isArray(children)) children = [children];
    children.forEach(function (c) {
      if (c === undefined || c === null || c === false) return;
      e.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
    });
  }
  function text(v) { return v === undefined || v === null || v === '' ? '\u2014' : String(v); }

  function duration(s) {
    if (s === null || s === undefined || !isFinite(s)) return '\u2014';
    s = Math.max(0, Math.round(s));
    if (s < 90) return s + ' s';
    if (s < 5400) return Math.round(s / 60) + ' min';
    if (s < 172800) return (s / 3600).toFixed(1) + ' h';
    return (s / 86400).toFixed(1) + ' d';
  }
  function when(iso) {
    if (!iso) return '\u2014';
    var t = Date.parse(iso);
    if (isNaN(t)) return String(iso);
    return iso + ' (' + duration((Date.now() - t) / 1000) + ' ago)';
  }

  function row(label, value, field) {
    return el('tr', null, [el('th', null, label), el('td', field ? { 'data-field': field } : null, value)]);
  }
  function block(title, body, wide) {
    return el('div', { class: wide ? 'block wide' : 'block' }, [el('h3', null, title)].concat(body));
  }

  function lastSync(p) {
    var rows = [
      row('status', el('span', { class: 'badge ' + p.status.replace(/\s+/g, '-') }, p.status), 'status'),
      row('started', when(p.startedAt), 'startedAt'),
      row('updated', when(p.updatedAt), 'updatedAt'),
    ];
    var counters = p.counters || {};
    Object.keys(counters).forEach(function (k) {
      rows.push(el('tr', null, [el('th', null, k), el('td', { class: 'num', 'data-counter': k }, String(counters[k]))]));
    });
    var body = [el('table', null, rows)];
    if (p.error) body.push(el('p', { class: 'error', 'data-field': 'error' }, p.error));
    return block('Last full sync', body);
  }

  function progress(p) {
    var g = p.progress;
    if (!g) return null;
    return block('Running full sync', [
      el('progress', { max: g.spansTotal || 1, value: g.spansDone }),
      el('p', { 'data-field': 'progress' }, g.spansDone + ' / ' + g.spansTotal + ' ranges done (' + Math.round(g.fraction * 100) + ' %), ETA ' +
        (g.etaSeconds === null ? 'not known yet' : duration(g.etaSeconds)) + ' (from the rate since it started)'),
    ], true);
  }

  function watermarks(p) {
    var rows = [];
    var dirs = [['to Elasticsearch', p.watermarkToElasticsearch, 'watermarkToElasticsearch', 'to-elasticsearch'], ['to Cassandra', p.watermarkToCassandra, 'watermarkToCassandra', 'to-cassandra']];
    dirs.forEach(function (d) {
      // A direction the pipeline does not sync is shown only when it has a watermark anyway.
      if (!d[1] && p.direction !== 'both' && d[3] !== p.direction) return;
      rows.push(row(d[0], d[1] ? [el('span', { 'data-field': d[2] }, d[1].at), ', lag ', el('span', { 'data-field': d[2] + '.lag' }, duration(d[1].lagSeconds))] : 'none yet'));
    });
    rows.push(row('watched by', p.watchedBy || 'nobody (no watch holds the lease)', 'watchedBy'));
    return block('Incremental', [el('table', null, rows)]);
  }

  function lagChart(p, sampling) {
    var W = 520, H = 110, L = 40, B = 16, T = 6;
    var hist = p.lagHistory || {};
    var dirs = Object.keys(hist);
    var now = Date.now();
    var windowMs = (sampling ? sampling.windowSeconds : 3600) * 1000;
    var max = 1;
    dirs.forEach(function (d) { hist[d].forEach(function (s) { if (s.lagSeconds > max) max = s.lagSeconds; }); });
    var x = function (iso) { return L + (W - L - 4) * Math.min(1, Math.max(0, 1 - (now - Date.parse(iso)) / windowMs)); };
    var y = function (v) { return T + (H - T - B) * (1 - v / max); };
    var chart = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': 'watermark lag over the last hour', 'data-chart': 'lag' }, [
      svg('line', { x1: L, y1: H - B, x2: W - 4, y2: H - B, stroke: '#c5ccd6' }),
      svg('line', { x1: L, y1: T, x2: L, y2: H - B, stroke: '#c5ccd6' }),
      svg('text', { x: L - 4, y: T + 8, 'text-anchor': 'end' }, duration(max)),
      svg('text', { x: L - 4, y: H - B, 'text-anchor': 'end' }, '0'),
      svg('text', { x: L, y: H - 3 }, '-60 min'),
      svg('text', { x: W - 4, y: H - 3, 'text-anchor': 'end' }, 'now'),
    ]);
    var colors = { 'to-elasticsearch': '#2f6fde', 'to-cassandra': '#b26a00' };
    var count = 0;
    dirs.forEach(function (d) {
      var pts = hist[d].map(function (s) { return x(s.at).toFixed(1) + ',' + y(s.lagSeconds).toFixed(1); });
      count += pts.length;
      if (pts.length > 1) chart.appendChild(svg('polyline', { points: pts.join(' '), fill: 'none', stroke: colors[d] || '#333', 'stroke-width': 1.5 }));
      hist[d].forEach(function (s) {
        chart.appendChild(svg('circle', { cx: x(s.at).toFixed(1), cy: y(s.lagSeconds).toFixed(1), r: 2, fill: colors[d] || '#333' }, svg('title', null, d + ' ' + s.at + ': lag ' + duration(s.lagSeconds))));
      });
    });
    var note = sampling
      ? 'Sampled by this server every ' + sampling.intervalSeconds + ' s, last hour kept in memory; ' + count + ' sample' + (count === 1 ? '' : 's') + ' so far.'
      : 'No lag sampling in this server.';
    var legend = dirs.map(function (d) {
      var dot = el('span', null, '\u25cf');
      dot.style.color = colors[d] || '#333';
      return el('span', null, [dot, ' ' + d + ' ']);
    });
    return block('Watermark lag, last hour', [chart, el('p', { class: 'muted' }, [note, ' '].concat(legend))], true);
  }

  function failures(p) {
    var f = p.failures;
    var classes = Object.keys(f.counts);
    var counts = el('table', null, [
      el('tr', null, classes.map(function (c) { return el('th', null, c); })),
      el('tr', null, classes.map(function (c) { return el('td', { class: 'num', 'data-failures': c }, String(f.counts[c])); })),
    ]);
    var latest = f.latest.length === 0 ? el('p', { class: 'muted' }, 'No failures in the ledger for this pipeline.') : el('table', { 'data-field': 'latestFailures' }, [
      el('tr', null, ['at', 'class', 'id', 'reason'].map(function (h) { return el('th', null, h); })),
    ].concat(f.latest.map(function (e) {
      return el('tr', { 'data-failure': '' }, [
        el('td', null, e.at),
        el('td', null, e.errorClass),
        el('td', { class: 'text', 'data-field': 'failure-id' }, e.id),
        el('td', { class: 'text', 'data-field': 'failure-reason' }, (e.errorType ? e.errorType + ': ' : '') + e.reason),
      ]);
    })));
    return block('Failure ledger (latest 10)', [counts, latest], true);
  }

  var RING = 18446744073709551616n; // 2^64
  var MIN = -9223372036854775808n;
  function ringX(token, width) {
    var t = token === null ? -MIN - 1n : BigInt(token);
    return Number(((t - MIN) * 100000n) / RING) / 100000 * width;
  }
  function verify(p) {
    var v = p.lastVerify;
    if (!v && p.lastVerifyError) return block('Last verify', [el('p', { class: 'muted' }, 'The saved last verify cannot be read: ' + p.lastVerifyError)], true);
    if (!v) return block('Last verify', [el('p', { class: 'muted' }, 'No verify has run yet.')], true);
    var counts = Object.keys(v.counts).map(function (c) { return c + ' ' + v.counts[c]; }).join(', ');
    var W = 520, X = 4, BW = W - 8;
    var bar = svg('svg', { viewBox: '0 0 ' + W + ' 44', role: 'img', 'aria-label': 'token ring, ranges that differ marked', 'data-chart': 'ring' }, [
      svg('rect', { x: X, y: 4, width: BW, height: 18, fill: v.inSync ? '#dcf3e3' : '#e8eaee', stroke: '#c5ccd6' }),
      svg('text', { x: X, y: 36 }, '-2^63'),
      svg('text', { x: X + BW / 2, y: 36, 'text-anchor': 'middle' }, '0'),
      svg('text', { x: X + BW, y: 36, 'text-anchor': 'end' }, '2^63-1'),
    ]);
    v.driftSpans.forEach(function (s) {
      var a = ringX(s.start, BW), b = ringX(s.end, BW);
      bar.appendChild(svg('rect', { x: (X + a).toFixed(2), y: 4, width: Math.max(1.5, b - a).toFixed(2), height: 18, fill: '#c62828', 'data-drift': '' },
        svg('title', null, '(' + s.start + ', ' + (s.end === null ? 'end' : s.end) + ']: ' + s.differences + ' differences')));
    });
    return block('Last verify', [
      el('p', null, [
        el('span', { class: 'badge ' + (v.inSync ? 'in-sync' : 'drift'), 'data-field': 'verify' }, v.inSync ? 'in sync' : counts),
        ' at ' + when(v.at) + (v.content ? ', content compared' : '') + (v.since ? ', since ' + v.since : '') + '; ' + v.driftSpans.length + ' of ' + v.spans + ' ranges differ',
      ]),
      bar,
    ], true);
  }

  function render(data) {
    var sections = data.pipelines.map(function (p) {
      return el('section', { class: 'pipeline', 'data-pipeline': p.pipeline }, [
        el('div', { class: 'head' }, [
          el('h2', null, p.pipeline),
          el('span', { class: 'muted' }, p.table + ' \u2192 ' + p.index + ' \u00b7 ' + p.direction),
        ]),
        el('div', { class: 'grid' }, [lastSync(p), watermarks(p), progress(p), lagChart(p, data.lagSampling), failures(p), verify(p)]),
      ]);
    });
    if (sections.length === 0) sections = [el('p', null, 'No pipelines in the configuration.')];
    root.replaceChildren.apply(root, sections);
    var ledger = data.failureLedger;
    updated.textContent = 'updated ' + data.generatedAt + (ledger.truncated ? ' \u00b7 failure counts from the last ' + Math.round(ledger.bytesRead / 1048576) + ' MB of the ledger' : '');
  }

  function needKey(why) {
    stop();
    document.body.setAttribute('data-state', 'need-key');
    forget.hidden = true;
    root.replaceChildren();
    updated.textContent = '';
    message.textContent = why;
    input.focus();
  }
  function stop() { if (timer) clearInterval(timer); timer = null; }
  function start() {
    stop();
    refresh();
    timer = setInterval(refresh, EVERY_MS);
  }

  function refresh() {
    var key = sessionStorage.getItem(STORAGE);
    if (!key) return needKey('This page needs the API key (api.key of the configuration or CESYNC_API_KEY).');
    if (inFlight) return;
    inFlight = true;
    fetch(API, { headers: { Authorization: 'Bearer ' + key, Accept: 'application/json' }, cache: 'no-store' })
      .then(function (res) {
        if (res.status === 401) {
          sessionStorage.removeItem(STORAGE);
          needKey('The API key was refused (HTTP 401): this page needs the API key (api.key of the configuration or CESYNC_API_KEY).');
          return;
        }
        if (!res.ok) { message.textContent = 'GET ' + API + ' answered HTTP ' + res.status + '; trying again in 5 s.'; return; }
        return res.json().then(function (data) {
          document.body.setAttribute('data-state', 'ok');
          forget.hidden = false;
          message.textContent = '';
          render(data);
        });
      })
      .catch(function (err) { message.textContent = 'Cannot reach the server (' + (err && err.message ? err.message : err) + '); trying again in 5 s.'; })
      .then(function () { inFlight = false; });
  }

  document.addEventListener('DOMContentLoaded', function () {
    form = document.getElementById('key-form');
    input = document.getElementById('api-key');
    message = document.getElementById('message');
    root = document.getElementById('pipelines');
    updated = document.getElementById('updated');
    forget = document.getElementById('forget');
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      sessionStorage.setItem(STORAGE, input.value.trim());
      input.value = '';
      message.textContent = '';
      start();
    });
    forget.addEventListener('click', function () { sessionStorage.removeItem(STORAGE); needKey('Key forgotten: enter the API key to see the status.'); });
    if (sessionStorage.getItem(STORAGE)) start();
    else needKey('This page needs the API key (api.key of the configuration or CESYNC_API_KEY).');
  });
})();
`;
