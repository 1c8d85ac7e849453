// Eddy console: a small single-page app over eddyd's JSON admin API (/api/v1, docs/admin-api.md)
// and the schema registry's REST API. Vanilla JS, no framework, no build step; charts are
// inline SVG. Every value shown comes from the API and is escaped before it reaches the DOM.
'use strict';

const $main = document.getElementById('main');
const $status = document.getElementById('status');
let refreshTimer = null;

function esc(v) {
  return String(v === null || v === undefined ? '' : v).replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  })[c]);
}

function fmtBytes(n) {
  if (n === null || n === undefined) return '';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + u[i];
}

function fmtTime(ms) {
  if (ms === null || ms === undefined || ms < 0) return '';
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

function fmtDur(ms) {
  if (ms === null || ms === undefined) return '–';
  if (ms < 1000) return ms + ' ms';
  const s = ms / 1000;
  if (s < 120) return s.toFixed(1) + ' s';
  if (s < 7200) return (s / 60).toFixed(1) + ' min';
  if (s < 172800) return (s / 3600).toFixed(1) + ' h';
  return (s / 86400).toFixed(1) + ' d';
}

function num(n, d) {
  return typeof n === 'number' ? n.toFixed(d || 0) : '';
}

async function api(path, opts) {
  const o = Object.assign({ headers: {} }, opts || {});
  if (o.json !== undefined) {
    o.body = JSON.stringify(o.json);
    o.headers['Content-Type'] = 'application/json';
    delete o.json;
  }
  const r = await fetch(path, o);
  let body = null;
  const text = await r.text();
  try { body = text ? JSON.parse(text) : null; } catch (e) { body = { message: text }; }
  if (!r.ok) {
    const err = new Error((body && body.message) || ('HTTP ' + r.status));
    err.status = r.status;
    err.body = body;
    throw err;
  }
  return body;
}

function showError(where, e) {
  where.innerHTML = '<div class="error" role="alert">' + esc(e.message) + '</div>';
}

function table(cols, rows, cls) {
  return '<table class="' + (cls || '') + '"><thead><tr>' +
    cols.map((c) => '<th>' + esc(c) + '</th>').join('') + '</tr></thead><tbody>' +
    rows.map((r) => '<tr>' + r.map((c) => '<td>' + c + '</td>').join('') + '</tr>').join('') +
    '</tbody></table>';
}

// A line chart of [[t, v], ...] as inline SVG.
function lineChart(points, opts) {
  const w = (opts && opts.width) || 640, h = (opts && opts.height) || 140, pad = h < 60 ? 4 : 28;
  if (!points.length) {
    return '<svg class="chart" width="' + w + '" height="' + h + '" role="img" aria-label="no data yet">' +
      '<text x="' + (w / 2) + '" y="' + (h / 2) + '" text-anchor="middle" class="muted">no samples yet (one every 10 s)</text></svg>';
  }
  const t0 = points[0][0], t1 = Math.max(points[points.length - 1][0], t0 + 1);
  const vmax = Math.max(1, ...points.map((p) => p[1]));
  const x = (t) => pad + (w - 2 * pad) * (t - t0) / (t1 - t0);
  const y = (v) => h - pad + 4 - (h - 2 * pad) * v / vmax;
  const d = points.map((p, i) => (i ? 'L' : 'M') + x(p[0]).toFixed(1) + ',' + y(p[1]).toFixed(1)).join(' ');
  const small = h < 60;
  return '<svg class="chart" width="' + w + '" height="' + h + '" role="img" aria-label="' + esc((opts && opts.label) || 'chart') + '">' +
    (small ? '' : '<line x1="' + pad + '" y1="' + (h - pad + 4) + '" x2="' + (w - pad) + '" y2="' + (h - pad + 4) + '" class="axis"/>' +
    '<text x="' + pad + '" y="12" class="muted">' + esc(num(vmax, vmax < 10 ? 2 : 0)) + ' ' + esc((opts && opts.unit) || '') + '</text>' +
    '<text x="' + pad + '" y="' + (h - 4) + '" class="muted">' + esc(fmtTime(t0).slice(11, 19)) + '</text>' +
    '<text x="' + (w - pad) + '" y="' + (h - 4) + '" text-anchor="end" class="muted">' + esc(fmtTime(t1).slice(11, 19)) + '</text>') +
    '<path d="' + d + '" class="line"/>' +
    (points.length === 1 ? '<circle cx="' + x(points[0][0]) + '" cy="' + y(points[0][1]) + '" r="3" class="dot"/>' : '') +
    '</svg>';
}

// Horizontal bars [{label, value}] as inline SVG.
function barChart(items, unit) {
  const w = 640, row = 22, h = Math.max(row * items.length + 8, 30);
  const vmax = Math.max(1, ...items.map((i) => i.value));
  return '<svg class="chart" width="' + w + '" height="' + h + '" role="img" aria-label="lag per partition">' +
    items.map((it, k) => {
      const bw = Math.max(1, (w - 260) * it.value / vmax);
      return '<text x="0" y="' + (k * row + 16) + '">' + esc(it.label) + '</text>' +
        '<rect x="180" y="' + (k * row + 4) + '" width="' + bw.toFixed(1) + '" height="14" class="bar"/>' +
        '<text x="' + (186 + bw) + '" y="' + (k * row + 16) + '" class="muted">' + esc(it.value) + ' ' + esc(unit) + '</text>';
    }).join('') + '</svg>';
}

// ---------------------------------------------------------------- pages

async function pageOverview() {
  const o = await api('/api/v1/cluster/overview');
  const b = o.broker;
  let html = '<h2>Overview</h2><section class="cards">' +
    card('Broker', '<span class="ok">' + esc(b.status) + '</span> · node ' + esc(b.node_id)) +
    card('Version', esc(b.version)) +
    card('Uptime', esc(fmtDur(b.uptime_ms))) +
    card('Topics', esc(o.totals.topics) + ' · ' + esc(o.totals.partitions) + ' partitions') +
    card('Stored', esc(fmtBytes(o.totals.size_bytes)) + ' · ' + esc(o.totals.messages) + ' messages') +
    card('Consumer groups', esc(o.totals.groups) + ' (' + Object.entries(o.groups).filter((e) => e[1]).map((e) => esc(e[1] + ' ' + e[0])).join(', ') + ')') +
    card('Connections', esc(b.connections)) +
    '</section>';
  html += '<p class="muted">Cluster ' + esc(b.cluster_id) + ' · listeners ' +
    b.listeners.map((l) => esc(l.name + ' ' + l.host + ':' + l.port)).join(', ') +
    ' · <a href="#/trace">trace a correlation id</a></p>';
  const all = [];
  o.topics.forEach((t) => t.rate.forEach((p) => all.push(p)));
  const byT = new Map();
  all.forEach((p) => byT.set(p[0], (byT.get(p[0]) || 0) + p[1]));
  const total = [...byT.entries()].sort((a, b2) => a[0] - b2[0]);
  html += '<h3>Produce throughput, all topics (last hour)</h3>' + lineChart(total, { unit: 'records/s', label: 'throughput all topics' });
  html += '<h3>Topics</h3>' + table(['topic', 'partitions', 'stored', 'messages', 'records/s', 'bytes/s', 'last hour'],
    o.topics.map((t) => [
      '<a href="#/topics/' + encodeURIComponent(t.name) + '">' + esc(t.name) + '</a>',
      esc(t.partitions), esc(fmtBytes(t.size_bytes)), esc(t.messages), esc(num(t.records_per_sec, 1)),
      esc(fmtBytes(Math.round(t.bytes_per_sec))), lineChart(t.rate, { width: 200, height: 40, label: t.name + ' throughput' }),
    ]), 'topics-table');
  let recent = null;
  try { recent = (await api('/api/v1/trace/recent')).recent; } catch (e) { recent = null; /* needs Read on every topic */ }
  if (recent) {
    html += '<h3>Recent correlation ids</h3>' + (recent.length ? table(['correlation id', 'last event', 'events', 'last seen', ''],
      recent.map((r) => ['<a class="trace-link" href="#/trace/' + encodeURIComponent(r.correlation_id) + '">' + esc(r.correlation_id) + '</a>',
        esc(r.last_event_type || ''), esc(r.events), esc(fmtTime(r.last_timestamp)),
        r.dead_letter ? '<span class="tag danger">dead letter</span>' : '']), 'recent-table')
      : '<p class="muted">No event carries an x-correlation-id header yet.</p>');
  }
  $main.innerHTML = html;
  refreshTimer = setTimeout(route, 10000);
}

function card(title, body) {
  return '<div class="card"><div class="muted">' + esc(title) + '</div><div class="big">' + body + '</div></div>';
}

async function pageTopics() {
  const o = await api('/api/v1/topics');
  $main.innerHTML = '<h2>Topics</h2>' +
    '<form id="create" class="row"><input name="name" placeholder="new topic name" required aria-label="topic name">' +
    '<input name="partitions" type="number" min="1" value="1" aria-label="partitions" style="width:6em">' +
    '<input name="configs" placeholder="configs: key=value, key=value" aria-label="configs" style="width:22em">' +
    '<button type="submit">Create topic</button></form><div id="msg"></div>' +
    table(['topic', 'partitions', 'stored', 'messages', 'cleanup', 'retention'],
      o.topics.map((t) => ['<a href="#/topics/' + encodeURIComponent(t.name) + '">' + esc(t.name) + '</a>',
        esc(t.partitions), esc(fmtBytes(t.size_bytes)), esc(t.messages), esc(t.cleanup_policy),
        esc(t.retention_ms < 0 ? 'forever' : fmtDur(t.retention_ms))]), 'topics-table');
  document.getElementById('create').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = ev.target, configs = {};
    f.configs.value.split(',').map((s) => s.trim()).filter(Boolean).forEach((kv) => {
      const i = kv.indexOf('=');
      if (i > 0) configs[kv.slice(0, i).trim()] = kv.slice(i + 1).trim();
    });
    try {
      const t = await api('/api/v1/topics', { method: 'POST', json: { name: f.name.value, partitions: Number(f.partitions.value), configs } });
      location.hash = '#/topics/' + encodeURIComponent(t.name);
    } catch (e) { showError(document.getElementById('msg'), e); }
  });
}

async function pageTopic(name) {
  const t = await api('/api/v1/topics/' + encodeURIComponent(name));
  $main.innerHTML = '<h2>Topic ' + esc(t.name) + '</h2>' +
    '<p class="muted">id ' + esc(t.topic_id) + ' · ' + esc(fmtBytes(t.size_bytes)) + ' · ' + esc(t.messages) + ' messages · ' +
    '<a href="#/messages/' + encodeURIComponent(t.name) + '">browse messages</a></p>' +
    '<h3>Partitions</h3>' + table(['partition', 'log start', 'log end', 'messages', 'stored', 'leader'],
      t.partitions_detail.map((p) => [esc(p.partition), esc(p.start_offset), esc(p.end_offset), esc(p.messages), esc(fmtBytes(p.size_bytes)), esc(p.leader)])) +
    '<h3>Configs</h3>' + table(['name', 'value', 'set on the topic'],
      Object.entries(t.configs).map((e) => [esc(e[0]), esc(e[1]), t.overrides[e[0]] !== undefined ? 'yes' : ''])) +
    '<form id="cfg" class="row"><input name="name" placeholder="config name (e.g. retention.ms)" aria-label="config name">' +
    '<input name="value" placeholder="value" aria-label="config value"><button type="submit">Set config</button></form>' +
    '<h3>Delete</h3><form id="del" class="row"><input name="confirm" placeholder="type the topic name to confirm" aria-label="confirm delete">' +
    '<button type="submit" class="danger">Delete topic</button></form><div id="msg"></div>';
  document.getElementById('cfg').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await api('/api/v1/topics/' + encodeURIComponent(name) + '/configs', { method: 'POST', json: { name: ev.target.name.value, value: ev.target.value.value } });
      route();
    } catch (e) { showError(document.getElementById('msg'), e); }
  });
  document.getElementById('del').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await api('/api/v1/topics/' + encodeURIComponent(name) + '?confirm=' + encodeURIComponent(ev.target.confirm.value), { method: 'DELETE' });
      location.hash = '#/topics';
    } catch (e) { showError(document.getElementById('msg'), e); }
  });
}

function renderValue(m) {
  if (m.value === null) return '<span class="muted">null (tombstone)</span>';
  if (m.schema_id !== undefined) {
    return '<span class="tag">schema id ' + esc(m.schema_id) + '</span>' +
      (m.value_schema_type === 'AVRO' ? ' <span class="tag avro">Avro, decoded</span>' : '') +
      (m.value_decode_error ? ' <span class="tag danger">not decoded: ' + esc(m.value_decode_error) + '</span>' : '') +
      renderValue(Object.assign({}, m, { schema_id: undefined }));
  }
  if (m.value_encoding === 'json') {
    try { return '<pre class="json">' + esc(JSON.stringify(JSON.parse(m.value), null, 2)) + '</pre>'; } catch (e) { /* shown as text */ }
  }
  return '<pre>' + esc(m.value) + '</pre>' + (m.value_encoding === 'base64' ? '<span class="tag">base64</span>' : '');
}

async function pageMessages(topicArg) {
  const topics = (await api('/api/v1/topics')).topics;
  const q = new URLSearchParams(location.hash.split('?')[1] || '');
  const topic = topicArg || q.get('topic') || (topics[0] && topics[0].name) || '';
  $main.innerHTML = '<h2>Messages</h2><form id="browse" class="row">' +
    '<select name="topic" aria-label="topic">' + topics.map((t) => '<option' + (t.name === topic ? ' selected' : '') + '>' + esc(t.name) + '</option>').join('') + '</select>' +
    '<input name="partition" placeholder="partition (all)" aria-label="partition" style="width:9em" value="' + esc(q.get('partition') || '') + '">' +
    '<select name="mode" aria-label="mode"><option value="newest">newest first</option><option value="offset">from offset</option>' +
    '<option value="timestamp">from time</option><option value="key">by key</option></select>' +
    '<input name="arg" placeholder="offset / ISO time / key" aria-label="mode argument">' +
    '<input name="limit" type="number" min="1" max="500" value="20" aria-label="limit" style="width:5em">' +
    '<select name="format" aria-label="format"><option>auto</option><option>text</option><option>json</option><option>base64</option></select>' +
    '<button type="submit">Show</button></form><div id="out"></div>';
  const form = document.getElementById('browse');
  const run = async () => {
    const out = document.getElementById('out');
    if (!form.topic.value) { out.innerHTML = '<p class="muted">No topics yet.</p>'; return; }
    const p = new URLSearchParams();
    if (form.partition.value !== '') p.set('partition', form.partition.value);
    const mode = form.mode.value, arg = form.arg.value;
    if (mode === 'offset') p.set('offset', arg || '0');
    if (mode === 'timestamp') p.set('timestamp', String(isNaN(Number(arg)) ? Date.parse(arg) : Number(arg)));
    if (mode === 'key') p.set('key', arg);
    p.set('limit', form.limit.value);
    p.set('format', form.format.value);
    try {
      const r = await api('/api/v1/topics/' + encodeURIComponent(form.topic.value) + '/messages?' + p.toString());
      out.innerHTML = '<p class="muted">' + esc(r.messages.length) + ' message(s), ' + esc(r.mode) + (r.truncated ? ' (scan budget reached: narrow the search)' : '') + '</p>' +
        table(['partition@offset', 'time', 'key', 'headers', 'CloudEvents', 'value'], r.messages.map((m) => [
          esc(m.partition + '@' + m.offset), esc(fmtTime(m.timestamp)),
          m.key === null ? '<span class="muted">null</span>' : esc(m.key),
          m.headers.map((h) => '<div><b>' + esc(h.key) + '</b>: ' + (h.key === 'x-correlation-id' && h.value
            ? '<a href="#/trace/' + encodeURIComponent(h.value) + '">' + esc(h.value) + '</a>' : esc(h.value)) + '</div>').join(''),
          m.cloudevents ? Object.entries(m.cloudevents).map((e) => '<div><b>' + esc(e[0]) + '</b> ' + esc(e[1]) + '</div>').join('') : '',
          renderValue(m),
        ]), 'messages-table');
    } catch (e) { showError(out, e); }
  };
  form.addEventListener('submit', (ev) => { ev.preventDefault(); run(); });
  run();
}

async function pageGroups() {
  const o = await api('/api/v1/groups');
  $main.innerHTML = '<h2>Consumer groups</h2>' + (o.groups.length ? table(['group', 'state', 'members', 'partitions', 'lag (messages)', 'lag (max seconds)'],
    o.groups.map((g) => ['<a href="#/groups/' + encodeURIComponent(g.group_id) + '">' + esc(g.group_id) + '</a>', esc(g.state),
      esc(g.member_count), esc(g.partitions), esc(g.total_lag), esc(num(g.max_lag_seconds, 1))]), 'groups-table') : '<p class="muted">No consumer groups yet.</p>');
  refreshTimer = setTimeout(route, 10000);
}

async function pageGroup(gid) {
  const g = await api('/api/v1/groups/' + encodeURIComponent(gid));
  const topics = [...new Set(g.offsets.map((o) => o.topic))];
  $main.innerHTML = '<h2>Group ' + esc(g.group_id) + '</h2><p class="muted">' + esc(g.state) + ' · generation ' + esc(g.generation) +
    ' · protocol ' + esc(g.protocol_type || '–') + '/' + esc(g.protocol || '–') + ' · total lag ' + esc(g.total_lag) + '</p>' +
    '<h3>Members</h3>' + (g.members.length ? table(['member', 'client', 'host', 'assignment'], g.members.map((m) => [esc(m.member_id), esc(m.client_id), esc(m.client_host),
      m.assignments.map((a) => esc(a.topic + ': ' + a.partitions.join(','))).join('<br>')])) : '<p class="muted">No active members.</p>') +
    '<h3>Committed offsets and lag</h3>' + table(['topic', 'partition', 'committed', 'log end', 'lag', 'lag (s)', 'committed at'],
      g.offsets.map((o) => [esc(o.topic), esc(o.partition), esc(o.committed_offset), esc(o.log_end_offset), esc(o.lag), esc(num(o.lag_seconds, 1)), esc(fmtTime(o.commit_time_ms))]), 'offsets-table') +
    barChart(g.offsets.map((o) => ({ label: o.topic + '/' + o.partition, value: o.lag })), 'msgs') +
    '<h3>Total lag, last hour</h3>' + lineChart(g.lag_history.map((p) => [p[0], p[1]]), { unit: 'messages', label: 'lag history' }) +
    '<h3>Reset offsets</h3><form id="reset" class="row">' +
    '<select name="to" aria-label="reset to"><option value="earliest">earliest</option><option value="latest">latest</option>' +
    '<option value="timestamp">timestamp</option><option value="offset">offset</option></select>' +
    '<input name="arg" placeholder="ISO time / offset" aria-label="reset argument">' +
    '<select name="topic" aria-label="reset topic"><option value="">every committed topic</option>' + topics.map((t) => '<option>' + esc(t) + '</option>').join('') + '</select>' +
    '<button type="submit" id="preview">Preview</button></form><div id="plan"></div>';
  const form = document.getElementById('reset');
  const body = () => {
    const b = { to: form.to.value };
    if (form.topic.value) b.topic = form.topic.value;
    if (b.to === 'timestamp') b.timestamp = isNaN(Number(form.arg.value)) ? Date.parse(form.arg.value) : Number(form.arg.value);
    if (b.to === 'offset') b.offset = Number(form.arg.value);
    return b;
  };
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const plan = document.getElementById('plan');
    const b = body();
    try {
      const r = await api('/api/v1/groups/' + encodeURIComponent(gid) + '/reset', { method: 'POST', json: Object.assign({ preview: true }, b) });
      plan.innerHTML = '<p>Preview: what the reset would change' + (r.active ? ' — <b>the group has active members: stop them before applying</b>' : '') + '</p>' +
        table(['topic', 'partition', 'current', 'new', 'lag after'], r.changes.map((c) => [esc(c.topic), esc(c.partition), esc(c.current_offset), esc(c.new_offset), esc(c.lag_after)]), 'preview-table') +
        '<button id="apply" class="danger">Apply this reset</button><div id="applied"></div>';
      document.getElementById('apply').addEventListener('click', async () => {
        try {
          const a = await api('/api/v1/groups/' + encodeURIComponent(gid) + '/reset', { method: 'POST', json: Object.assign({ preview: false }, b) });
          document.getElementById('applied').innerHTML = '<p class="ok" id="reset-done">Reset applied on ' + esc(a.changes.length) + ' partition(s).</p>';
          refreshTimer = setTimeout(route, 1500); // cleared if the user moves on first
        } catch (e) { showError(document.getElementById('applied'), e); }
      });
    } catch (e) { showError(plan, e); }
  });
}

async function pageSchemas(subject) {
  let subjects;
  try { subjects = await api('/subjects'); } catch (e) { $main.innerHTML = '<h2>Schemas</h2>'; showError($main, e); return; }
  let html = '<h2>Schemas</h2><div class="split"><ul class="list">' + subjects.map((s) =>
    '<li><a href="#/schemas/' + encodeURIComponent(s) + '">' + esc(s) + '</a></li>').join('') + '</ul><div id="subject">' +
    (subjects.length ? '<p class="muted">Pick a subject.</p>' : '<p class="muted">No subjects registered.</p>') + '</div></div>';
  let global = '';
  try { global = (await api('/config')).compatibilityLevel; } catch (e) { global = ''; }
  html = html.replace('<h2>Schemas</h2>', '<h2>Schemas</h2><p class="muted">Global compatibility: ' + esc(global) + '</p>');
  $main.innerHTML = html;
  if (!subject) return;
  const el = document.getElementById('subject');
  try {
    const versions = await api('/subjects/' + encodeURIComponent(subject) + '/versions');
    let compat = global + ' (global)';
    try { compat = (await api('/config/' + encodeURIComponent(subject) + '?defaultToGlobal=true')).compatibilityLevel; } catch (e) { /* shown as global */ }
    const latest = await api('/subjects/' + encodeURIComponent(subject) + '/versions/latest');
    let schema = latest.schema;
    try { schema = JSON.stringify(JSON.parse(schema), null, 2); } catch (e) { /* not JSON (protobuf) */ }
    const opts = versions.map((v) => '<option>' + esc(v) + '</option>').join('');
    el.innerHTML = '<h3>' + esc(subject) + '</h3><p class="muted">versions ' + esc(versions.join(', ')) + ' · compatibility ' + esc(compat) +
      ' · latest id ' + esc(latest.id) + ' · type ' + esc(latest.schemaType || 'AVRO') + '</p><pre class="json">' + esc(schema) + '</pre>' +
      '<h3>Diff between versions</h3><form id="diff" class="row"><select name="a" aria-label="from version">' + opts + '</select> → ' +
      '<select name="b" aria-label="to version">' + opts + '</select><button type="submit">Diff</button></form><div id="diffout"></div>' +
      '<h3>Compatibility check</h3><form id="compat"><textarea name="schema" rows="6" cols="80" aria-label="candidate schema" placeholder="a new schema for ' + esc(subject) + '"></textarea>' +
      '<div class="row"><button type="submit">Check against the latest version</button></div></form><div id="compatout"></div>';
    const df = document.getElementById('diff');
    df.b.value = String(versions[versions.length - 1]);
    df.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const out = document.getElementById('diffout');
      try {
        const [x, y] = await Promise.all([df.a.value, df.b.value].map((v) => api('/subjects/' + encodeURIComponent(subject) + '/versions/' + encodeURIComponent(v))));
        out.innerHTML = '<pre class="diff">' + lineDiff(pretty(x.schema), pretty(y.schema)).map((l) =>
          '<span class="' + (l[0] === '+' ? 'add' : l[0] === '-' ? 'del' : '') + '">' + esc(l) + '</span>').join('\n') + '</pre>';
      } catch (e) { showError(out, e); }
    });
    const cf = document.getElementById('compat');
    cf.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const out = document.getElementById('compatout');
      try {
        const body = { schema: cf.schema.value };
        if (latest.schemaType) body.schemaType = latest.schemaType;
        const r = await api('/compatibility/subjects/' + encodeURIComponent(subject) + '/versions/latest?verbose=true', { method: 'POST', json: body });
        out.innerHTML = r.is_compatible ? '<p class="ok" id="compat-result">compatible with the latest version</p>'
          : '<p class="danger" id="compat-result">not compatible: ' + esc((r.messages || []).join('; ')) + '</p>';
      } catch (e) { showError(out, e); }
    });
  } catch (e) { showError(el, e); }
}

function pretty(schema) {
  try { return JSON.stringify(JSON.parse(schema), null, 2); } catch (e) { return schema; }
}

// A line diff (longest common subsequence): lines prefixed "+ ", "- " or "  ".
function lineDiff(a, b) {
  const x = a.split('\n'), y = b.split('\n');
  const n = x.length, m = y.length;
  const L = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) L[i][j] = x[i] === y[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
  const out = [];
  let i = 0, j = 0;
  while (i < n && j < m) {
    if (x[i] === y[j]) { out.push('  ' + x[i]); i++; j++; } else if (L[i + 1][j] >= L[i][j + 1]) { out.push('- ' + x[i++]); } else { out.push('+ ' + y[j++]); }
  }
  while (i < n) out.push('- ' + x[i++]);
  while (j < m) out.push('+ ' + y[j++]);
  return out;
}

async function pageTrace(cidArg) {
  $main.innerHTML = '<h2>Trace</h2><form id="trace" class="row"><input name="cid" placeholder="correlation id" aria-label="correlation id" style="width:28em" value="' + esc(cidArg || '') + '">' +
    '<button type="submit">Trace</button></form><div id="out"></div>';
  const form = document.getElementById('trace');
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = form.cid.value.trim();
    if (v) location.hash = '#/trace/' + encodeURIComponent(v);
  });
  if (!cidArg) return;
  const out = document.getElementById('out');
  try {
    const r = await api('/api/v1/trace?correlation_id=' + encodeURIComponent(cidArg));
    if (!r.events.length) { out.innerHTML = '<p class="muted">No event carries correlation id ' + esc(cidArg) + ' (' + esc(r.topics_scanned) + ' topics scanned).</p>'; return; }
    out.innerHTML = '<p class="muted" id="trace-summary">' + esc(r.events.length) + ' event(s) across ' + esc(new Set(r.events.map((e) => e.topic)).size) + ' topic(s)' + (r.truncated ? ' (scan budget reached)' : '') + '</p>' +
      timeline(r.events) +
      table(['time', 'topic/partition@offset', 'event', 'source', 'causation', 'dwell in broker', 'consumed by'], r.events.map((e) => [
        esc(fmtTime(e.timestamp)), esc(e.topic + '/' + e.partition + '@' + e.offset),
        '<span style="padding-left:' + (e.depth * 14) + 'px">' + (e.depth ? '↳ ' : '') + esc(e.event_type || '–') + '</span>' +
          (e.dead_letter ? ' <span class="tag danger">dead letter: ' + esc(e.dead_letter.error || e.dead_letter.reason) + '</span>' : ''),
        esc(e.source || ''), esc(e.causation_id || ''),
        esc(fmtDur(e.dwell_ms)) + (e.dwell_basis ? ' <span class="muted">(' + esc(e.dwell_basis.replace('_', ' ')) + ')</span>' : ''),
        esc(e.consumed_by.map((c) => c.group).join(', ')),
      ]), 'trace-table');
  } catch (e) { showError(out, e); }
}

// The chain as a timeline: one row per event, a dot at its time and a bar for its dwell.
function timeline(events) {
  const w = 900, row = 26, left = 300, h = events.length * row + 30;
  const t0 = Math.min(...events.map((e) => e.timestamp));
  const t1 = Math.max(...events.map((e) => e.timestamp + (e.dwell_ms || 0)), t0 + 1);
  const x = (t) => left + (w - left - 20) * (t - t0) / (t1 - t0);
  return '<svg class="chart timeline" width="' + w + '" height="' + h + '" role="img" aria-label="trace timeline">' +
    events.map((e, i) => {
      const y = i * row + 18;
      return '<text x="' + (4 + e.depth * 12) + '" y="' + (y + 4) + '"' + (e.dead_letter ? ' class="danger"' : '') + '>' + esc((e.event_type || e.topic).slice(0, 36)) + '</text>' +
        (e.dwell_ms !== null ? '<rect x="' + x(e.timestamp).toFixed(1) + '" y="' + (y - 5) + '" width="' + Math.max(1, x(e.timestamp + e.dwell_ms) - x(e.timestamp)).toFixed(1) + '" height="10" class="bar"/>' : '') +
        '<circle cx="' + x(e.timestamp).toFixed(1) + '" cy="' + y + '" r="5" class="' + (e.dead_letter ? 'dot danger' : 'dot') + '"/>';
    }).join('') +
    '<text x="' + left + '" y="' + (h - 4) + '" class="muted">' + esc(fmtTime(t0)) + '</text>' +
    '<text x="' + (w - 20) + '" y="' + (h - 4) + '" text-anchor="end" class="muted">+' + esc(fmtDur(t1 - t0)) + '</text></svg>';
}

async function pageDlq() {
  const o = await api('/api/v1/dlq');
  // the queues holding dead letters first (most first); the empty ones on one line
  const held = o.dlq_topics.filter((t) => t.messages > 0).sort((a, b) => b.messages - a.messages);
  const empty = o.dlq_topics.filter((t) => !(t.messages > 0));
  const emptyLine = empty.length ? '<p class="muted dlq-empty">No dead letters in: ' + empty.map((t) => esc(t.topic)).join(', ') + '</p>' : '';
  $main.innerHTML = '<h2>Dead letters</h2>' + (held.length ? held.map((t, ti) =>
    '<h3>' + esc(t.topic) + ' <span class="muted">(' + esc(t.messages) + ' messages, from ' + esc(t.source_topic) + ')</span></h3>' +
    table(['partition@offset', 'failed at', 'reason', 'error', 'attempts', 'service', 'source', 'event', 'trace', ''], t.latest.map((d) => [
      esc(d.partition + '@' + d.offset), esc(d.failed_at || fmtTime(d.timestamp)), esc(d.reason), esc(d.error), esc(d.attempt_count),
      esc(d.service), esc((d.source_topic || '') + (d.source_offset !== undefined && d.source_offset !== null ? '/' + d.source_partition + '@' + d.source_offset : '')),
      esc(d.event_type), d.correlation_id ? '<a href="#/trace/' + encodeURIComponent(d.correlation_id) + '">trace</a>' : '',
      '<button type="button" class="redrive-one" data-dlq="' + esc(t.topic) + '" data-po="' + esc(d.partition + ':' + d.offset) + '">redrive</button>',
    ]), 'dlq-table') +
    '<form class="row redrive-form" data-dlq="' + esc(t.topic) + '">' +
    '<input name="filter" placeholder="filter: error=… reason=… key=… offset=A..B (; between)" aria-label="filter" style="min-width:26em">' +
    '<input name="to" placeholder="to topic (default: the source)" aria-label="to topic">' +
    '<input name="max" type="number" min="1" value="3" aria-label="max redrives" title="loop guard: max redrives" style="width:5em">' +
    '<button type="submit">Redrive filtered / all…</button></form>' +
    '<div class="redrive-plan" id="plan-' + ti + '"></div>').join('') + emptyLine
    : (empty.length ? emptyLine : '<p class="muted">No dead-letter topics (*.dlq).</p>'));
  const planOf = (dlq) => {
    const f = [...document.querySelectorAll('.redrive-form')].find((x) => x.dataset.dlq === dlq);
    return f.nextElementSibling;
  };
  const outcomes = (r) => table(['dead letter', 'outcome', 'key', 'to', 'redrives', 'reason', 'error'], r.results.map((x) => [
    esc(x.dlq_partition + ':' + x.dlq_offset),
    '<span class="outcome ' + esc(x.outcome) + '">' + esc(x.outcome) + '</span>',
    esc(x.key), esc(x.to_topic ? x.to_topic + (x.to_offset !== undefined ? '/' + x.to_partition + '@' + x.to_offset : '') : ''),
    esc(x.redrive_count), esc(x.reason), esc(x.error),
  ]), 'redrive-table');
  const summary = (r) => {
    const s = r.stats;
    return '<p class="redrive-summary">' + (r.dry_run ? 'Dry run: ' + esc(s.would_move) + ' would move' : esc(s.moved) + ' moved') +
      ', ' + esc(s.loop_guard) + ' refused by the loop guard (max ' + esc(r.max_redrives) + '), ' + esc(s.already_redriven) +
      ' already redriven, ' + esc(s.filtered_out) + ' filtered out.</p>';
  };
  // dry run first; the confirmation moves exactly the previewed records
  const preview = async (dlq, body) => {
    const plan = planOf(dlq);
    try {
      const url = '/api/v1/dlq/' + encodeURIComponent(dlq) + '/redrive';
      const r = await api(url, { method: 'POST', json: Object.assign({ dry_run: true }, body) });
      const moving = r.results.filter((x) => x.outcome === 'would_move').map((x) => x.dlq_partition + ':' + x.dlq_offset);
      plan.innerHTML = summary(r) + outcomes(r) + (moving.length
        ? '<div class="row"><button type="button" class="danger" id="confirm-redrive">Confirm: redrive ' + moving.length + ' record(s)</button>' +
          '<button type="button" id="cancel-redrive">Cancel</button></div>' : '');
      if (!moving.length) return;
      document.getElementById('cancel-redrive').onclick = () => { plan.innerHTML = ''; };
      document.getElementById('confirm-redrive').onclick = async () => {
        try {
          const a = await api(url, { method: 'POST', json: Object.assign({}, body, { dry_run: false, records: moving }) });
          plan.innerHTML = '<div class="ok redrive-done">' + summary(a) + '</div>' + outcomes(a);
        } catch (e) { showError(plan, e); }
      };
    } catch (e) { showError(plan, e); }
  };
  document.querySelectorAll('.redrive-one').forEach((b) => b.addEventListener('click', () =>
    preview(b.dataset.dlq, { records: [b.dataset.po] })));
  document.querySelectorAll('.redrive-form').forEach((f) => f.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const body = { max_redrives: Number(f.max.value) || 3 };
    const filters = f.filter.value.split(';').map((x) => x.trim()).filter((x) => x);
    if (filters.length) body.filter = filters;
    if (f.to.value.trim()) body.to = f.to.value.trim();
    preview(f.dataset.dlq, body);
  }));
}

// ---------------------------------------------------------------- router

// One render at a time: a navigation during a render renders again once it is done, so an
// older page's answers can never land over a newer one.
let routing = null;
let again = false;

async function route() {
  if (routing) { again = true; return routing; }
  routing = (async () => {
    do { again = false; await routeOnce(); } while (again);
  })();
  try { await routing; } finally { routing = null; }
}

async function routeOnce() {
  clearTimeout(refreshTimer);
  const h = location.hash.replace(/^#\/?/, '').split('?')[0];
  const [page, ...rest] = h.split('/');
  const arg = rest.length ? decodeURIComponent(rest.join('/')) : '';
  document.querySelectorAll('#nav a').forEach((a) => a.classList.toggle('active', a.dataset.page === (page || 'overview')));
  $status.textContent = 'loading…';
  try {
    switch (page || 'overview') {
      case 'overview': await pageOverview(); break;
      case 'topics': await (arg ? pageTopic(arg) : pageTopics()); break;
      case 'messages': await pageMessages(arg); break;
      case 'groups': await (arg ? pageGroup(arg) : pageGroups()); break;
      case 'schemas': await pageSchemas(arg); break;
      case 'trace': await pageTrace(arg); break;
      case 'dlq': await pageDlq(); break;
      default: $main.innerHTML = '<p>Unknown page.</p>';
    }
    $status.textContent = 'updated ' + new Date().toLocaleTimeString();
  } catch (e) {
    showError($main, e);
    $status.textContent = '';
  }
  // what a test (or a person's script) waits for: the route this render finished
  if (again) return; // a newer navigation renders next
  document.body.dataset.page = page || 'overview';
  document.body.dataset.route = location.hash || '#/overview';
}

window.addEventListener('hashchange', () => { document.body.dataset.route = ''; route(); });
route();
