// otlp_receiver.js — a stand-in OpenTelemetry collector for test_sdk_otlp (tests/sdk): it
// receives OTLP/HTTP JSON on POST /v1/traces and decodes it with the OpenTelemetry project's
// own protobuf definitions (npm @opentelemetry/otlp-transformer, its generated protobufjs root
// of opentelemetry-proto): the OTLP JSON mapping's hex ids are turned into bytes, then
// ExportTraceServiceRequest.fromObject → verify → encode (protobuf) → decode → toObject, and
// the result must equal what was sent field for field, so a misspelt field, a wrong type or a
// malformed id is a 400 (and counted), never silently ignored. Decoded spans are kept for the
// test.
//
// Two ports on 127.0.0.1, printed as one JSON line on stdout: {"otlp":P,"control":Q}.
//   control GET  /spans        the decoded spans (flattened, ids hex, int64 as strings)
//   control GET  /stats        {"requests","accepted","refused503","invalid","errors":[…],
//                               "headers": the last request's headers}
//   control GET  /text         every trace as an indented publish→process tree
//   control POST /mode/ok|503|closed   answer normally, answer 503, or close the OTLP port
//                               (reopened on the same port by ok / 503)
'use strict';
const http = require('http');
const path = require('path');

const nm = process.env.NODE_PATH || path.join(__dirname, '..', 'node', 'node_modules');
const transformer = path.dirname(
  require.resolve('@opentelemetry/otlp-transformer/package.json', { paths: [nm] }));
const root = require(path.join(transformer, 'build', 'src', 'generated', 'root.js'));
const Req = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

const stats = { requests: 0, accepted: 0, refused503: 0, invalid: 0, errors: [], headers: {} };
const spans = [];
let mode = 'ok';
let otlpPort = 0;

// OTLP JSON ids are hex (not proto3 JSON's base64): hex → base64 for fromObject.
function idToB64(v, bytes, where) {
  if (typeof v !== 'string' || !new RegExp(`^[0-9a-f]{${bytes * 2}}$`).test(v))
    throw new Error(`${where}: expected ${bytes * 2} lowercase hex characters, got ${JSON.stringify(v)}`);
  if (/^0+$/.test(v)) throw new Error(`${where}: an all-zero id is invalid`);
  return Buffer.from(v, 'hex').toString('base64');
}
function b64ToHex(v) {
  return v ? Buffer.from(v, 'base64').toString('hex') : '';
}

function mapIds(req, toProto) {
  const out = JSON.parse(JSON.stringify(req));
  (out.resourceSpans || []).forEach((rs, i) => (rs.scopeSpans || []).forEach((ss, j) =>
    (ss.spans || []).forEach((s, k) => {
      const w = `resourceSpans[${i}].scopeSpans[${j}].spans[${k}]`;
      if (toProto) {
        s.traceId = idToB64(s.traceId, 16, `${w}.traceId`);
        s.spanId = idToB64(s.spanId, 8, `${w}.spanId`);
        if (s.parentSpanId !== undefined && s.parentSpanId !== '')
          s.parentSpanId = idToB64(s.parentSpanId, 8, `${w}.parentSpanId`);
      } else {
        s.traceId = b64ToHex(s.traceId);
        s.spanId = b64ToHex(s.spanId);
        if (s.parentSpanId !== undefined) s.parentSpanId = b64ToHex(s.parentSpanId);
      }
    })));
  return out;
}

function canonical(v) {
  if (Array.isArray(v)) return '[' + v.map(canonical).join(',') + ']';
  if (v && typeof v === 'object')
    return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + canonical(v[k])).join(',') + '}';
  return JSON.stringify(v);
}

// Throws with the first difference between what was sent and what OTel's decoder kept.
function sameTree(a, b, where) {
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length)
      throw new Error(`${where}: sent ${canonical(a)}, decoded ${canonical(b)}`);
    a.forEach((x, i) => sameTree(x, b[i], `${where}[${i}]`));
    return;
  }
  if (a && typeof a === 'object' && b && typeof b === 'object') {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (!(k in b)) throw new Error(`${where}.${k}: not a field of the OTLP message (or a wrong type)`);
      if (!(k in a)) throw new Error(`${where}.${k}: appeared in decoding`);
      sameTree(a[k], b[k], `${where}.${k}`);
    }
    return;
  }
  if (a !== b) throw new Error(`${where}: sent ${JSON.stringify(a)}, decoded ${JSON.stringify(b)}`);
}

function anyValue(v) {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.doubleValue !== undefined) return v.doubleValue;
  return v;
}
function attrs(list) {
  const o = {};
  for (const a of list || []) o[a.key] = anyValue(a.value);
  return o;
}

function decode(body) {
  const sent = JSON.parse(body);
  const msg = Req.fromObject(mapIds(sent, true));
  const err = Req.verify(msg);
  if (err) throw new Error(`verify: ${err}`);
  const bytes = Req.encode(msg).finish();
  const back = mapIds(Req.toObject(Req.decode(bytes), { longs: String, enums: Number, bytes: String }), false);
  sameTree(sent, back, 'ExportTraceServiceRequest');
  const out = [];
  for (const rs of back.resourceSpans || [])
    for (const ss of rs.scopeSpans || [])
      for (const s of ss.spans || [])
        out.push({
          resource: attrs(rs.resource && rs.resource.attributes),
          scope: ss.scope || {},
          traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId || '',
          name: s.name, kind: s.kind,
          startTimeUnixNano: s.startTimeUnixNano, endTimeUnixNano: s.endTimeUnixNano,
          attributes: attrs(s.attributes),
          events: (s.events || []).map((e) => ({ name: e.name, timeUnixNano: e.timeUnixNano, attributes: attrs(e.attributes) })),
          status: s.status || {},
        });
  return out;
}

function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

function reply(res, code, obj) {
  res.writeHead(code, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(obj));
}

const otlp = http.createServer(async (req, res) => {
  const body = await readBody(req);
  stats.requests++;
  stats.headers = req.headers;
  if (req.method !== 'POST' || req.url !== '/v1/traces') return reply(res, 404, { error: 'POST /v1/traces' });
  if (mode === '503') {
    stats.refused503++;
    return reply(res, 503, { error: 'collector unavailable (test)' });
  }
  try {
    if (!/^application\/json\b/.test(req.headers['content-type'] || ''))
      throw new Error(`Content-Type ${req.headers['content-type']}: expected application/json`);
    const got = decode(body);
    spans.push(...got);
    stats.accepted++;
    reply(res, 200, {});
  } catch (e) {
    stats.invalid++;
    stats.errors.push(String(e.message || e));
    reply(res, 400, { error: String(e.message || e) });
  }
});

function kindName(k) {
  return ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'][k] || String(k);
}

function text() {
  const byTrace = new Map();
  for (const s of spans) {
    if (!byTrace.has(s.traceId)) byTrace.set(s.traceId, []);
    byTrace.get(s.traceId).push(s);
  }
  const lines = [];
  for (const [tid, list] of byTrace) {
    lines.push(`trace ${tid}`);
    const ids = new Set(list.map((s) => s.spanId));
    const walk = (parent, depth) => {
      for (const s of list.filter((x) => (parent ? x.parentSpanId === parent : !ids.has(x.parentSpanId)))
        .sort((a, b) => (BigInt(a.startTimeUnixNano) < BigInt(b.startTimeUnixNano) ? -1 : 1))) {
        const ms = Number(BigInt(s.endTimeUnixNano) - BigInt(s.startTimeUnixNano)) / 1e6;
        const st = s.status.code ? ` status=${s.status.code === 2 ? 'ERROR' : 'OK'}${s.status.message ? ' "' + s.status.message + '"' : ''}` : '';
        lines.push(`${'  '.repeat(depth + 1)}${kindName(s.kind)} "${s.name}" span=${s.spanId} parent=${s.parentSpanId || '-'} ${ms.toFixed(3)} ms service.name=${s.resource['service.name']}${st}`);
        for (const [k, v] of Object.entries(s.attributes))
          lines.push(`${'  '.repeat(depth + 2)}${k} = ${JSON.stringify(v)}`);
        for (const e of s.events)
          lines.push(`${'  '.repeat(depth + 2)}event "${e.name}" ${JSON.stringify(e.attributes)}`);
        walk(s.spanId, depth + 1);
      }
    };
    walk(null, 0);
  }
  return lines.join('\n') + '\n';
}

function listen(port) {
  return new Promise((resolve, reject) => {
    otlp.once('error', reject);
    otlp.listen(port, '127.0.0.1', () => {
      otlp.removeListener('error', reject);
      resolve(otlp.address().port);
    });
  });
}

const control = http.createServer(async (req, res) => {
  await readBody(req);
  if (req.method === 'GET' && req.url === '/spans') return reply(res, 200, spans);
  if (req.method === 'GET' && req.url === '/stats') return reply(res, 200, stats);
  if (req.method === 'GET' && req.url === '/text') {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    return res.end(text());
  }
  const m = /^\/mode\/(ok|503|closed)$/.exec(req.url);
  if (req.method === 'POST' && m) {
    const want = m[1];
    if (want === 'closed' && otlp.listening) {
      await new Promise((r) => { otlp.close(r); otlp.closeAllConnections(); });
    } else if (want !== 'closed' && !otlp.listening) {
      await listen(otlpPort);
    }
    mode = want;
    return reply(res, 200, { mode });
  }
  reply(res, 404, { error: 'unknown control request' });
});

(async () => {
  otlpPort = await listen(0);
  await new Promise((r) => control.listen(0, '127.0.0.1', r));
  process.stdout.write(JSON.stringify({ otlp: otlpPort, control: control.address().port }) + '\n');
})();
// the test closes our stdin when it is done (or dies): leave then
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
