// test_kafkajs_produce_consume — scenario 4a: kafkajs 2.2.4 against a real eddyd.
// producer().send({topic, messages: [{key, value, headers}]}) (plain and gzip) into an
// auto-created 2-partition topic, then a group consumer (consumer.run/eachMessage, as kafkajs
// users write it; needs the group coordinator) reads everything back: every message once,
// keys/values/headers (string and binary) intact, per-partition order = send order, offsets
// equal to what send() reported.
'use strict';
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
const path = require('path');
const { Eddyd, waitUntil, assert, assertEq, runCases } = require(path.join(__dirname, '../harness/eddyd.js'));
const { Kafka, logLevel, CompressionTypes } = require('kafkajs');

const TOPIC = 'kjs-pc';
const N = 60;

function msg(i) {
  return {
    key: `key-${i % 6}`,
    value: `value-${i}`,
    headers: { 'trace-id': `t-${i}`, bin: Buffer.from([0, 255, i & 0xff, 10]), empty: '' },
  };
}

async function main() {
  const b = new Eddyd(['num.partitions=2', 'group.initial.rebalance.delay.ms=0']);
  let ok = false;
  try {
    await b.start();
    const kafka = new Kafka({
      clientId: 'it-kjs', brokers: [b.bootstrap], logLevel: logLevel.WARN,
      retry: { initialRetryTime: 100, retries: 8 },
    });
    const producer = kafka.producer();
    const sent = new Map(); // "p:offset" -> i
    const perPartition = { 0: [], 1: [] };

    ok = await runCases(b, [
      ['producer.send with keys, values and headers (acks=-1)', async () => {
        await producer.connect();
        const first = Array.from({ length: N / 2 }, (_, i) => msg(i));
        const r1 = await producer.send({ topic: TOPIC, acks: -1, messages: first });
        const second = Array.from({ length: N / 2 }, (_, i) => msg(i + N / 2));
        const r2 = await producer.send({ topic: TOPIC, acks: -1, compression: CompressionTypes.GZIP, messages: second });
        for (const r of [...r1, ...r2]) assertEq(r.errorCode, 0, `send errorCode for partition ${r.partition}`);
        // kafkajs reports the base offset per partition; reconstruct each message's offset the
        // same way the log must have assigned them (send order within a partition).
        const partitionOf = (key) => {
          // kafkajs's default partitioner is murmur2 on the key, like Java's.
          const { Partitioners } = require('kafkajs');
          const p = Partitioners.DefaultPartitioner();
          return p({ topic: TOPIC, partitionMetadata: [{ partitionId: 0, leader: 1 }, { partitionId: 1, leader: 1 }], message: { key } });
        };
        for (const [batch, res, base] of [[first, r1, 0], [second, r2, N / 2]]) {
          const next = {};
          for (const r of res) next[r.partition] = Number(r.baseOffset);
          batch.forEach((m, j) => {
            const p = partitionOf(m.key);
            assert(next[p] !== undefined, `no send() result for partition ${p}`);
            sent.set(`${p}:${next[p]}`, base + j);
            perPartition[p].push(base + j);
            next[p] += 1;
          });
        }
        assert(perPartition[0].length > 0 && perPartition[1].length > 0, 'keys spread over both partitions');
        await producer.disconnect();
      }],
      ['group consumer (consumer.run) reads everything back with headers', async () => {
        const consumer = kafka.consumer({
          groupId: 'it-kjs-group', sessionTimeout: 10000, heartbeatInterval: 1000, maxWaitTimeInMs: 500,
          retry: { initialRetryTime: 100, retries: 8 },
        });
        const got = [];
        try {
          await consumer.connect();
          await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
          await consumer.run({
            eachMessage: async ({ topic, partition, message }) => {
              got.push({ topic, partition, offset: message.offset, key: message.key && message.key.toString(),
                value: message.value && message.value.toString(), headers: message.headers });
            },
          });
          await waitUntil(() => got.length >= N, 90000, `${N} messages (have ${got.length})`);
        } finally {
          await consumer.disconnect();
        }
        assertEq(got.length, N, 'number of messages consumed');
        const seen = new Set();
        for (const g of got) {
          const k = `${g.partition}:${g.offset}`;
          assert(!seen.has(k), `message ${k} consumed twice`);
          seen.add(k);
          const i = sent.get(k);
          assert(i !== undefined, `unexpected message at ${k}: ${g.value}`);
          const m = msg(i);
          assertEq([g.key, g.value], [m.key, m.value], `key/value at ${k}`);
          assertEq(g.headers['trace-id'].toString(), `t-${i}`, `trace-id header at ${k}`);
          assert(Buffer.compare(g.headers.bin, m.headers.bin) === 0, `binary header at ${k}: ${g.headers.bin.toString('hex')}`);
          assertEq(g.headers.empty.toString(), '', `empty header at ${k}`);
        }
        for (const p of [0, 1]) {
          const order = got.filter((g) => g.partition === p).map((g) => sent.get(`${p}:${g.offset}`));
          assertEq(order, perPartition[p], `partition ${p} order`);
          const offs = got.filter((g) => g.partition === p).map((g) => Number(g.offset));
          assertEq(offs, offs.map((_, j) => j), `partition ${p} offsets contiguous from 0`);
        }
      }],
      ['SIGTERM → exit 0', async () => { await b.stop(); }],
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
