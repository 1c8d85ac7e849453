// test_platformatic_producer_ids — issue 11 item 0 with the client that found it:
// @platformatic/kafka 2.12.1 sends InitProducerId with producer id 0, epoch 0 and no
// transactional id. Kafka ignores both fields then and hands out a fresh id; eddyd used to treat
// it as an epoch bump of id 0, so three idempotent producers in turn all got id 0 / epoch 1 and
// the batches of the second and third were acknowledged as duplicates and never written (200 of
// 500 records stored). Here three producers write 200 + 150 + 150 records in turn to one
// partition; each must get its own producer id, and all 500 acknowledged records must be stored,
// each once, read back with kafkajs.
'use strict';
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
const path = require('path');
const { Eddyd, assert, assertEq, runCases } = require(path.join(__dirname, '../harness/eddyd.js'));
const { Kafka, logLevel } = require('kafkajs');

const TOPIC = 'pk-ids';
const COUNTS = [200, 150, 150];

const { loadPlatformatic: loadClient } = require('./platformatic.js');

async function main() {
  const pk = await loadClient();
  const b = new Eddyd(['num.partitions=1', 'group.initial.rebalance.delay.ms=0']);
  let ok = false;
  try {
    await b.start();
    const ids = [];
    const acked = []; // values acknowledged, in send order
    ok = await runCases(b, [
      ['three idempotent producers in turn each get a fresh producer id; all acks are writes', async () => {
        const admin = new Kafka({ clientId: 'pk-admin', brokers: [b.bootstrap], logLevel: logLevel.WARN }).admin();
        await admin.connect();
        await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 1 }] });
        await admin.disconnect();
        let n = 0;
        for (let p = 0; p < COUNTS.length; p++) {
          const producer = new pk.Producer({
            clientId: `pk-${p}`, bootstrapBrokers: [b.bootstrap], idempotent: true,
            serializers: pk.stringSerializers, retries: 3,
          });
          try {
            for (let i = 0; i < COUNTS[p]; i += 50) {
              const messages = [];
              for (let j = i; j < Math.min(i + 50, COUNTS[p]); j++) {
                messages.push({ topic: TOPIC, partition: 0, key: `k${n}`, value: `p${p}-r${j}` });
                n++;
              }
              const r = await producer.send({ messages });
              assert(r && r.offsets && r.offsets.length === 1, `one partition in the send result`);
              for (const m of messages) acked.push(m.value);
            }
            ids.push(String(producer.producerId));
          } finally {
            await producer.close();
          }
        }
        assertEq(new Set(ids).size, COUNTS.length, `distinct producer ids (got ${ids.join(', ')})`);
      }],
      ['every acknowledged record is stored once (HWM 500, kafkajs reads them all)', async () => {
        const kafka = new Kafka({ clientId: 'pk-check', brokers: [b.bootstrap], logLevel: logLevel.WARN });
        const admin = kafka.admin();
        await admin.connect();
        const offs = await admin.fetchTopicOffsets(TOPIC);
        await admin.disconnect();
        const total = COUNTS.reduce((a, c) => a + c, 0);
        assertEq(offs.map((o) => o.high), [String(total)], 'high watermark');
        const consumer = kafka.consumer({ groupId: 'pk-check' });
        await consumer.connect();
        await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
        const got = [];
        await new Promise((resolve, reject) => {
          consumer.run({
            eachMessage: async ({ message }) => {
              got.push(message.value.toString());
              if (got.length === total) resolve();
            },
          }).catch(reject);
        });
        await consumer.disconnect();
        assertEq(got, acked, 'stored values = acknowledged values, in order');
      }],
    ]);
  } finally {
    await b.stop().catch(() => {});
  }
  process.exit(ok ? 0 : 1);
}

main().catch((e) => { console.error(e); process.exit(1); });
