// test_kafkajs_txn — kafkajs 2.2.4 transactions against a real eddyd (issue 14):
// producer.transaction() with send + commit, send + abort, sendOffsets for a consumer group
// committed with the transaction (visible to admin.fetchOffsets only after the commit), then a
// group consumer (kafkajs reads read_committed by default) gets exactly the committed records.
'use strict';
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
const path = require('path');
const fs = require('fs');
const { Eddyd, waitUntil, assert, assertEq, runCases } = require(
  path.join(__dirname, '../harness/eddyd.js'));
const { Kafka, logLevel } = require('kafkajs');

const TOPIC = 'kjs-txn';

function freePort() {
  return new Promise((resolve) => {
    const srv = require('net').createServer();
    srv.listen(0, '127.0.0.1', () => { const p = srv.address().port; srv.close(() => resolve(p)); });
  });
}

function getText(url) {
  return new Promise((resolve, reject) => {
    require('http').get(url, (res) => {
      let d = '';
      res.on('data', (c) => { d += c; });
      res.on('end', () => resolve(d));
    }).on('error', reject);
  });
}

async function main() {
  const httpPort = await freePort();
  const b = new Eddyd(['group.initial.rebalance.delay.ms=0', `http.listeners=127.0.0.1:${httpPort}`]);
  let ok = false;
  try {
    await b.start();
    const kafka = new Kafka({
      clientId: 'it-kjs-txn', brokers: [b.bootstrap], logLevel: logLevel.WARN,
      retry: { initialRetryTime: 100, retries: 8 },
    });
    const admin = kafka.admin();
    const producer = kafka.producer({ transactionalId: 'kjs-tx-1', idempotent: true, maxInFlightRequests: 1 });
    const fetched = async () => {
      const r = await admin.fetchOffsets({ groupId: 'kjs-eos', topics: [TOPIC] });
      return r[0].partitions.map((p) => Number(p.offset)).sort((x, y) => x - y);
    };
    ok = await runCases(b, [
      ['create the topic (2 partitions)', async () => {
        await admin.connect();
        await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 2 }], waitForLeaders: true });
        await producer.connect();
      }],
      ['transaction: send + commit', async () => {
        const tx = await producer.transaction();
        await tx.send({ topic: TOPIC, messages: [{ partition: 0, value: 'c0' }, { partition: 1, value: 'c1' }] });
        await tx.commit();
      }],
      ['transaction: send + abort', async () => {
        const tx = await producer.transaction();
        await tx.send({ topic: TOPIC, messages: [{ partition: 0, value: 'a0' }, { partition: 1, value: 'a1' }] });
        await tx.abort();
      }],
      ['transaction: send + sendOffsets + commit; offsets visible only after the commit', async () => {
        const tx = await producer.transaction();
        await tx.send({ topic: TOPIC, messages: [{ partition: 0, value: 'd0' }, { partition: 1, value: 'd1' }] });
        await tx.sendOffsets({
          consumerGroupId: 'kjs-eos',
          topics: [{ topic: TOPIC, partitions: [{ partition: 0, offset: '7' }, { partition: 1, offset: '9' }] }],
        });
        assertEq(await fetched(), [-1, -1], 'group offsets before the commit');
        await tx.commit();
        assertEq(await fetched(), [7, 9], 'group offsets after the commit');
      }],
      ['transaction: sendOffsets + abort leaves the offsets alone', async () => {
        const tx = await producer.transaction();
        await tx.sendOffsets({
          consumerGroupId: 'kjs-eos',
          topics: [{ topic: TOPIC, partitions: [{ partition: 0, offset: '100' }] }],
        });
        await tx.abort();
        assertEq(await fetched(), [7, 9], 'group offsets after the abort');
      }],
      ['/metrics: an open transaction, its age and the LSO lag it causes', async () => {
        const tx = await producer.transaction();
        await tx.send({ topic: TOPIC, messages: [{ partition: 0, value: 'open0' }] });
        const m = await getText(`http://127.0.0.1:${httpPort}/metrics`);
        assert(/^eddy_transactions_open 1$/m.test(m), 'eddy_transactions_open 1');
        assert(/^eddy_transaction_oldest_open_age_seconds [0-9.]+$/m.test(m), 'oldest open age');
        assert(new RegExp(`^eddy_partition_lso_lag\\{topic="${TOPIC}",partition="0"\\} 1$`, 'm').test(m),
          `LSO lag 1 on partition 0 in:\n${m.split('\n').filter((l) => /lso|transaction/.test(l)).join('\n')}`);
        await tx.abort();
        const m2 = await getText(`http://127.0.0.1:${httpPort}/metrics`);
        assert(/^eddy_transactions_open 0$/m.test(m2), 'eddy_transactions_open 0 after the abort');
        assert(new RegExp(`^eddy_partition_lso_lag\\{topic="${TOPIC}",partition="0"\\} 0$`, 'm').test(m2), 'LSO lag 0');
      }],
      ['read_committed group consumer sees exactly the committed records', async () => {
        const consumer = kafka.consumer({ groupId: 'kjs-read', maxWaitTimeInMs: 200 });
        const got = { 0: [], 1: [] };
        try {
          await consumer.connect();
          await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
          await consumer.run({ eachMessage: async ({ partition, message }) => { got[partition].push(message.value.toString()); } });
          await waitUntil(() => got[0].length + got[1].length >= 4, 60000, 'committed records');
          await new Promise((r) => setTimeout(r, 500));
        } finally {
          await consumer.disconnect();
        }
        assertEq(got[0], ['c0', 'd0'], 'partition 0');
        assertEq(got[1], ['c1', 'd1'], 'partition 1');
      }],
      ['disconnect, SIGTERM → exit 0', async () => {
        await producer.disconnect();
        await admin.disconnect();
        await b.stop();
      }],
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
