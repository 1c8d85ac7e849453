// test_kafkajs — kafkajs 2.2.4 against a real eddyd: consumer.run({eachMessage}) in a group
// consumes everything and commits; admin.fetchOffsets + admin.fetchTopicOffsets give the lag,
// which matches eddyd's /metrics kafka_consumer_group_lag; admin.describeGroups sees the group.
// kafkajs comes from tests/node/node_modules (NODE_PATH set by ctest).
'use strict';
const path = require('path');
const http = require('http');
const { Kafka, logLevel } = require('kafkajs');
const { Eddyd, sleep } = require(path.join(__dirname, '..', 'harness', 'eddyd.js'));

// the shared launcher (tests/harness/eddyd.js) with an HTTP port for /metrics
async function startEddyd() {
  const ed = new Eddyd(['group.initial.rebalance.delay.ms=0', 'num.partitions=3',
    'http.listeners=127.0.0.1:0']);
  await ed.start();
  const h = ed.logText().match(/http listening on 127\.0\.0\.1:(\d+)/);
  if (!h) throw new Error('eddyd printed no HTTP port:\n' + ed.logTail());
  ed.httpPort = +h[1];
  return ed;
}

function httpGet(port, p) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: p }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

async function waitFor(cond, ms, what) {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (await cond()) return;
    await sleep(100);
  }
  throw new Error('timed out waiting for ' + what);
}

function assert(c, msg) { if (!c) throw new Error('assertion failed: ' + msg); }

async function main() {
  const ed = await startEddyd();
  let passed = 0; let failed = 0;
  const kafka = new Kafka({ clientId: 'kjs', brokers: ['127.0.0.1:' + ed.port],
    logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  const producer = kafka.producer();
  const consumer = kafka.consumer({ groupId: 'kjs-g', sessionTimeout: 10000,
    heartbeatInterval: 500 });
  const run = async (name, fn) => {
    const t0 = Date.now();
    try {
      await fn();
      passed++;
      console.log(`PASS ${name} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${name}: ${e.stack || e}`);
    }
  };
  try {
    await admin.connect();
    await producer.connect();
    // kjs-t is auto-created by the first send (num.partitions=3): this suite tests groups
    const send = async (n, base) => {
      const messages = [];
      for (let i = 0; i < n; i++) messages.push({ partition: i % 3, value: 'v' + (base + i) });
      await producer.send({ topic: 'kjs-t', messages });
    };
    await send(300, 0);

    const seen = new Set();
    await run('consumer.run eachMessage consumes everything in a group', async () => {
      await consumer.connect();
      await consumer.subscribe({ topic: 'kjs-t', fromBeginning: true });
      await consumer.run({ eachMessage: async ({ partition, message }) => {
        seen.add(partition + ':' + message.offset);
      } });
      await waitFor(() => seen.size === 300, 60000, '300 messages');
      const d = await admin.describeGroups(['kjs-g']);
      assert(d.groups[0].state === 'Stable', 'state ' + d.groups[0].state);
      assert(d.groups[0].members.length === 1, 'one member');
      await consumer.disconnect();
    });

    await run('fetchOffsets + fetchTopicOffsets give the lag (and /metrics agrees)', async () => {
      const committed = await admin.fetchOffsets({ groupId: 'kjs-g', topics: ['kjs-t'] });
      const parts = committed[0].partitions;
      assert(parts.length === 3, 'three partitions');
      for (const p of parts) assert(p.offset === '100', `p${p.partition} committed ${p.offset}`);
      await send(60, 300);
      const ends = await admin.fetchTopicOffsets('kjs-t');
      let lag = 0;
      for (const e of ends) {
        const c = parts.find((p) => p.partition === e.partition);
        lag += Number(e.high) - Number(c.offset);
      }
      assert(lag === 60, 'lag ' + lag);
      const body = await httpGet(ed.httpPort, '/metrics');
      let mlag = 0;
      for (const line of body.split('\n')) {
        const m = line.match(/^kafka_consumer_group_lag\{consumer_group="kjs-g",topic="kjs-t",partition="\d+"\} (\d+)$/);
        if (m) mlag += Number(m[1]);
      }
      assert(mlag === 60, '/metrics lag ' + mlag);
      const d = await admin.describeGroups(['kjs-g']);
      assert(d.groups[0].state === 'Empty', 'state after disconnect ' + d.groups[0].state);
    });

    await run('admin.setOffsets (simple commit) and resetOffsets', async () => {
      await admin.setOffsets({ groupId: 'kjs-g', topic: 'kjs-t',
        partitions: [{ partition: 0, offset: '5' }] });
      const c = await admin.fetchOffsets({ groupId: 'kjs-g', topics: ['kjs-t'] });
      assert(c[0].partitions.find((p) => p.partition === 0).offset === '5', 'setOffsets');
      const groups = await admin.listGroups();
      assert(groups.groups.some((g) => g.groupId === 'kjs-g'), 'listGroups');
      await admin.deleteGroups(['kjs-g']);
      const after = await admin.fetchOffsets({ groupId: 'kjs-g', topics: ['kjs-t'] });
      assert(after[0].partitions.every((p) => p.offset === '-1'), 'offsets gone after delete');
    });
  } finally {
    await producer.disconnect().catch(() => {});
    await admin.disconnect().catch(() => {});
    try {
      await ed.stop(20000); // SIGTERM, exit 0 required
      passed++;
      console.log('PASS eddyd exits cleanly on SIGTERM');
    } catch (e) {
      failed++;
      console.log(`FAIL ${e.message}`);
    }
    await ed.cleanup();
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => { console.log(e.stack || e); console.log('0 passed, 1 failed'); process.exit(1); });
