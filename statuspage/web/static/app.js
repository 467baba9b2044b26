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
  var FILTERS = ['pattern', 'severity', 'tool', 'agent', 'status', 'q'];
  var filter = readFilter();  // current filters, mirrored in the URL query

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
    body.appendChild(evidenceChart(a));
    var links = el('div', 'links');
    link(links, 'open trace', a.trace_url, 'trace-link');
    link(links, 'runbook', a.runbook_url, 'runbook-link');
    if (links.childNodes.length) body.appendChild(links);

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


  // link appends an anchor for an http(s) URL; anything else (a
  // javascript: URL, say) is not made a link.
  function link(box, text, href, cls) {
    if (typeof href !== 'string') return;
    var scheme = href.slice(0, href.indexOf(':') + 1).toLowerCase();
    if (scheme !== 'http:' && scheme !== 'https:') return;
    var a = el('a', cls, text);
    a.href = href;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    box.appendChild(a);
  }

  // ---------- evidence picture ----------
  //
  // Drawn from what the alert carries: the baseline quantiles, threshold
  // and observation in details for latency and output size; the expected
  // count, the hour slot's usual peak and the threshold for frequency and
  // denial spikes; the known shapes for input novelty. Missing keys fall
  // back to alert.expected, so a picture is always drawn.

  var CW = 680, CH = 140, CP = 16;

  function num(d, k) { return d && isNum(d[k]) ? d[k] : undefined; }

  function evidenceSpec(a) {
    var d = a.details || {};
    var s = { unit: a.unit, observed: a.observed, marks: [], band: null, whisker: null, threshold: num(d, 'threshold'), thrLabel: 'threshold' };
    if (a.pattern === 'latency' || a.pattern === 'output_size') {
      var p50 = num(d, 'baseline_p50'), p99 = num(d, 'baseline_p99'), p999 = num(d, 'baseline_p999');
      if (p50 === undefined) p50 = a.expected;
      s.log = true;
      s.caption = 'baseline (box p50–p99, whisker to p99.9) ' + (d.baseline_scope === 'tool' ? 'of the tool (all agents)' : 'of this agent and tool') +
        (isNum(d.samples) ? ', ' + fmtNum(d.samples, 0) + ' samples' : '') + '; log scale';
      if (isNum(p50) && isNum(p99)) s.band = [p50, p99];
      if (isNum(p99) && isNum(p999)) s.whisker = [p99, p999];
      [['p50', p50], ['p99', p99], ['p99.9', p999]].forEach(function (m) { if (isNum(m[1])) s.marks.push(m); });
    } else if (a.pattern === 'input_novelty' && d.kind === 'vocabulary_opening') {
      // An opening is not one new shape: it is many shapes in use against
      // the tool's long-term reference vocabulary (detect/inputs).
      var ref = num(d, 'reference_shapes');
      if (ref === undefined) ref = a.expected;
      if (isNum(ref)) { s.band = [0, ref]; s.marks.push(['reference', ref]); }
      s.threshold = ref;
      s.thrLabel = 'reference vocabulary';
      s.caption = 'distinct input shapes in use against the tool\'s long-term reference vocabulary' +
        (isNum(d.new_shapes) ? '; ' + fmtNum(d.new_shapes, 0) + ' new shapes' : '');
      s.log = isNum(a.observed) && isNum(ref) && ref > 0 && a.observed / ref > 50;
    } else if (a.pattern === 'input_novelty') {
      s.shapes = true;
    } else {
      // Counts per window: frequency (spike, loop) and denial_spike.
      var exp = num(d, 'expected'), peak = num(d, 'slot_peak');
      var expName = 'expected';
      if (d.same_input_peak !== undefined) {
        exp = num(d, 'same_input_peak');
        expName = 'usual peak';
        s.caption = 'calls with one input per window: the usual peak, the threshold and this window';
      }
      if (exp === undefined) exp = a.expected;
      if (isNum(peak) && peak > exp) {
        s.band = [exp, peak];
        s.marks.push(['expected', exp], ['usual peak', peak]);
      } else if (isNum(exp)) {
        s.band = [0, exp];
        s.marks.push([expName, exp]);
      }
      if (!s.caption) s.caption = (a.unit || 'count') + ' in this window' + (isNum(d.hour_slot) ? ', hour-of-day slot ' + d.hour_slot : '') +
        (d.baseline === 'tool' ? ', borrowed from the tool baseline' : '');
      if (s.threshold === undefined) { s.threshold = exp; s.thrLabel = 'expected'; }
      var lo = Math.max(1, Math.min(s.threshold || 1, exp || 1));
      s.log = isNum(a.observed) && a.observed / lo > 50;
    }
    return s;
  }

  function evidenceChart(a) {
    var spec = evidenceSpec(a);
    var box = el('figure', 'picture');
    var s = svg('svg', { viewBox: '0 0 ' + CW + ' ' + CH, class: 'evidence-chart', role: 'img', 'data-pattern': a.pattern || '' });
    if (spec.shapes) shapesChart(s, a); else stripChart(s, spec);
    var title = svg('title', {});
    title.textContent = (a.summary || '');
    s.insertBefore(title, s.firstChild);
    box.appendChild(s);
    if (spec.caption) box.appendChild(el('figcaption', null, spec.caption));
    return box;
  }

  // stripChart draws the baseline as a band (p50..p99, or expected..usual
  // peak) with a whisker (p99..p99.9) on a value axis, the threshold as a
  // dashed line and the observation as a line with a dot.
  function stripChart(s, spec) {
    var vals = [spec.observed, spec.threshold];
    spec.marks.forEach(function (m) { vals.push(m[1]); });
    vals = vals.filter(isNum);
    var hi = Math.max.apply(null, vals.concat([1e-9]));
    var lo = spec.log ? Math.min.apply(null, vals.filter(function (v) { return v > 0; }).concat([hi])) : 0;
    if (spec.log) { lo = lo / 1.6; hi = hi * 1.6; } else { hi = hi * 1.12; }
    var L = CP + 4, R = CW - CP - 4;
    function x(v) {
      if (!isNum(v)) return NaN;
      var f = spec.log ? (Math.log(Math.max(v, lo)) - Math.log(lo)) / (Math.log(hi) - Math.log(lo)) : (v - lo) / (hi - lo);
      return +(L + Math.min(1, Math.max(0, f)) * (R - L)).toFixed(1);
    }
    var axisY = 116;
    s.appendChild(svg('line', { x1: L, y1: axisY, x2: R, y2: axisY, class: 'axis' }));
    ticks(lo, hi, spec.log).forEach(function (v) {
      var tx = x(v);
      s.appendChild(svg('line', { x1: tx, y1: axisY, x2: tx, y2: axisY + 4, class: 'axis' }));
      var t = svg('text', { x: tx, y: axisY + 16, 'text-anchor': 'middle', class: 'tick' });
      t.textContent = spec.unit === 'ms' || spec.unit === 'bytes' ? fmtValue(v, spec.unit) : fmtNum(v);
      s.appendChild(t);
    });
    if (spec.band) {
      var bx = x(spec.band[0]), bw = Math.max(2, x(spec.band[1]) - bx);
      s.appendChild(svg('rect', { x: bx, y: 42, width: bw, height: 22, rx: 3, class: 'band' }));
    }
    if (spec.whisker) {
      s.appendChild(svg('line', { x1: x(spec.whisker[0]), y1: 53, x2: x(spec.whisker[1]), y2: 53, class: 'whisker' }));
      s.appendChild(svg('line', { x1: x(spec.whisker[1]), y1: 46, x2: x(spec.whisker[1]), y2: 60, class: 'whisker' }));
    }
    spec.marks.forEach(function (m, i) {
      var mx = x(m[1]);
      s.appendChild(svg('line', { x1: mx, y1: 42, x2: mx, y2: 64 + 12 * i, class: 'qmark' }));
      s.appendChild(label(mx, 78 + 12 * i, m[0] + ' ' + fmtValue(m[1], spec.unit), 'qlabel'));
    });
    if (isNum(spec.threshold)) {
      var tx = x(spec.threshold);
      s.appendChild(svg('line', { x1: tx, y1: 20, x2: tx, y2: axisY, class: 'mark-threshold', 'data-value': spec.threshold }));
      s.appendChild(label(tx, 15, spec.thrLabel + ' ' + fmtValue(spec.threshold, spec.unit), 'thr-label'));
    }
    if (isNum(spec.observed)) {
      var ox = x(spec.observed);
      s.appendChild(svg('line', { x1: ox, y1: 34, x2: ox, y2: axisY, class: 'mark-observed', 'data-value': spec.observed }));
      s.appendChild(svg('circle', { cx: ox, cy: 53, r: 5, class: 'obs-dot' }));
      s.appendChild(label(ox, 30, 'observed ' + fmtValue(spec.observed, spec.unit), 'obs-label'));
    }
  }

  // label is a text anchored away from the nearer edge.
  function label(lx, ly, text, cls) {
    var anchor = lx > CW * 0.62 ? 'end' : 'start';
    var t = svg('text', { x: lx, y: ly, dx: anchor === 'end' ? -4 : 4, 'text-anchor': anchor, class: cls });
    t.textContent = text;
    return t;
  }

  function ticks(lo, hi, log) {
    var out = [];
    if (log) {
      for (var e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
        [1, 3].forEach(function (m) { var v = m * Math.pow(10, e); if (v >= lo && v <= hi) out.push(v); });
      }
      return out;
    }
    var step = Math.pow(10, Math.floor(Math.log10(Math.max(hi, 1e-9) / 4)));
    if (hi / step > 10) step *= hi / step > 20 ? 5 : 2;
    for (var v = 0; v <= hi; v += step) out.push(v);
    return out;
  }

  // shapesChart draws the tool's known input shapes as squares (grouped
  // by kind), the edge of that vocabulary as the threshold and the new
  // shape beyond it.
  function shapesChart(s, a) {
    var d = a.details || {};
    var known = isNum(a.expected) ? Math.max(0, Math.round(a.expected)) : 0;
    var kinds = Array.isArray(d.known_kinds) ? d.known_kinds.map(String) : [];
    var shown = Math.min(known, 30), size = 12, gap = 4, x0 = CP + 4, y0 = 46;
    for (var i = 0; i < shown; i++) {
      s.appendChild(svg('rect', { x: x0 + i * (size + gap), y: y0, width: size, height: size, rx: 2, class: 'shape-known' }));
    }
    var edge = x0 + shown * (size + gap) + (known > shown ? 44 : 6);
    if (known > shown) {
      var more = svg('text', { x: x0 + shown * (size + gap) + 2, y: y0 + 10, class: 'qlabel' });
      more.textContent = '+' + fmtNum(known - shown, 0);
      s.appendChild(more);
    }
    var kt = svg('text', { x: x0, y: y0 + 44, class: 'qlabel' });
    kt.textContent = fmtNum(known, 0) + ' known shape' + (known === 1 ? '' : 's') + (kinds.length ? ': ' + kinds.join(', ') : '');
    s.appendChild(kt);
    s.appendChild(svg('line', { x1: edge, y1: 20, x2: edge, y2: 72, class: 'mark-threshold', 'data-value': known }));
    s.appendChild(label(edge, 15, 'known vocabulary', 'thr-label'));
    var first = d.first_seen !== false;
    var ox = first ? edge + 34 : edge - 10;
    s.appendChild(svg('line', { x1: ox, y1: 34, x2: ox, y2: 72, class: 'mark-observed', 'data-value': known + (first ? 1 : 0) }));
    s.appendChild(svg('rect', { x: ox - 8, y: y0 - 2, width: 16, height: 16, rx: 3, class: 'shape-new' }));
    var shape = typeof d.shape === 'string' ? d.shape : '';
    if (shape.length > 70) shape = shape.slice(0, 69) + '…';
    var cls = typeof d['class'] === 'string' && d['class'] ? ' (' + d['class'] + ')' : '';
    s.appendChild(label(ox, 30, (first ? 'new shape ' : 'shape ') + shape + cls, 'obs-label'));
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
    var rows = [];
    alerts.forEach(function (a) {
      // Only the newest emission of a fingerprint is current; older ones
      // (e.g. the firing row of a since-resolved alert) are dimmed.
      var older = seen.has(a.fingerprint);
      seen.add(a.fingerprint);
      if (matches(a)) rows.push(alertRow(a, watermark, older));
    });
    box.replaceChildren.apply(box, rows);
    fillOptions('f-tool', alerts.map(function (a) { return a.tool; }), filter.tool);
    fillOptions('f-agent', alerts.map(function (a) { return a.agent_id; }), filter.agent);
    var filtered = rows.length !== alerts.length;
    document.getElementById('no-alerts').hidden = rows.length > 0;
    document.getElementById('no-alerts').textContent = alerts.length ? 'No alert matches the filters.' : 'No alerts yet.';
    setText('alert-count', alerts.length ? (filtered ? rows.length + ' of ' + alerts.length : String(alerts.length)) : '');
  }

  // ---------- filters ----------

  function readFilter() {
    var f = {}, q = new URLSearchParams(location.search);
    FILTERS.forEach(function (k) { f[k] = q.get(k) || ''; });
    return f;
  }

  function writeFilter() {
    var q = new URLSearchParams();
    FILTERS.forEach(function (k) { if (filter[k]) q.set(k, filter[k]); });
    var qs = q.toString();
    history.replaceState(null, '', location.pathname + (qs ? '?' + qs : '') + location.hash);
  }

  function matches(a) {
    if (filter.pattern && a.pattern !== filter.pattern) return false;
    if (filter.severity && a.severity !== filter.severity) return false;
    if (filter.status && a.status !== filter.status) return false;
    if (filter.tool && a.tool !== filter.tool) return false;
    if (filter.agent && a.agent_id !== filter.agent) return false;
    if (filter.q) {
      var hay = [a.summary, a.tool, a.agent_id, a.pattern, a.severity, a.trace_id, a.span_id, a.task_id, a.id, a.fingerprint,
        a.environment, a.details ? JSON.stringify(a.details) : ''].join('\n').toLowerCase();
      var words = filter.q.toLowerCase().split(/\s+/).filter(Boolean);
      for (var i = 0; i < words.length; i++) if (hay.indexOf(words[i]) < 0) return false;
    }
    return true;
  }

  // fillOptions sets a select's options to the distinct values (sorted),
  // keeping the selected one even if no current alert has it.
  function fillOptions(id, values, selected) {
    var sel = document.getElementById(id);
    var set = new Set(values.filter(function (v) { return typeof v === 'string' && v !== ''; }));
    if (selected) set.add(selected);
    var opts = [sel.options[0]];
    Array.from(set).sort().forEach(function (v) {
      var o = document.createElement('option');
      o.value = v;
      o.textContent = v;
      opts.push(o);
    });
    sel.replaceChildren.apply(sel, opts);
    sel.value = selected || '';
  }

  // fillPatterns lists the daemon's detectors in its order, "input_novelty"
  // shown as "input novelty"; a pattern from the URL stays selectable.
  function fillPatterns(patterns) {
    var sel = document.getElementById('f-pattern');
    var vals = (Array.isArray(patterns) ? patterns : []).filter(function (v) { return typeof v === 'string' && v !== ''; });
    if (filter.pattern && vals.indexOf(filter.pattern) < 0) vals.push(filter.pattern);
    var opts = [sel.options[0]];
    vals.forEach(function (v) {
      var o = document.createElement('option');
      o.value = v;
      o.textContent = v.replace(/_/g, ' ');
      opts.push(o);
    });
    sel.replaceChildren.apply(sel, opts);
    sel.value = filter.pattern || '';
  }

  function initFilters() {
    FILTERS.forEach(function (k) {
      var c = document.getElementById('f-' + k);
      if (k === 'tool' || k === 'agent') fillOptions('f-' + k, [], filter[k]);
      else if (k === 'pattern') fillPatterns([]);
      else c.value = filter[k];
      c.addEventListener(k === 'q' ? 'input' : 'change', function () {
        filter[k] = c.value.trim();
        writeFilter();
        if (snap) render(snap);
      });
    });
    document.getElementById('f-clear').addEventListener('click', function () {
      FILTERS.forEach(function (k) { filter[k] = ''; document.getElementById('f-' + k).value = ''; });
      writeFilter();
      if (snap) render(snap);
    });
  }

  // ---------- tools ----------

  // sparkline plots calls/min (area) and the latency p99 (line) against
  // event time; a minute without a p99 sample breaks the line.
  function sparkline(hist) {
    var W = 280, H = 60, P = 3;
    var s = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, class: 'spark', role: 'img', preserveAspectRatio: 'none' });
    var pts = (hist || []).filter(function (p) {
      return p && !isNaN(parseTime(p.t)) && (isNum(p.calls_per_min) || isNum(p.latency_p99_ms));
    });
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
    var t0 = parseTime(pts[0].t), t1 = parseTime(pts[pts.length - 1].t);
    var x = function (p) { return (P + (parseTime(p.t) - t0) / Math.max(1, t1 - t0) * (W - 2 * P)).toFixed(1); };
    var y = function (v, m) { return (H - P - (m > 0 && isNum(v) ? v / m : 0) * (H - 2 * P)).toFixed(1); };
    var area = 'M' + x(pts[0]) + ',' + (H - P);
    var line = '', pen = false;
    pts.forEach(function (p) {
      area += ' L' + x(p) + ',' + y(p.calls_per_min, maxC);
      if (isNum(p.latency_p99_ms)) {
        line += (pen ? ' L' : (line ? ' M' : 'M')) + x(p) + ',' + y(p.latency_p99_ms, maxL);
        pen = true;
      } else {
        pen = false;
      }
    });
    area += ' L' + x(pts[pts.length - 1]) + ',' + (H - P) + ' Z';
    s.appendChild(svg('path', { d: area, class: 'spark-calls' }));
    if (line) s.appendChild(svg('path', { d: line, class: 'spark-lat', 'vector-effect': 'non-scaling-stroke' }));
    var title = svg('title', {});
    title.textContent = pts.length + ' minutes from ' + fmtTime(pts[0].t) + '; peak ' + fmtRate(maxC) + ', peak p99 ' + fmtMs(maxL);
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

  // ---------- compliance ----------

  // fmtShare writes part/whole as a percentage, "–" without a whole.
  function fmtShare(part, whole) {
    if (!isNum(part) || !isNum(whole) || whole <= 0) return '–';
    var p = 100 * part / whole;
    return (p === 100 || p === 0 ? p.toFixed(0) : p.toFixed(1)) + ' %';
  }

  // bars lists labelled counts with a bar scaled to whole (CSSOM width,
  // allowed by the CSP, unlike a style attribute in markup).
  function bars(rows, whole, cls) {
    var list = el('ul', 'bars ' + (cls || ''));
    rows.forEach(function (r) {
      var li = el('li');
      li.dataset.label = r.label;
      li.appendChild(el('span', 'bar-label', r.label));
      var track = el('span', 'bar-track');
      var bar = el('span', 'bar');
      bar.style.width = (whole > 0 ? Math.min(100, 100 * r.count / whole) : 0).toFixed(1) + '%';
      track.appendChild(bar);
      li.appendChild(track);
      li.appendChild(el('span', 'bar-count', fmtNum(r.count, 0)));
      list.appendChild(li);
    });
    return list;
  }

  function compCard(title, big, sub, id) {
    var card = el('article', 'comp-card');
    card.id = id;
    card.appendChild(el('h3', null, title));
    var f = figure(sub, big, 'share');
    card.appendChild(f);
    return card;
  }

  function counts(a) {
    return (Array.isArray(a) ? a : []).filter(function (r) { return r && typeof r.label === 'string' && isNum(r.count); });
  }

  function renderCompliance(c) {
    var sec = document.getElementById('compliance');
    if (!c || !isNum(c.records)) { sec.hidden = true; return; }
    sec.hidden = false;
    var n = c.records;
    setText('compliance-count', fmtNum(n, 0) + ' records');

    var comp = compCard('Audit-trail completeness', fmtShare(c.complete, n),
      fmtNum(c.complete, 0) + ' of ' + fmtNum(n, 0) + ' complete', 'comp-completeness');
    var missing = counts(c.missing_fields).filter(function (r) { return r.count > 0; });
    comp.appendChild(missing.length ? bars(missing, n, 'missing') : el('p', 'empty', 'No field of the minimum set is missing.'));
    var envs = (Array.isArray(c.environments) ? c.environments : []).filter(function (e) { return e && isNum(e.records); });
    if (envs.length > 1) {
      var dl = el('dl', 'env-shares');
      envs.forEach(function (e) { kv(dl, e.environment, fmtShare(e.complete, e.records)); });
      comp.appendChild(dl);
    }

    var cls = counts(c.classifications);
    var none = cls.filter(function (r) { return r.label === 'none'; })[0];
    var classified = n - (none ? none.count : 0);
    var cc = compCard('Data classification', fmtShare(classified, n), 'classified', 'comp-classification');
    cc.appendChild(bars(cls.filter(function (r) { return r.count > 0; }), n, 'classification'));

    var ret = counts(c.retention_policies);
    var rnone = ret.filter(function (r) { return r.label === 'none'; })[0];
    var rc = compCard('Retention policy', fmtShare(n - (rnone ? rnone.count : 0), n), 'with a policy', 'comp-retention');
    rc.appendChild(bars(ret.filter(function (r) { return r.count > 0; }), n, 'retention'));

    var ch = c.chain || {};
    var chain = compCard('Hash chains', fmtShare(ch.verified, n), 'chained and verified', 'comp-chain');
    var producers = Array.isArray(ch.producers) ? ch.producers : [];
    if (!producers.length) {
      chain.appendChild(el('p', 'empty', 'No chained record yet.'));
    } else {
      var t = el('table', 'producers');
      var hr = el('tr');
      [['producer'], ['records'], ['verified', 'share of the producer\'s chained records whose hash and link checked out'],
        ['gaps', 'gaps (sequence numbers missing)'], ['tamper', 'fork, altered, prev_mismatch, bad_signature, unknown_key']].forEach(function (h) {
        var th = el('th', null, h[0]);
        if (h[1]) th.title = h[1];
        hr.appendChild(th);
      });
      t.appendChild(hr);
      producers.forEach(function (p) {
        var tr = el('tr', [p.gaps > 0 ? 'gapped' : '', p.tamper > 0 ? 'tampered' : ''].filter(Boolean).join(' '));
        tr.dataset.producer = p.producer;
        tr.appendChild(el('td', 'mono', p.producer));
        tr.appendChild(el('td', null, fmtNum(p.records, 0)));
        tr.appendChild(el('td', null, fmtShare(p.verified, p.records)));
        tr.appendChild(el('td', null, fmtNum(p.gaps, 0) + ' (' + fmtNum(p.records_missing, 0) + ')'));
        tr.appendChild(el('td', 'tamper', fmtNum(p.tamper, 0)));
        t.appendChild(tr);
      });
      chain.appendChild(t);
    }
    var alerts = counts(ch.alerts).filter(function (r) { return r.count > 0; });
    if (alerts.length) {
      chain.appendChild(el('h4', null, 'chain alerts by kind'));
      var total = alerts.reduce(function (s, r) { return s + r.count; }, 0);
      chain.appendChild(bars(alerts, total, 'chain-alerts'));
    }

    var box = document.getElementById('compliance-body');
    box.replaceChildren(comp, cc, rc, chain);
  }

  // ---------- polling ----------

  function render(s) {
    var alerts = Array.isArray(s.alerts) ? s.alerts : [];
    var tools = Array.isArray(s.tools) ? s.tools : [];
    renderDaemon(s.daemon);
    fillPatterns(s.daemon && s.daemon.patterns);
    renderAlerts(alerts, s.daemon && s.daemon.watermark);
    renderTools(tools, alerts);
    renderCompliance(s.compliance);
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
  initFilters();
  poll();
})();
