// test_kafkajs_admin — scenario 4b: kafkajs 2.2.4 admin against a real eddyd (no groups needed).
// createTopics (3 partitions; again → false), listTopics, fetchTopicMetadata, describeCluster,
// then messages with explicit timestamps and fetchTopicOffsets (low/high per partition) and
// fetchTopicOffsetsByTimestamp (first offset whose timestamp ≥ t; none → the high watermark).
'use strict';
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
const path = require('path');
const { Eddyd, assert, assertEq, runCases } = require(path.join(__dirname, '../harness/eddyd.js'));
const { Kafka, logLevel } = require('kafkajs');

const TOPIC = 'kjs-admin';
const T0 = (Math.floor(Date.now() / 1000) - 3600) * 1000;

async function main() {
  const b = new Eddyd(['auto.create.topics.enable=false']);
  let ok = false;
  try {
    await b.start();
    const kafka = new Kafka({
      clientId: 'it-kjs-admin', brokers: [b.bootstrap], logLevel: logLevel.WARN,
      retry: { initialRetryTime: 100, retries: 8 },
    });
    const admin = kafka.admin();
    let nodeId;
    const sorted = (xs) => xs.map((x) => ({ ...x })).sort((a, c) => a.partition - c.partition);
    ok = await runCases(b, [
      ['describeCluster', async () => {
        await admin.connect();
        const c = await admin.describeCluster();
        assertEq(c.brokers.length, 1, 'number of brokers');
        nodeId = c.brokers[0].nodeId;
        assertEq([c.brokers[0].host, c.brokers[0].port], ['127.0.0.1', b.port], 'advertised address');
        assertEq(c.controller, nodeId, 'controller = the broker');
        assert(typeof c.clusterId === 'string' && c.clusterId.length > 0, `clusterId ${c.clusterId}`);
      }],
      ['createTopics (3 partitions), again → false', async () => {
        assertEq(await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 3 }], waitForLeaders: true }), true, 'first createTopics');
        assertEq(await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 3 }] }), false, 'second createTopics');
        const topics = await admin.listTopics();
        assert(topics.includes(TOPIC), `listTopics ${JSON.stringify(topics)}`);
        const md = await admin.fetchTopicMetadata({ topics: [TOPIC] });
        const parts = md.topics[0].partitions.map((p) => [p.partitionId, p.leader, p.partitionErrorCode]).sort();
        assertEq(parts, [[0, nodeId, 0], [1, nodeId, 0], [2, nodeId, 0]], 'partitions of the new topic');
      }],
      ['fetchTopicOffsets on an empty topic', async () => {
        assertEq(sorted(await admin.fetchTopicOffsets(TOPIC)), [0, 1, 2].map((p) => ({ partition: p, offset: '0', high: '0', low: '0' })), 'offsets');
      }],
      ['fetchTopicOffsets / fetchTopicOffsetsByTimestamp after producing', async () => {
        const producer = kafka.producer({ allowAutoTopicCreation: false });
        await producer.connect();
        await producer.send({ topic: TOPIC, messages: [0, 1, 2, 3, 4].map((i) => ({ partition: 0, value: `p0-${i}`, timestamp: String(T0 + i * 1000) })) });
        await producer.send({ topic: TOPIC, messages: [0, 1].map((i) => ({ partition: 1, value: `p1-${i}`, timestamp: String(T0 + 10000 + i) })) });
        await producer.disconnect();
        assertEq(sorted(await admin.fetchTopicOffsets(TOPIC)), [
          { partition: 0, offset: '5', high: '5', low: '0' },
          { partition: 1, offset: '2', high: '2', low: '0' },
          { partition: 2, offset: '0', high: '0', low: '0' }], 'fetchTopicOffsets');
        assertEq(sorted(await admin.fetchTopicOffsetsByTimestamp(TOPIC, T0 + 2500)),
          [{ partition: 0, offset: '3' }, { partition: 1, offset: '0' }, { partition: 2, offset: '0' }], 'by timestamp T0+2.5s');
        assertEq(sorted(await admin.fetchTopicOffsetsByTimestamp(TOPIC, T0 + 2000)),
          [{ partition: 0, offset: '2' }, { partition: 1, offset: '0' }, { partition: 2, offset: '0' }], 'by exact timestamp T0+2s');
        assertEq(sorted(await admin.fetchTopicOffsetsByTimestamp(TOPIC, T0 + 10001)),
          [{ partition: 0, offset: '5' }, { partition: 1, offset: '1' }, { partition: 2, offset: '0' }], 'by timestamp T0+10.001s');
        assertEq(sorted(await admin.fetchTopicOffsetsByTimestamp(TOPIC, T0 + 1e8)),
          [{ partition: 0, offset: '5' }, { partition: 1, offset: '2' }, { partition: 2, offset: '0' }], 'after the last record (→ high watermark)');
      }],
      ['producing to a missing topic fails (auto-create off)', async () => {
        const producer = kafka.producer({ allowAutoTopicCreation: false, retry: { retries: 1, initialRetryTime: 100 } });
        await producer.connect();
        let err = null;
        try {
          await producer.send({ topic: 'kjs-missing', messages: [{ value: 'x' }] });
        } catch (e) { err = e; }
        await producer.disconnect();
        assert(err !== null, 'send to a missing topic succeeded');
        const topics = await admin.listTopics();
        assert(!topics.includes('kjs-missing'), 'kjs-missing was created');
      }],
      ['SIGTERM → exit 0', async () => { await admin.disconnect(); await b.stop(); }],
    ]);
  } catch (e) {
    console.log(`FAIL setup: ${e.stack || e}`);
    ok = false;
  } finally {
    await b.cleanup();
  }
  process.exit(ok ? 0 : 1);
}

main();
