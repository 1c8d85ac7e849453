// test_kafkajs_security — kafkajs 2.2.4 against eddyd's secured listeners:
//   * SASL_PLAINTEXT with plain, scram-sha-256 and scram-sha-512: produce, then a group
//     consumer reads every record back;
//   * a wrong password and an unknown user: KafkaJSSASLAuthenticationError carrying the
//     broker's message.
'use strict';
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
const path = require('path');
const { Eddyd, waitUntil, assert, assertEq, runCases } = require(
  path.join(__dirname, '../harness/eddyd.js'));
const { Kafka, logLevel } = require('kafkajs');

const MECHS = ['plain', 'scram-sha-256', 'scram-sha-512'];

async function main() {
  process.env.EDDY_BOOTSTRAP_USER = 'admin:kjs-pass';
  const b = new Eddyd(['listeners=SASL_PLAINTEXT://127.0.0.1:0', 'super.users=User:admin',
    'group.initial.rebalance.delay.ms=0']);
  await b.start();
  delete process.env.EDDY_BOOTSTRAP_USER;
  const kafka = (mechanism, username = 'admin', password = 'kjs-pass') => new Kafka({
    clientId: 'sec-kjs', brokers: [b.bootstrap], logLevel: logLevel.NOTHING,
    sasl: { mechanism, username, password }, retry: { retries: 0 },
  });
  const ok = await runCases(b, [
    ['sasl_plaintext_produce_consume', async () => {
      const want = [];
      for (const m of MECHS) {
        const p = kafka(m).producer();
        await p.connect();
        await p.send({ topic: 'kjs-sasl', messages: [{ value: `${m}-1` }, { value: `${m}-2` }] });
        await p.disconnect();
        want.push(`${m}-1`, `${m}-2`);
      }
      const c = kafka('scram-sha-512').consumer({ groupId: 'kjs-sec-g' });
      await c.connect();
      await c.subscribe({ topic: 'kjs-sasl', fromBeginning: true });
      const got = [];
      await c.run({ eachMessage: async ({ message }) => { got.push(message.value.toString()); } });
      await waitUntil(() => got.length >= want.length, 30000, 'all records consumed');
      await c.disconnect();
      assertEq(got, want, 'records read back');
    }],
    ['wrong_credentials_rejected', async () => {
      for (const [m, u, pw] of [['plain', 'admin', 'bad'], ['scram-sha-256', 'admin', 'bad'],
        ['scram-sha-512', 'ghost', 'x']]) {
        const p = kafka(m, u, pw).producer();
        let err = null;
        try { await p.connect(); } catch (e) { err = e; }
        assert(err, `${m} ${u}/${pw}: connected`);
        assertEq(err.name, 'KafkaJSSASLAuthenticationError', `${m}: error type (${err.message})`);
        assert(/invalid credentials|Invalid username or password/.test(err.message),
          `${m}: broker message missing: ${err.message}`);
      }
    }],
  ]);
  await b.cleanup();
  process.exit(ok ? 0 : 1);
}

main().catch((e) => { console.error(e); process.exit(1); });
