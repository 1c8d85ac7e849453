// test_platformatic_versions — issue 14 item 6 with @platformatic/kafka 2.12.1, a client at Kafka
// 4's protocol versions: it picks the highest version both sides have, and at Fetch v13+ names
// topics by id (eddyd used to stop at v12, and this client then sent ids where v12 expects names
// and never consumed). Admin (create/list/describe configs/list offsets/list+describe groups/
// delete), an idempotent producer, a consumer group that reads every record, and transactions
// (one committed, one aborted) read back read_committed: exactly the committed records.
// Every request goes through a small TCP proxy in this file (eddyd advertises the proxy's port,
// so the client's later connections go through it too), which records each request's API key
// and version: the test asserts the versions really used (Fetch >= 13 above all).
'use strict';
const net = require('net');
const path = require('path');
const { Eddyd, assert, assertEq, runCases, waitUntil } = require(path.join(__dirname, '../harness/eddyd.js'));

const TOPIC = 'pv-js';
const N = 100;

const { loadPlatformatic: loadClient } = require('./platformatic.js');

// A proxy to eddyd that records [apiKey, apiVersion] of every request frame.
function startProxy(seen) {
  const proxy = { target: 0, sockets: new Set() };
  proxy.server = net.createServer(client => {
    const up = net.connect(proxy.target, '127.0.0.1');
    proxy.sockets.add(client);
    proxy.sockets.add(up);
    let buf = Buffer.alloc(0);
    client.on('data', d => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 8) {
        const n = buf.readInt32BE(0);
        if (buf.length < 4 + n) break;
        seen.push([buf.readInt16BE(4), buf.readInt16BE(6)]);
        buf = buf.subarray(4 + n);
      }
      up.write(d);
    });
    up.on('data', d => client.write(d));
    const end = () => { client.destroy(); up.destroy(); };
    client.on('close', end);
    up.on('close', end);
    client.on('error', end);
    up.on('error', end);
  });
  return new Promise(resolve => proxy.server.listen(0, '127.0.0.1', () => {
    proxy.port = proxy.server.address().port;
    resolve(proxy);
  }));
}

// Reads messages from stream into got until done(got) (or fails after ms: a client that
// cannot consume must fail the case, not hang it).
async function readUntil(stream, got, done, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: ${got.length} records after ${ms} ms`)), ms);
  });
  const read = (async () => {
    for await (const m of stream) {
      got.push(m.value);
      if (done(got)) return;
    }
  })();
  try {
    await Promise.race([read, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const API = { Produce: 0, Fetch: 1, ListOffsets: 2, Metadata: 3, OffsetCommit: 8, OffsetFetch: 9,
  FindCoordinator: 10, JoinGroup: 11, Heartbeat: 12, SyncGroup: 14, DescribeGroups: 15,
  ListGroups: 16, ApiVersions: 18, CreateTopics: 19, DeleteTopics: 20, InitProducerId: 22,
  AddPartitionsToTxn: 24, AddOffsetsToTxn: 25, EndTxn: 26, DescribeConfigs: 32 };

async function main() {
  const pk = await loadClient();
  const seen = [];
  const proxy = await startProxy(seen);
  const b = new Eddyd(['num.partitions=1', 'group.initial.rebalance.delay.ms=0',
    `advertised.listeners=PLAINTEXT://127.0.0.1:${proxy.port}`]);
  let ok = false;
  const used = name => Math.max(-1, ...seen.filter(s => s[0] === API[name]).map(s => s[1]));
  try {
    await b.start();
    proxy.target = b.port;
    const bootstrap = `127.0.0.1:${proxy.port}`;
    const base = { bootstrapBrokers: [bootstrap], retries: 3 };
    const admin = new pk.Admin({ ...base, clientId: 'pv-admin' });
    ok = await runCases(b, [
      ['admin: createTopics, listTopics, describeConfigs', async () => {
        const created = await admin.createTopics({ topics: [TOPIC, 'pv-gone'], partitions: 2, replicas: 1 });
        assertEq(created.length, 2, 'two topics created');
        const t = created.find(c => c.name === TOPIC);
        assert(t && typeof t.id === 'string' && t.id.length >= 32, `a topic id (${JSON.stringify(t)})`);
        const topics = await admin.listTopics();
        assert(topics.includes(TOPIC), `listTopics has ${TOPIC}: ${topics}`);
        const cfg = await admin.describeConfigs({ resources: [{ resourceType: 2, resourceName: TOPIC }] });
        const names = cfg[0].configs.map(c => c.name);
        assert(names.includes('cleanup.policy'), `describeConfigs lists cleanup.policy (${names.length} configs)`);
      }],
      ['idempotent producer: 100 records over two partitions', async () => {
        const producer = new pk.Producer({ ...base, clientId: 'pv-prod', idempotent: true,
          serializers: pk.stringSerializers });
        try {
          for (let i = 0; i < N; i += 25) {
            const messages = [];
            for (let j = i; j < i + 25; j++) messages.push({ topic: TOPIC, partition: j % 2, key: `k${j}`, value: `v${j}` });
            await producer.send({ messages });
          }
        } finally {
          await producer.close();
        }
      }],
      ['consumer group reads all 100 records (Fetch by topic id)', async () => {
        const consumer = new pk.Consumer({ ...base, clientId: 'pv-cons', groupId: 'pv-group',
          deserializers: pk.stringDeserializers, maxWaitTime: 100 });
        const all = [];
        let got = new Set();
        try {
          const stream = await consumer.consume({ topics: [TOPIC], mode: pk.MessagesStreamModes.EARLIEST,
            autocommit: false, sessionTimeout: 10000, heartbeatInterval: 500 });
          await readUntil(stream, all, a => (got = new Set(a)).size === N, 30000, 'consumer group');
          const offsets = await consumer.listOffsets({ topics: [TOPIC] });
          const hw = offsets.get(TOPIC);
          assertEq(Number(hw[0]) + Number(hw[1]), N, 'listOffsets: the end offsets add up to 100');
          await stream.close();
        } finally {
          await consumer.close(true);
        }
        assertEq(got.size, N, 'distinct records consumed');
        assert(used('Fetch') >= 13, `Fetch by topic id (v13+) used; got v${used('Fetch')}`);
      }],
      ['admin: listGroups, describeGroups', async () => {
        const groups = await admin.listGroups();
        assert(groups.has('pv-group'), `listGroups has pv-group (${[...groups.keys()]})`);
        const d = await admin.describeGroups({ groups: ['pv-group'] });
        assert(d.has('pv-group'), 'describeGroups answers for pv-group');
      }],
      ['transactions: one committed, one aborted; read_committed sees the committed only', async () => {
        const producer = new pk.Producer({ ...base, clientId: 'pv-txn', idempotent: true,
          transactionalId: 'pv-txn-id', serializers: pk.stringSerializers });
        try {
          let tx = await producer.beginTransaction();
          await tx.send({ messages: [0, 1, 2].map(i => ({ topic: TOPIC, partition: 0, value: `c${i}` })) });
          await tx.commit();
          tx = await producer.beginTransaction();
          await tx.send({ messages: [0, 1].map(i => ({ topic: TOPIC, partition: 1, value: `a${i}` })) });
          await tx.abort();
        } finally {
          await producer.close();
        }
        const consumer = new pk.Consumer({ ...base, clientId: 'pv-rc', groupId: 'pv-rc',
          deserializers: pk.stringDeserializers, maxWaitTime: 100, isolationLevel: 1 });
        const got = [];
        try {
          const stream = await consumer.consume({ topics: [TOPIC], mode: pk.MessagesStreamModes.EARLIEST,
            autocommit: false, sessionTimeout: 10000, heartbeatInterval: 500, isolationLevel: 1 });
          // read to the end: the 100 plain records and the 3 committed ones
          await readUntil(stream, got, g => g.length === N + 3, 30000, 'read_committed consumer');
          await stream.close();
        } finally {
          await consumer.close(true);
        }
        assertEq(got.filter(v => v.startsWith('c')).sort().join(','), 'c0,c1,c2', 'committed records');
        assertEq(got.filter(v => v.startsWith('a')).length, 0, 'aborted records read');
        assert(used('AddPartitionsToTxn') >= 4, `the batched AddPartitionsToTxn used (v${used('AddPartitionsToTxn')})`);
      }],
      ['admin: deleteTopics', async () => {
        await admin.deleteTopics({ topics: ['pv-gone'] });
        await waitUntil(async () => !(await admin.listTopics()).includes('pv-gone'), 10000, 'pv-gone deleted');
      }],
      ['the versions used are Kafka 4\'s', async () => {
        const want = { Fetch: 17, ListOffsets: 9, Metadata: 12, Produce: 11, FindCoordinator: 6,
          ListGroups: 5, AddPartitionsToTxn: 5, EndTxn: 4, CreateTopics: 7, DeleteTopics: 6 };
        const got = {};
        for (const k of Object.keys(want)) got[k] = used(k);
        assertEq(JSON.stringify(got), JSON.stringify(want), 'highest version used per API');
      }],
    ]);
    await admin.close();
  } finally {
    for (const s of proxy.sockets) s.destroy();
    proxy.server.close();
    await b.stop().catch(() => {});
  }
  process.exit(ok ? 0 : 1);
}

main().catch(e => { console.error(e); process.exit(1); });
