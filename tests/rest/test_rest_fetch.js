// test_rest_fetch — the REST produce API (Confluent REST Proxy v3 and v2 on eddyd's HTTP
// port) driven by Node's own HTTP client, the global fetch of Node 20 (undici), as a Node
// service without a Kafka client would call it: v3 one record, v3 streamed (a ReadableStream
// body sent chunked, records answered one JSON object per line), v2 json and binary embedded
// formats, and the errors — malformed JSON, wrong content type, oversize body, unknown topic —
// each in the proxy's error format with nothing stored. kafkajs reads back what was produced.
'use strict';
const path = require('path');
const src = process.env.EDDY_SOURCE_DIR || path.join(__dirname, '..', '..');
const { Eddyd, assert, assertEq, runCases } =
  require(path.join(src, 'tests', 'harness', 'eddyd.js'));
const { Kafka, logLevel } = require('kafkajs');

const broker = new Eddyd(['http.listeners=127.0.0.1:0', 'auto.create.topics.enable=false']);
let base = '';
let kafka = null;

function httpBase() {
  const m = [...broker.logText().matchAll(/http listening on 127\.0\.0\.1:(\d+)/g)];
  if (!m.length) throw new Error('no http port in the eddyd log');
  return `http://127.0.0.1:${m[m.length - 1][1]}`;
}

// fetch → { status, ctype, text, json (or undefined) }
async function call(method, p, body, ctype = 'application/json', extra = {}) {
  const init = { method, headers: {}, ...extra };
  if (body !== undefined) {
    init.body = typeof body === 'string' || body instanceof Uint8Array || body instanceof ReadableStream
      ? body : JSON.stringify(body);
    if (ctype) init.headers['Content-Type'] = ctype;
  }
  const r = await fetch(base + p, init);
  const text = await r.text();
  let json;
  try { json = JSON.parse(text); } catch (e) { json = undefined; }
  return { status: r.status, ctype: r.headers.get('content-type') || '', text, json };
}

async function createTopic(topic, numPartitions) {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions }], waitForLeaders: true });
  await admin.disconnect();
}

// every record of a topic, read from the beginning by offsets (no group), in partition order
async function readAll(topic) {
  const admin = kafka.admin();
  await admin.connect();
  const offs = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const want = offs.reduce((n, o) => n + (+o.high - +o.low), 0);
  if (want === 0) return [];
  const consumer = kafka.consumer({ groupId: `fetch-${topic}-${Date.now()}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const got = [];
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`reading ${topic} timed out`)), 60000);
    consumer.run({
      eachMessage: async ({ partition, message }) => {
        got.push({ partition, ...message });
        if (got.length === want) { clearTimeout(t); resolve(); }
      },
    }).catch(reject);
  });
  await consumer.disconnect();
  got.sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset));
  return got;
}

const b64 = (s) => Buffer.from(s).toString('base64');
let cid = '';

const cases = [
  ['GET /v3/clusters names the Kafka cluster id', async () => {
    const r = await call('GET', '/v3/clusters');
    assertEq(r.status, 200, r.text);
    assert(r.ctype.startsWith('application/json'), r.ctype);
    cid = r.json.data[0].cluster_id;
    const admin = kafka.admin();
    await admin.connect();
    const d = await admin.describeCluster();
    await admin.disconnect();
    assertEq(cid, d.clusterId, 'cluster id');
  }],
  ['v3 one record: key, JSON value, header; answered after the append', async () => {
    await createTopic('fetch-one', 1);
    const r = await call('POST', `/v3/clusters/${cid}/topics/fetch-one/records`, {
      key: { type: 'STRING', data: 'cust-1' },
      value: { type: 'JSON', data: { name: 'Ada', tags: ['a'] } },
      headers: [{ name: 'ce_type', value: b64('CustomerCreated') }],
    });
    assertEq(r.status, 200, r.text);
    assertEq([r.json.error_code, r.json.topic_name, r.json.partition_id, r.json.offset],
      [200, 'fetch-one', 0, 0], 'answer');
    const [m] = await readAll('fetch-one');
    assertEq(m.key.toString(), 'cust-1', 'key');
    assertEq(JSON.parse(m.value.toString()), { name: 'Ada', tags: ['a'] }, 'value');
    assertEq(m.headers.ce_type.toString(), 'CustomerCreated', 'header');
  }],
  ['v3 streamed: a chunked ReadableStream body, one answer per record, order kept', async () => {
    await createTopic('fetch-stream', 1);
    const n = 200;
    let i = 0;
    const enc = new TextEncoder();
    const body = new ReadableStream({
      pull(ctl) {
        if (i >= n) { ctl.close(); return; }
        // a few records per chunk, split mid-record now and then
        let s = '';
        for (let j = 0; j < 7 && i < n; j++, i++)
          s += JSON.stringify({ value: { type: 'STRING', data: `s${i}` } }) + '\n';
        const cut = s.length >> 1;
        ctl.enqueue(enc.encode(s.slice(0, cut)));
        ctl.enqueue(enc.encode(s.slice(cut)));
      },
    });
    const r = await call('POST', `/v3/clusters/${cid}/topics/fetch-stream/records`, body,
      'application/json', { duplex: 'half' });
    assertEq(r.status, 200, r.text.slice(0, 300));
    const answers = r.text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
    assertEq(answers.length, n, 'one answer per record');
    answers.forEach((a, k) => assertEq([a.error_code, a.offset], [200, k], `answer ${k}`));
    const msgs = await readAll('fetch-stream');
    assertEq(msgs.map((m) => m.value.toString()), [...Array(n).keys()].map((k) => `s${k}`),
      'stored in request order');
  }],
  ['v2 json and binary embedded formats', async () => {
    await createTopic('fetch-v2', 2);
    const j = await call('POST', '/topics/fetch-v2', { records: [
      { key: 'k', value: { total: 3 }, partition: 1 }, { value: [1, null] }] },
    'application/vnd.kafka.json.v2+json');
    assertEq(j.status, 200, j.text);
    assertEq(j.json.offsets.length, 2, j.text);
    assertEq(j.json.offsets[0].partition, 1, j.text);
    assert(j.json.offsets.every((o) => o.error_code === null), j.text);
    const b = await call('POST', '/topics/fetch-v2/partitions/0', { records: [
      { key: b64('bk'), value: b64('\u0001raw') }] }, 'application/vnd.kafka.binary.v2+json');
    assertEq(b.status, 200, b.text);
    assertEq(b.json.offsets[0].partition, 0, b.text);
    const msgs = await readAll('fetch-v2');
    assertEq(msgs.length, 3, 'records stored');
    assert(msgs.some((m) => m.partition === 1 && String(m.key) === '"k"' &&
      m.value.toString() === '{"total":3}'), 'json record with key on partition 1');
    assert(msgs.some((m) => m.value.toString() === '[1,null]'), 'keyless json record');
    assert(msgs.some((m) => m.partition === 0 && String(m.key) === 'bk' &&
      m.value.toString() === '\u0001raw'), 'binary record');
  }],
  ['errors in the proxy format, nothing stored', async () => {
    await createTopic('fetch-err', 1);
    const v3 = `/v3/clusters/${cid}/topics/fetch-err/records`;
    const expect = async (what, r, status, code) => {
      assertEq(r.status, status, `${what}: ${r.text.slice(0, 200)}`);
      assert(r.json && r.json.error_code === code && r.json.message,
        `${what}: error body ${r.text.slice(0, 200)}`);
      assert(r.ctype.startsWith('application/json'), `${what}: content type ${r.ctype}`);
    };
    await expect('v3 malformed JSON', await call('POST', v3, '{"value": {"type": "STR'), 400, 400);
    await expect('v2 malformed JSON', await call('POST', '/topics/fetch-err', '{"records": [',
      'application/vnd.kafka.json.v2+json'), 400, 400);
    await expect('v2 wrong content type', await call('POST', '/topics/fetch-err',
      { records: [{ value: 1 }] }, 'text/plain'), 415, 415);
    await expect('v2 plain application/json', await call('POST', '/topics/fetch-err',
      { records: [{ value: 1 }] }, 'application/json'), 415, 415);
    await expect('v3 unknown topic', await call('POST',
      `/v3/clusters/${cid}/topics/no-such-topic/records`,
      { value: { type: 'STRING', data: 'x' } }), 404, 40401);
    await expect('v2 unknown topic', await call('POST', '/topics/no-such-topic',
      { records: [{ value: 1 }] }, 'application/vnd.kafka.json.v2+json'), 404, 40401);
    await expect('v3 unknown cluster', await call('POST', '/v3/clusters/nope/topics/fetch-err/records',
      { value: { type: 'STRING', data: 'x' } }), 404, 404);
    // larger than the HTTP port's body limit (16 MiB): fetch sends it all, eddyd answers 413
    const big = JSON.stringify({ value: { type: 'STRING', data: 'x'.repeat(17 << 20) } });
    await expect('oversize body', await call('POST', v3, big), 413, 413);
    assertEq((await readAll('fetch-err')).length, 0, 'nothing stored by the failures');
    // and the port still serves
    const ok = await call('POST', v3, { value: { type: 'STRING', data: 'after' } });
    assertEq(ok.status, 200, ok.text);
    assertEq((await readAll('fetch-err')).map((m) => m.value.toString()), ['after'], 'stored');
  }],
];

(async () => {
  assert(typeof fetch === 'function', 'Node has no global fetch (Node >= 18 needed)');
  await broker.start();
  base = httpBase();
  kafka = new Kafka({ clientId: 'rest-fetch', brokers: [broker.bootstrap],
    logLevel: logLevel.NOTHING });
  const ok = await runCases(broker, cases);
  await broker.stop();
  process.exit(ok ? 0 : 1);
})().catch((e) => { console.error(e); process.exit(1); });
