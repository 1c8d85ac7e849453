// test_rest_schemas — REST produce of payloads that name a schema (AVRO and JSONSCHEMA, by
// schema id, by subject + version, and by the topic's own subject), checked by the real
// @kafkajs/confluent-schema-registry client: kafkajs consumes what eddyd stored and the client
// decodes it (fetching the schema by id from eddyd's registry) back to the data that was posted.
// A value that does not match its schema is refused with 42201 and nothing is stored.
'use strict';
const path = require('path');
const http = require('http');
const src = process.env.EDDY_SOURCE_DIR || path.join(__dirname, '..', '..');
const { Eddyd, assert, assertEq, runCases } =
  require(path.join(src, 'tests', 'harness', 'eddyd.js'));
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry');
const { Kafka, logLevel } = require('kafkajs');

const broker = new Eddyd(['http.listeners=127.0.0.1:0']);

function httpPort() {
  const m = [...broker.logText().matchAll(/http listening on 127\.0\.0\.1:(\d+)/g)];
  if (!m.length) throw new Error('no http port in the eddyd log');
  return +m[m.length - 1][1];
}

function post(p, body) {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body));
    const req = http.request({ host: '127.0.0.1', port: httpPort(), path: p, method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Content-Length': data.length } },
    (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode,
        body: JSON.parse(Buffer.concat(chunks).toString()) }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

async function consume(topic, n) {
  const kafka = new Kafka({ clientId: 'rest-it', brokers: [broker.bootstrap],
    logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `g-${topic}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const got = [];
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`consume of ${topic} timed out`)), 60000);
    consumer.run({
      eachMessage: async ({ message }) => {
        got.push(message);
        if (got.length === n) { clearTimeout(t); resolve(); }
      },
    }).catch(reject);
  });
  await consumer.disconnect();
  return got;
}

const order = {
  type: 'record', name: 'Order', namespace: 'shop',
  fields: [
    { name: 'id', type: 'long' },
    { name: 'note', type: ['null', 'string'], default: null },
    { name: 'lines', type: { type: 'array', items: { type: 'record', name: 'Line',
      fields: [{ name: 'sku', type: 'string' }, { name: 'qty', type: 'int' },
        { name: 'price', type: 'double' }] } } },
    { name: 'state', type: { type: 'enum', name: 'State', symbols: ['NEW', 'PAID'] } },
    { name: 'attrs', type: { type: 'map', values: 'string' } },
    { name: 'flag', type: 'boolean' },
    { name: 'ratio', type: 'float' },
  ],
};
const customer = { type: 'object', properties: { name: { type: 'string' },
  age: { type: 'integer', minimum: 0 } }, required: ['name'] };

let registry;
let cid;
const ids = {};

const cases = [
  ['register schemas through eddyd\'s registry', async () => {
    registry = new SchemaRegistry({ host: `http://127.0.0.1:${httpPort()}` });
    ids.order = (await registry.register({ type: SchemaType.AVRO,
      schema: JSON.stringify(order) }, { subject: 'orders-value' })).id;
    ids.customer = (await registry.register({ type: SchemaType.JSON,
      schema: JSON.stringify(customer) }, { subject: 'customers-value' })).id;
    const res = await new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: httpPort(), path: '/v3/clusters' }, (r) => {
        let s = ''; r.on('data', (c) => { s += c; }); r.on('end', () => resolve(JSON.parse(s)));
      }).on('error', reject);
    });
    cid = res.data[0].cluster_id;
    assert(cid, 'cluster id');
  }],
  ['AVRO by id, by subject+version and by the topic\'s subject decode to what was posted',
    async () => {
      const base = `/v3/clusters/${cid}/topics/orders/records`;
      const v1 = { id: 7, note: { string: 'gift' }, lines: [{ sku: 'a', qty: 2, price: 9.5 }],
        state: 'PAID', attrs: { c: 'd' }, flag: true, ratio: 0.5 };
      const v2 = { id: -3, note: null, lines: [], state: 'NEW', attrs: {}, flag: false,
        ratio: 1.25 };
      const r1 = await post(base, { key: { type: 'STRING', data: 'o7' },
        value: { type: 'AVRO', schema_id: ids.order, data: v1 } });
      assertEq(r1.status, 200, JSON.stringify(r1.body));
      assertEq(r1.body.value.schema_id, ids.order, 'schema id echoed');
      const r2 = await post(base, { value: { subject: 'orders-value', schema_version: 1,
        data: v2 } });
      assertEq(r2.status, 200, JSON.stringify(r2.body));
      const r3 = await post(base, { value: { data: v1 } }); // TopicNameStrategy, latest
      assertEq(r3.status, 200, JSON.stringify(r3.body));
      const msgs = await consume('orders', 3);
      const decoded = [];
      for (const m of msgs) decoded.push(await registry.decode(m.value));
      const norm = (o) => ({ ...o, note: o.note && o.note.string !== undefined ? o.note.string
        : o.note });
      assertEq(JSON.stringify(decoded[0]), JSON.stringify(norm(v1)), 'record 1');
      assertEq(JSON.stringify(decoded[1]), JSON.stringify(norm(v2)), 'record 2');
      assertEq(JSON.stringify(decoded[2]), JSON.stringify(norm(v1)), 'record 3');
      assertEq(msgs[0].key.toString(), 'o7', 'key');
    }],
  ['JSONSCHEMA validated and framed; a bad value is refused and not stored', async () => {
    const base = `/v3/clusters/${cid}/topics/customers/records`;
    const bad = await post(base, { value: { type: 'JSONSCHEMA', schema_id: ids.customer,
      data: { age: -1 } } });
    assertEq(bad.status, 422, JSON.stringify(bad.body));
    assertEq(bad.body.error_code, 42201, 'error code');
    const wrongType = await post(base, { value: { type: 'AVRO', schema_id: ids.customer,
      data: { name: 'x' } } });
    assertEq(wrongType.status, 422, JSON.stringify(wrongType.body));
    const good = await post(base, { value: { type: 'JSONSCHEMA', schema_id: ids.customer,
      data: { name: 'Ada', age: 36 } } });
    assertEq(good.status, 200, JSON.stringify(good.body));
    assertEq(good.body.offset, 0, 'the refused ones took no offset');
    const [m] = await consume('customers', 1);
    const d = await registry.decode(m.value);
    assertEq(JSON.stringify(d), JSON.stringify({ name: 'Ada', age: 36 }), 'decoded');
  }],
];

(async () => {
  await broker.start();
  const ok = await runCases(broker, cases);
  await broker.stop();
  process.exit(ok ? 0 : 1);
})().catch((e) => { console.error(e); process.exit(1); });
