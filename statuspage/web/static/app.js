// Toolwatch status page. Polls api/status and renders it with DOM calls
// only: every string from the API is untrusted (tool names, agent ids and
// summaries come from audit records), so it goes through textContent or
// setAttribute, never through HTML parsing.
(function () {
  'use strict';

  var POLL_MS = 5000;
  var TIMEOUT_MS = 4000;
  var SVGNS = 'http://www.w3.org/2000/svg';

  var openIds = new Set();   // alert rows the user expanded
  var lastText = '';         // last API body, to skip identical re-renders
  var lastOK = 0;            // wall-clock ms of the last good poll
  var snap = null;

  // ---------- DOM helpers ----------

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function svg(tag, attrs) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs) e.setAttribute(k, String(attrs[k]));
    return e;
  }

  function setText(id, text) {
    document.getElementById(id).textContent = text;
  }

  // ---------- formatting ----------

  function isNum(v) { return typeof v === 'number' && isFinite(v); }

  function fmtNum(v, digits) {
    if (!isNum(v)) return '–';
    if (digits === undefined) digits = Math.abs(v) < 10 && v % 1 !== 0 ? 1 : 0;
    return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }

  function fmtMs(v) {
    if (!isNum(v)) return '–';
    if (v < 1) return v.toFixed(2) + ' ms';
    if (v < 1000) return Math.round(v) + ' ms';
    if (v < 60000) return (v / 1000).toFixed(1) + ' s';
    return (v / 60000).toFixed(1) + ' min';
  }

  function fmtBytes(v) {
    if (!isNum(v)) return '–';
    var units = ['B', 'KB', 'MB', 'GB', 'TB'];
    var i = 0;
    while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i === 0 ? Math.round(v) : v.toFixed(v < 10 ? 1 : 0)) + ' ' + units[i];
  }

  // fmtPair writes "210 / 410 ms" when both figures share a unit.
  function fmtPair(a, b) {
    var i = a.lastIndexOf(' '), j = b.lastIndexOf(' ');
    if (i > 0 && j > 0 && a.slice(i) === b.slice(j)) a = a.slice(0, i);
    return a + ' / ' + b;
  }

  function fmtRate(v) { return isNum(v) ? fmtNum(v, v < 10 ? 1 : 0) + '/min' : '–'; }

  function fmtValue(v, unit) {
    if (unit === 'ms') return fmtMs(v);
    if (unit === 'bytes') return fmtBytes(v);
    return fmtNum(v) + (unit ? ' ' + unit : '');
  }

  // parseTime returns ms since the epoch, or NaN for a missing/zero time.
  function parseTime(s) {
    if (!s) return NaN;
    var t = Date.parse(s);
    return isNaN(t) || t < 0 ? NaN : t;
  }

  function fmtTime(s) {
    var t = parseTime(s);
    if (isNaN(t)) return '–';
    return new Date(t).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  }

  function fmtDuration(ms) {
    if (!isNum(ms)) return '–';
    var s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + 's';
    var m = Math.floor(s / 60);
    if (m < 60) return m + 'm' + (s % 60 ? ' ' + (s % 60) + 's' : '');
    var h = Math.floor(m / 60);
    if (h < 48) return h + 'h' + (m % 60 ? ' ' + (m % 60) + 'm' : '');
    return Math.floor(h / 24) + 'd ' + (h % 24) + 'h';
  }

  function fmtDetail(v) {
    if (typeof v === 'number') return fmtNum(v, v % 1 === 0 ? 0 : 2);
    if (typeof v === 'string') return v;
    if (v === null) return 'null';
    return JSON.stringify(v);
  }

  // ---------- header ----------

  function renderDaemon(d) {
    d = d || {};
    setText('version', d.version || '–');
    var started = parseTime(d.started_at);
    setText('uptime', isNaN(started) ? '–' : fmtDuration(Date.now() - started));
    setText('watermark', fmtTime(d.watermark));
    setText('applied', fmtNum(d.records_applied, 0));
    setText('late', fmtNum(d.records_late, 0));
    setText('invalid', fmtNum(d.records_invalid, 0));
    setText('firing', fmtNum(d.alerts_firing, 0));
    document.querySelector('.stats .firing').classList.toggle('hot', d.alerts_firing > 0);
    var ne = document.getElementById('nats-error');
    if (ne) {
      ne.hidden = !d.nats_error;
      ne.textContent = d.nats_error ? 'NATS unreachable (' + (d.nats_error_kind || 'error') + ' since ' +
        fmtTime(d.nats_error_since) + '): ' + d.nats_error : '';
    }
  }

  // ---------- alerts ----------

  function kv(dl, key, value, cls) {
    if (value === undefined || value === null || value === '') return;
    var row = el('div', cls);
    row.appendChild(el('dt', null, key));
    row.appendChild(el('dd', null, value));
    dl.appendChild(row);
  }

  function alertRow(a, watermark, older) {
    var sev = ['critical', 'warning', 'info'].indexOf(a.severity) >= 0 ? a.severity : 'info';
    var row = el('details', 'alert sev-' + sev + (a.status === 'resolved' ? ' resolved' : ' firing') + (older ? ' older' : ''));
    row.id = 'alert-' + a.id;
    row.dataset.alertId = a.id;
    row.dataset.severity = a.severity;
    row.dataset.status = a.status;
    if (openIds.has(a.id)) row.open = true;
    row.addEventListener('toggle', function () {
      if (row.open) openIds.add(a.id); else openIds.delete(a.id);
    });

    var sum = el('summary');
    sum.appendChild(el('span', 'sev', a.severity));
    sum.appendChild(el('span', 'status', a.status));
    sum.appendChild(el('span', 'pattern', (a.pattern || '').replace(/_/g, ' ')));
    var who = el('span', 'who');
    who.appendChild(el('span', 'tool', a.tool));
    who.appendChild(el('span', 'agent', a.agent_id));
    sum.appendChild(who);
    sum.appendChild(el('span', 'text', a.summary));
    sum.appendChild(el('span', 'score', fmtNum(a.score, 0)));
    var when = el('time', 'when', ago(a.event_time, watermark));
    when.dateTime = a.event_time || '';
    when.title = fmtTime(a.event_time);
    sum.appendChild(when);
    row.appendChild(sum);

    var body = el('div', 'body');
    var obs = el('div', 'evidence');
    obs.appendChild(figure('observed', fmtValue(a.observed, a.unit), 'obs'));
    obs.appendChild(el('span', 'vs', 'vs'));
    obs.appendChild(figure('expected', fmtValue(a.expected, a.unit), 'exp'));
    if (isNum(a.observed) && isNum(a.expected) && a.expected > 0) {
      obs.appendChild(figure('ratio', '×' + fmtNum(a.observed / a.expected, a.observed / a.expected < 10 ? 1 : 0), 'ratio'));
    }
    obs.appendChild(figure('score', fmtNum(a.score, 1) + ' / 100', 'scorefig'));
    body.appendChild(obs);

    var ids = el('dl', 'kv');
    kv(ids, 'unit', a.unit);
    kv(ids, 'trace_id', a.trace_id, 'mono');
    kv(ids, 'span_id', a.span_id, 'mono');
    kv(ids, 'task_id', a.task_id, 'mono');
    kv(ids, 'agent_id', a.agent_id, 'mono');
    kv(ids, 'tool', a.tool + (a.tool_version ? ' ' + a.tool_version : ''), 'mono');
    kv(ids, 'environment', a.environment);
    kv(ids, 'event_time', fmtTime(a.event_time));
    kv(ids, 'starts_at', fmtTime(a.starts_at));
    if (a.ends_at) kv(ids, 'ends_at', fmtTime(a.ends_at));
    kv(ids, 'fingerprint', a.fingerprint, 'mono');
    kv(ids, 'id', a.id, 'mono');
    body.appendChild(ids);

    var keys = a.details ? Object.keys(a.details).sort() : [];
    if (keys.length) {
      var det = el('dl', 'kv details');
      keys.forEach(function (k) { kv(det, k, fmtDetail(a.details[k]), 'mono'); });
      body.appendChild(el('h4', null, 'details'));
      body.appendChild(det);
    }
    row.appendChild(body);
    return row;
  }

  function figure(label, value, cls) {
    var f = el('div', 'fig ' + cls);
    f.appendChild(el('span', 'label', label));
    f.appendChild(el('span', 'val', value));
    return f;
  }

  // ago is the alert's age relative to the event-time watermark.
  function ago(t, watermark) {
    var at = parseTime(t), wm = parseTime(watermark);
    if (isNaN(at)) return '–';
    if (isNaN(wm)) return fmtTime(t).slice(11);
    return wm - at < 1000 ? 'now' : fmtDuration(wm - at) + ' ago';
  }

  function renderAlerts(alerts, watermark) {
    var box = document.getElementById('alerts');
    var seen = new Set();
    var rows = alerts.map(function (a) {
      // Only the newest emission of a fingerprint is current; older ones
      // (e.g. the firing row of a since-resolved alert) are dimmed.
      var older = seen.has(a.fingerprint);
      seen.add(a.fingerprint);
      return alertRow(a, watermark, older);
    });
    box.replaceChildren.apply(box, rows);
    document.getElementById('no-alerts').hidden = alerts.length > 0;
    setText('alert-count', alerts.length ? String(alerts.length) : '');
  }

  // ---------- tools ----------

  function sparkline(hist) {
    var W = 280, H = 60, P = 3;
    var s = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, class: 'spark', role: 'img', preserveAspectRatio: 'none' });
    var pts = (hist || []).filter(function (p) { return p && (isNum(p.calls_per_min) || isNum(p.latency_p99_ms)); });
    if (pts.length < 2) {
      var t = svg('text', { x: W / 2, y: H / 2 + 4, 'text-anchor': 'middle', class: 'spark-empty' });
      t.textContent = 'not enough history';
      s.appendChild(t);
      return s;
    }
    function max(key) {
      return pts.reduce(function (m, p) { return isNum(p[key]) && p[key] > m ? p[key] : m; }, 0);
    }
    var maxC = max('calls_per_min'), maxL = max('latency_p99_ms');
    var x = function (i) { return (P + i * (W - 2 * P) / (pts.length - 1)).toFixed(1); };
    var y = function (v, m) { return (H - P - (m > 0 && isNum(v) ? v / m : 0) * (H - 2 * P)).toFixed(1); };
    var area = 'M' + x(0) + ',' + (H - P);
    var line = '';
    pts.forEach(function (p, i) {
      area += ' L' + x(i) + ',' + y(p.calls_per_min, maxC);
      line += (i ? ' L' : 'M') + x(i) + ',' + y(p.latency_p99_ms, maxL);
    });
    area += ' L' + x(pts.length - 1) + ',' + (H - P) + ' Z';
    s.appendChild(svg('path', { d: area, class: 'spark-calls' }));
    s.appendChild(svg('path', { d: line, class: 'spark-lat', 'vector-effect': 'non-scaling-stroke' }));
    var title = svg('title', {});
    title.textContent = pts.length + ' points; peak ' + fmtRate(maxC) + ', peak p99 ' + fmtMs(maxL);
    s.appendChild(title);
    return s;
  }

  function toolCard(t, firing) {
    var card = el('article', 'tool-card' + (firing ? ' has-firing' : ''));
    card.dataset.tool = t.tool;
    var head = el('header');
    head.appendChild(el('h3', 'tool-name', t.tool));
    if (firing) head.appendChild(el('span', 'badge', firing + ' firing'));
    card.appendChild(head);

    var figs = el('div', 'figures');
    figs.appendChild(figure('calls', fmtRate(t.calls_per_min), 'calls'));
    figs.appendChild(figure('latency p50 / p99', fmtPair(fmtMs(t.latency_p50_ms), fmtMs(t.latency_p99_ms)), 'lat'));
    figs.appendChild(figure('output p50 / p99', fmtPair(fmtBytes(t.output_p50_bytes), fmtBytes(t.output_p99_bytes)), 'out'));
    figs.appendChild(figure('shapes · agents', fmtNum(t.shapes, 0) + ' · ' + fmtNum(t.agents, 0), 'card'));
    card.appendChild(figs);

    card.appendChild(sparkline(t.history));
    var legend = el('div', 'legend');
    legend.appendChild(el('span', 'lg-calls', 'calls/min'));
    legend.appendChild(el('span', 'lg-lat', 'latency p99'));
    card.appendChild(legend);
    return card;
  }

  function renderTools(tools, alerts) {
    // Firing alerts per tool, counting each fingerprint's newest emission.
    var firing = new Map(), seen = new Set();
    alerts.forEach(function (a) {
      if (seen.has(a.fingerprint)) return;
      seen.add(a.fingerprint);
      if (a.status === 'firing') firing.set(a.tool, (firing.get(a.tool) || 0) + 1);
    });
    var box = document.getElementById('tools');
    box.replaceChildren.apply(box, tools.map(function (t) { return toolCard(t, firing.get(t.tool) || 0); }));
    document.getElementById('no-tools').hidden = tools.length > 0;
    setText('tool-count', tools.length ? String(tools.length) : '');
  }

  // ---------- polling ----------

  function render(s) {
    var alerts = Array.isArray(s.alerts) ? s.alerts : [];
    var tools = Array.isArray(s.tools) ? s.tools : [];
    renderDaemon(s.daemon);
    renderAlerts(alerts, s.daemon && s.daemon.watermark);
    renderTools(tools, alerts);
  }

  function setState(state, err) {
    document.body.dataset.state = state;
    var conn = document.getElementById('conn');
    if (state === 'live') {
      conn.textContent = 'live';
      conn.title = 'updated ' + new Date(lastOK).toLocaleTimeString();
    } else {
      conn.textContent = lastOK ? 'stale · last update ' + new Date(lastOK).toLocaleTimeString() : 'stale · no data';
      conn.title = err ? String(err.message || err) : '';
    }
  }

  function poll() {
    var ctl = new AbortController();
    var timer = setTimeout(function () { ctl.abort(); }, TIMEOUT_MS);
    fetch('api/status', { cache: 'no-store', headers: { Accept: 'application/json' }, signal: ctl.signal })
      .then(function (res) {
        if (!res.ok) throw new Error('api/status: HTTP ' + res.status);
        return res.text();
      })
      .then(function (text) {
        var s = JSON.parse(text);
        lastOK = Date.now();
        if (text !== lastText) {
          lastText = text;
          snap = s;
          render(s);
          openFromHash(false);
        } else if (snap) {
          renderDaemon(snap.daemon); // keep uptime ticking
        }
        setState('live');
      })
      .catch(function (err) { setState('stale', err); })
      .finally(function () {
        clearTimeout(timer);
        setTimeout(poll, POLL_MS);
      });
  }

  // openFromHash expands the alert named by #alert-<id>.
  function openFromHash(scroll) {
    var h = decodeURIComponent(location.hash.slice(1));
    if (h.indexOf('alert-') !== 0) return;
    var row = document.getElementById(h);
    if (!row || row.tagName !== 'DETAILS') return;
    openIds.add(row.dataset.alertId);
    row.open = true;
    if (scroll) row.scrollIntoView({ block: 'nearest' });
  }

  window.addEventListener('hashchange', function () { openFromHash(true); });
  poll();
})();
