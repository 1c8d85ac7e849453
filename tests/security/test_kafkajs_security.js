// test_kafkajs_security — kafkajs 2.2.4 against eddyd's secured listeners:
//   * SASL_PLAINTEXT with plain, scram-sha-256 and scram-sha-512: produce, then a group
//     consumer reads every record back;
//   * a wrong password and an unknown user: KafkaJSSASLAuthenticationError carrying the
//     broker's message;
//   * SASL_SSL with scram-sha-256 / scram-sha-512 and SSL with a client certificate: produce
//     and consume; a wrong password over TLS and a certificate from another CA fail.
'use strict';
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
const path = require('path');
const { Eddyd, waitUntil, assert, assertEq, runCases } = require(
  path.join(__dirname, '../harness/eddyd.js'));
const { Kafka, logLevel } = require('kafkajs');
const fs = require('fs');
const os = require('os');
const { execFileSync } = require('child_process');

const MECHS = ['plain', 'scram-sha-256', 'scram-sha-512'];

async function main() {
  const certs = fs.mkdtempSync(path.join(os.tmpdir(), 'eddy-certs-'));
  execFileSync('bash', [path.join(__dirname, 'make_certs.sh'), certs]);
  const C = (n) => path.join(certs, n);
  process.env.EDDY_BOOTSTRAP_USER = 'admin:kjs-pass';
  const b = new Eddyd(['listeners=SASL_PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0,SSL://127.0.0.1:0',
    'super.users=User:admin', 'group.initial.rebalance.delay.ms=0',
    `ssl.keystore.location=${C('broker.pem')}`, `ssl.truststore.location=${C('ca.pem')}`,
    'ssl.client.auth=requested']);
  await b.start();
  delete process.env.EDDY_BOOTSTRAP_USER;
  const port = (name) => Number([...b.logText().matchAll(
    new RegExp(`listener ${name} \\(${name}\\) on 127\\.0\\.0\\.1:(\\d+)`, 'g'))].pop()[1]);
  const kafka = (mechanism, username = 'admin', password = 'kjs-pass') => new Kafka({
    clientId: 'sec-kjs', brokers: [b.bootstrap], logLevel: logLevel.NOTHING,
    sasl: { mechanism, username, password }, retry: { retries: 0 },
  });
  const ca = [fs.readFileSync(C('ca.pem'), 'utf8')];
  const kafkaSaslSsl = (mechanism, password = 'kjs-pass') => new Kafka({
    clientId: 'sec-kjs', brokers: [`127.0.0.1:${port('SASL_SSL')}`], logLevel: logLevel.NOTHING,
    ssl: { ca, servername: 'localhost' }, sasl: { mechanism, username: 'admin', password },
    retry: { retries: 0 },
  });
  const kafkaSsl = (who) => new Kafka({
    clientId: 'sec-kjs', brokers: [`127.0.0.1:${port('SSL')}`], logLevel: logLevel.NOTHING,
    ssl: { ca, servername: 'localhost', cert: fs.readFileSync(C(`${who}.pem`), 'utf8'),
      key: fs.readFileSync(C(`${who}.key`), 'utf8') },
    retry: { retries: 0 },
  });
  const readAll = async (k, topic, n) => {
    const c = k.consumer({ groupId: `g-${topic}-${Math.random()}` });
    await c.connect();
    await c.subscribe({ topic, fromBeginning: true });
    const got = [];
    await c.run({ eachMessage: async ({ message }) => { got.push(message.value.toString()); } });
    await waitUntil(() => got.length >= n, 30000, `${n} records from ${topic}`);
    await c.disconnect();
    return got;
  };
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
    ['tls_produce_consume', async () => {
      for (const m of ['scram-sha-256', 'scram-sha-512']) {
        const p = kafkaSaslSsl(m).producer();
        await p.connect();
        await p.send({ topic: 'kjs-tls', messages: [{ value: `${m}-tls` }] });
        await p.disconnect();
      }
      const p = kafkaSsl('alice').producer();
      await p.connect();
      await p.send({ topic: 'kjs-tls', messages: [{ value: 'cert-tls' }] });
      await p.disconnect();
      const want = ['scram-sha-256-tls', 'scram-sha-512-tls', 'cert-tls'];
      assertEq(await readAll(kafkaSsl('alice'), 'kjs-tls', 3), want, 'SSL consumer');
      assertEq(await readAll(kafkaSaslSsl('scram-sha-512'), 'kjs-tls', 3), want, 'SASL_SSL consumer');
    }],
    ['tls_rejections', async () => {
      let err = null;
      try { await kafkaSaslSsl('scram-sha-256', 'bad').producer().connect(); } catch (e) { err = e; }
      assert(err && err.name === 'KafkaJSSASLAuthenticationError', `SASL_SSL wrong password: ${err}`);
      err = null;
      const p = kafkaSsl('mallory').producer();
      try { await p.connect(); await p.send({ topic: 'kjs-tls', messages: [{ value: 'never' }] }); } catch (e) { err = e; }
      assert(err, 'a certificate from another CA was accepted');
      await waitUntil(() => b.logText().includes('client certificate: unable to get local issuer'),
        5000, 'broker log line for the other CA');
    }],
  ]);
  fs.rmSync(certs, { recursive: true, force: true });
  await b.cleanup();
  process.exit(ok ? 0 : 1);
}

main().catch((e) => { console.error(e); process.exit(1); });
