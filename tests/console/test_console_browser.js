// test_console_browser — eddyd's web console (src/console) in a real browser: Debian's chromium,
// headless, driven by playwright-core. kafkajs fills a real eddyd with events (an envelope with
// correlation and causation ids, CloudEvents headers) and a real consumer group; every page
// (overview, topics, messages, groups, schemas, trace, dead letters) must load with no console
// error and show that live data; the actions — create a topic, reset a group's offsets with a
// preview then a confirmation, trace a correlation id — are checked through the Kafka protocol
// (kafkajs admin: metadata and committed offsets; the offsets the producer was given), not
// only in the DOM. Screenshots go to $EDDY_ARTIFACTS (printed).
'use strict';
const fs = require('fs');
const path = require('path');
const src = process.env.EDDY_SOURCE_DIR || path.join(__dirname, '..', '..');
const { Eddyd, assert, assertEq, runCases } =
  require(path.join(src, 'tests', 'harness', 'eddyd.js'));
const { Kafka, logLevel } = require('kafkajs');
const { chromium } = require('playwright-core');

const broker = new Eddyd(['http.listeners=127.0.0.1:0', 'auto.create.topics.enable=false',
  'group.initial.rebalance.delay.ms=0']);
const artifacts = process.env.EDDY_ARTIFACTS ||
  path.join(process.env.EDDY_BUILD_DIR || '.', 'test-artifacts', 'console');
const CID = 'order-7f3c-browser';
let base = '';
let kafka = null;
let admin = null;
let browser = null;
let page = null;
const consoleErrors = [];
const produced = {}; // topic -> [offsets of the traced events]

function httpBase() {
  const m = [...broker.logText().matchAll(/http listening on 127\.0\.0\.1:(\d+)/g)];
  if (!m.length) throw new Error('no http port in the eddyd log');
  return `http://127.0.0.1:${m[m.length - 1][1]}`;
}

function envelope(id, type, cause, source) {
  return {
    eventId: id, eventType: type, correlationId: CID, causationId: cause, source,
    timestamp: new Date().toISOString(), version: 1, data: { orderId: 'o-7', amount: 42 },
  };
}

function headers(ev) {
  return {
    ce_specversion: '1.0', ce_id: ev.eventId, ce_type: ev.eventType, ce_source: ev.source,
    'x-correlation-id': CID, 'x-event-type': ev.eventType,
  };
}

async function seed() {
  await admin.createTopics({ topics: [{ topic: 'orders', numPartitions: 3 },
    { topic: 'payments', numPartitions: 1 }, { topic: 'payments.dlq', numPartitions: 1 }] });
  // the overview's first look at a topic is its throughput baseline (the sampler adds one
  // every 10 s): what is produced from here on shows as a rate on the overview
  assert((await fetch(`${base}/api/v1/cluster/overview`)).ok, 'overview answers');
  const producer = kafka.producer();
  await producer.connect();
  const placed = envelope('ev-placed', 'OrderPlaced', null, 'order-service');
  const r1 = await producer.send({ topic: 'orders', messages: [{ key: 'o-7', value: JSON.stringify(placed), headers: headers(placed), partition: 1 }] });
  produced.orders = [Number(r1[0].baseOffset)];
  const bulk = [];
  for (let i = 0; i < 30; i++) bulk.push({ key: `o-${100 + i}`, value: JSON.stringify({ n: i }) });
  await producer.send({ topic: 'orders', messages: bulk });
  const paid = envelope('ev-paid', 'PaymentCompleted', 'ev-placed', 'payment-service');
  const r2 = await producer.send({ topic: 'payments', messages: [{ key: 'o-7', value: JSON.stringify(paid), headers: headers(paid) }] });
  produced.payments = [Number(r2[0].baseOffset)];
  const dead = {
    originalEvent: envelope('ev-ship', 'ShipmentRequested', 'ev-paid', 'payment-service'),
    error: 'carrier unavailable', reason: 'retries exhausted', failedAt: new Date().toISOString(),
    attemptCount: 5, service: 'shipping-service', sourceTopic: 'payments', sourcePartition: 0, sourceOffset: 0,
  };
  await producer.send({ topic: 'payments.dlq', messages: [{ key: 'o-7', value: JSON.stringify(dead), headers: { ...headers(dead.originalEvent), 'x-dlq-reason': 'retries exhausted' } }] }); // libeddy keeps the original's headers
  await producer.disconnect();
  // a real consumer group reads orders to the end, commits, and leaves
  const consumer = kafka.consumer({ groupId: 'billing' });
  await consumer.connect();
  await consumer.subscribe({ topic: 'orders', fromBeginning: true });
  let seen = 0;
  await new Promise((resolve, reject) => {
    consumer.run({ eachMessage: async () => { seen += 1; if (seen === 31) resolve(); } }).catch(reject);
  });
  await consumer.disconnect(); // commits what was consumed, leaves the group
  const offs = await admin.fetchOffsets({ groupId: 'billing', topics: ['orders'] });
  const total = offs[0].partitions.reduce((s, p) => s + Number(p.offset), 0);
  assertEq(total, 31, 'billing committed every orders record');
  // a schema for the schemas page
  const sr = await fetch(`${base}/subjects/orders-value/versions`, {
    method: 'POST', headers: { 'Content-Type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ schema: JSON.stringify({ type: 'record', name: 'Order', fields: [{ name: 'orderId', type: 'string' }] }) }),
  });
  assert(sr.ok, `registering a schema: ${sr.status}`);
  produced.schemaId = (await sr.json()).id;
  const v2 = { type: 'record', name: 'Order', fields: [{ name: 'orderId', type: 'string' }, { name: 'note', type: 'string', default: '' }] };
  const sr2 = await fetch(`${base}/subjects/orders-value/versions`, {
    method: 'POST', headers: { 'Content-Type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ schema: JSON.stringify(v2) }),
  });
  assert(sr2.ok, `registering version 2: ${sr2.status}`);
}

async function shot(name) {
  fs.mkdirSync(artifacts, { recursive: true });
  const file = path.join(artifacts, `console-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`screenshot ${file}`);
}

async function open(hash, selector) {
  await page.goto(`${base}/${hash}`);
  // the page marks the route it finished rendering
  await page.waitForFunction((h) => document.body.dataset.route === h, hash);
  if (selector) await page.waitForSelector(selector);
  const err = await page.$('.error');
  assert(!err, `${hash} shows an error: ${err ? await err.textContent() : ''}`);
}

async function text(selector) {
  return (await page.textContent(selector)) || '';
}

async function main() {
  await broker.start();
  base = httpBase();
  kafka = new Kafka({ brokers: [broker.bootstrap], clientId: 'console-browser-test', logLevel: logLevel.NOTHING });
  admin = kafka.admin();
  await admin.connect();
  await seed();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(`${page.url()}: ${m.text()}`); });
  page.on('pageerror', (e) => consoleErrors.push(`${page.url()}: ${e.message}`));
  page.setDefaultTimeout(30000); // generous: CI runs this beside other tests, under ASan too

  const ok = await runCases(broker, [
    ['overview: broker health, topics with sizes and throughput', async () => {
      await open('#/overview', '.topics-table');
      const t = await text('main');
      assert(t.includes('ok') && t.includes('orders') && t.includes('payments'), 'overview shows health and topics');
      const row = await text('.topics-table tbody tr:has-text("orders")');
      assert(row.includes('31'), `orders shows its 31 messages: ${row}`);
      assert(await page.$('svg.chart'), 'a throughput chart');
      await shot('overview');
    }],
    ['topics: list and detail', async () => {
      await open('#/topics', '.topics-table');
      assert((await text('.topics-table')).includes('payments.dlq'), 'the dead-letter topic is listed');
      await shot('topics');
      await open('#/topics/orders', 'table');
      assert((await text('main')).includes('retention.ms'), 'configs shown');
      await shot('topic-detail');
    }],
    ['create a topic in the page: kafkajs metadata sees it', async () => {
      await open('#/topics', '#create');
      await page.fill('#create input[name=name]', 'browser-made');
      await page.fill('#create input[name=partitions]', '2');
      await page.fill('#create input[name=configs]', 'retention.ms=3600000');
      await page.click('#create button');
      await page.waitForFunction(() => location.hash === '#/topics/browser-made');
      await page.waitForSelector('text=browser-made');
      const md = await admin.fetchTopicMetadata({ topics: ['browser-made'] });
      assertEq(md.topics[0].partitions.length, 2, 'kafkajs sees 2 partitions');
      const cfg = await admin.describeConfigs({ resources: [{ type: 2, name: 'browser-made', configNames: ['retention.ms'] }], includeSynonyms: false });
      assertEq(cfg.resources[0].configEntries[0].configValue, '3600000', 'retention.ms over DescribeConfigs');
    }],
    ['messages: newest first, JSON pretty-printed, CloudEvents fields', async () => {
      await open('#/messages/orders', '.messages-table');
      await page.selectOption('#browse select[name=mode]', 'key');
      await page.fill('#browse input[name=arg]', 'o-7');
      await page.click('#browse button');
      await page.waitForSelector('.messages-table tbody tr:has-text("OrderPlaced")');
      const t = await text('.messages-table');
      assert(t.includes('specversion') && t.includes('"correlationId": "order-7f3c-browser"'), 'CloudEvents and pretty JSON');
      assertEq(await page.$$eval('.messages-table tbody tr', (r) => r.length), 1, 'one record with key o-7');
      await shot('messages');
    }],
    ['trace by correlation id: one click from the overview; the chain, causation and dwell', async () => {
      await open('#/overview', '.recent-table');
      const recent = await text('.recent-table tbody tr:has-text("' + CID + '")');
      assert(recent.includes('dead letter'), `the overview flags the dead-lettered chain: ${recent}`);
      await page.click('.recent-table a:has-text("' + CID + '")');
      await page.waitForSelector('.trace-table');
      await open('#/trace', '#trace');
      await page.fill('#trace input[name=cid]', CID);
      await page.click('#trace button');
      await page.waitForSelector('.trace-table');
      const rows = await page.$$eval('.trace-table tbody tr', (rs) => rs.map((r) => [...r.cells].map((c) => c.textContent)));
      assertEq(rows.length, 3, 'three events for the correlation id');
      assertEq(rows.map((r) => r[1]), [`orders/1@${produced.orders[0]}`, `payments/0@${produced.payments[0]}`, 'payments.dlq/0@0'],
        'where the producer put them (kafkajs send offsets)');
      assert(rows[1][2].includes('PaymentCompleted') && rows[2][2].includes('dead letter'), 'types and the dead letter');
      assert(/ms|s/.test(rows[0][5]) && rows[0][5] !== '–', `dwell of the first event: ${rows[0][5]}`);
      assert(await page.$('svg.timeline'), 'a timeline');
      await shot('trace');
    }],
    ['groups: lag, members, reset with preview and confirmation (OffsetFetch sees it)', async () => {
      await open('#/groups', '.groups-table');
      assert((await text('.groups-table')).includes('billing'), 'billing listed');
      await shot('groups');
      await open('#/groups/billing', '.offsets-table');
      await page.selectOption('#reset select[name=to]', 'earliest');
      await page.click('#preview');
      await page.waitForSelector('.preview-table');
      const before = await admin.fetchOffsets({ groupId: 'billing', topics: ['orders'] });
      assertEq(before[0].partitions.reduce((s, p) => s + Number(p.offset), 0), 31, 'the preview changed nothing');
      await shot('group-reset-preview');
      await page.click('#apply');
      await page.waitForSelector('#reset-done');
      const after = await admin.fetchOffsets({ groupId: 'billing', topics: ['orders'] });
      assertEq(after[0].partitions.map((p) => Number(p.offset)), [0, 0, 0], 'committed offsets reset to the log start');
      await page.waitForSelector('.offsets-table tbody tr:has-text("orders")');
      await shot('group-after-reset');
    }],
    ['schemas: subjects, versions, compatibility', async () => {
      await open('#/schemas/orders-value', '#subject h3');
      const t = await text('#subject');
      assert(t.includes('orders-value') && t.includes('"Order"') && /BACKWARD/.test(await text('main')), `schema shown: ${t}`);
      await page.selectOption('#diff select[name=a]', '1');
      await page.selectOption('#diff select[name=b]', '2');
      await page.click('#diff button');
      await page.waitForSelector('#diffout .add');
      const added = await page.$$eval('#diffout .add', (els) => els.map((e) => e.textContent));
      assert(added.some((l) => l.includes('"name": "note"')), `the diff shows the added field: ${added}`);
      // a new required field without a default breaks BACKWARD: the registry says so
      await page.fill('#compat textarea', JSON.stringify({ type: 'record', name: 'Order', fields: [{ name: 'orderId', type: 'string' }, { name: 'must', type: 'int' }] }));
      await page.click('#compat button');
      await page.waitForSelector('#compat-result');
      assert((await text('#compat-result')).startsWith('not compatible'), 'incompatible candidate refused');
      await shot('schemas');
    }],
    ['dead letters page', async () => {
      await open('#/dlq', 'table');
      const t = await text('main');
      assert(t.includes('payments.dlq') && t.includes('retries exhausted') && t.includes('carrier unavailable'), 'dead letter fields');
      await shot('dlq');
    }],
    ['messages: an Avro record in the registry wire format shown decoded', async () => {
      await admin.createTopics({ topics: [{ topic: 'shipments', numPartitions: 1 }] });
      // Confluent wire format: magic 0, schema id (int32 BE), then Avro binary of
      // {"orderId": "o-7"} (a string: zig-zag length 3, the bytes)
      const id = Buffer.alloc(4);
      id.writeUInt32BE(produced.schemaId);
      const value = Buffer.concat([Buffer.from([0]), id, Buffer.from([6]), Buffer.from('o-7')]);
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({ topic: 'shipments', messages: [{ key: 'o-7', value }] });
      await producer.disconnect();
      await open('#/messages/shipments', '.messages-table');
      const t = await text('.messages-table');
      assert(t.includes('Avro, decoded') && t.includes('"orderId": "o-7"'), `Avro value decoded: ${t}`);
      await shot('messages-avro');
    }],
    ['dead letters: redrive with a dry run, then a confirmation (checked over Kafka)', async () => {
      const end = async (topic) => Number((await admin.fetchTopicOffsets(topic))[0].high);
      const before = await end('payments');
      await open('#/dlq', '.redrive-form');
      await page.click('.redrive-form button[type=submit]');
      await page.waitForSelector('.redrive-table');
      const plan = await text('.redrive-plan');
      assert(plan.includes('would_move') && plan.includes('Dry run: 1 would move'), `dry-run preview: ${plan}`);
      assertEq(await end('payments'), before, 'the dry run produced nothing');
      assert(!(await admin.listTopics()).includes('payments.dlq.redriven'), 'the dry run wrote no marker');
      await shot('dlq-redrive-preview');
      await page.click('#confirm-redrive');
      await page.waitForSelector('.redrive-done');
      assert((await text('.redrive-plan')).includes('1 moved'), 'the confirmation moved one');
      assertEq(await end('payments'), before + 1, 'one record republished to its source topic');
      assert((await admin.listTopics()).includes('payments.dlq.redriven'), 'marker topic written');
      // the republished record, read with a kafkajs consumer: its own key, its own headers,
      // no x-dlq-*, a redrive count
      const consumer = kafka.consumer({ groupId: 'redrive-check' });
      await consumer.connect();
      await consumer.subscribe({ topic: 'payments', fromBeginning: true });
      const got = await new Promise((resolve, reject) => {
        consumer.run({ eachMessage: async ({ message }) => { if (Number(message.offset) === before) resolve(message); } }).catch(reject);
      });
      await consumer.disconnect();
      const h = Object.fromEntries(Object.entries(got.headers).map(([k, v]) => [k, v.toString()]));
      assertEq(got.key.toString(), 'o-7', 'the original key');
      assertEq(h['eddy-redrive-count'], '1', 'redrive count header');
      assert(!('x-dlq-reason' in h) && h['x-correlation-id'] === CID, `headers: ${JSON.stringify(h)}`);
      assertEq(JSON.parse(got.value.toString()).eventId, 'ev-ship', 'the original event');
      await shot('dlq-redrive-done');
      // a second look: already redriven, nothing would move
      await open('#/dlq', '.redrive-form');
      await page.click('.redrive-one');
      await page.waitForSelector('.redrive-table');
      assert((await text('.redrive-plan')).includes('already_redriven'), 'marked: not moved twice');
    }],
    ['no console errors on any page', async () => {
      assertEq(consoleErrors, [], 'browser console errors');
    }],
  ]);
  await browser.close();
  await admin.disconnect();
  await broker.stop();
  await broker.cleanup();
  process.exit(ok ? 0 : 1);
}

main().catch(async (e) => {
  console.log(`FAIL setup: ${e && e.stack ? e.stack : e}`);
  console.log(`---- eddyd log tail ----\n${broker.logTail()}\n----`);
  console.log('0 passed, 1 failed');
  if (browser) await browser.close().catch(() => {});
  process.exit(1);
});
