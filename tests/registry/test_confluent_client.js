// test_confluent_client — the real client @kafkajs/confluent-schema-registry (pinned in
// tests/node/package.json) against eddyd's schema registry: registers Avro and JSON schemas,
// encodes messages (magic byte + schema id), produces them through eddyd with kafkajs, consumes
// and decodes them (the decoder fetches the schema by id from eddyd), gets the 409
// incompatibility error for a breaking change under BACKWARD, and after a SIGKILL + restart
// still decodes old messages with the same ids.
// Uses the shared launcher tests/harness/eddyd.js with --set http.listeners=...
'use strict';
const path = require('path');
const src = process.env.EDDY_SOURCE_DIR || path.join(__dirname, '..', '..');
const { Eddyd, assert, assertEq, runCases } =
  require(path.join(src, 'tests', 'harness', 'eddyd.js'));
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry');
const { Kafka, logLevel } = require('kafkajs');

const broker = new Eddyd(['http.listeners=127.0.0.1:0']);
let registry;

function httpPort() {
  const m = [...broker.logText().matchAll(/http listening on 127\.0\.0\.1:(\d+)/g)];
  if (!m.length) throw new Error('no http port in the eddyd log');
  return +m[m.length - 1][1];
}

function newRegistry() {
  return new SchemaRegistry({ host: `http://127.0.0.1:${httpPort()}`, retry: { retries: 0 } });
}

const userV1 = {
  type: 'record', name: 'User', namespace: 'eddy.it',
  fields: [{ name: 'id', type: 'long' }, { name: 'name', type: 'string' }],
};
const userV2 = {
  ...userV1,
  fields: [...userV1.fields, { name: 'email', type: ['null', 'string'], default: null }],
};
const userBad = { ...userV1, fields: [...userV1.fields, { name: 'age', type: 'int' }] };
const orderJson = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  type: 'object',
  properties: { orderId: { type: 'string' }, qty: { type: 'integer' } },
  required: ['orderId'],
};
const ids = {};
const encoded = {};

async function roundTripThroughBroker(topic, values) {
  const kafka = new Kafka({ clientId: 'registry-it', brokers: [broker.bootstrap],
    logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic, messages: values.map((v) => ({ value: v })) });
  await producer.disconnect();
  const consumer = kafka.consumer({ groupId: `g-${topic}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const got = [];
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('consume timed out')), 60000);
    consumer.run({
      eachMessage: async ({ message }) => {
        got.push(message.value);
        if (got.length === values.length) { clearTimeout(t); resolve(); }
      },
    }).catch(reject);
  });
  await consumer.disconnect();
  return got;
}

const cases = [
  ['register Avro; same schema keeps its id', async () => {
    registry = newRegistry();
    const { id } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(userV1) },
      { subject: 'users-value' });
    assert(Number.isInteger(id) && id > 0, `id ${id}`);
    const again = await registry.register({ type: SchemaType.AVRO,
      schema: JSON.stringify(userV1) }, { subject: 'users-value' });
    assertEq(again.id, id, 'same schema, same id');
    ids.v1 = id;
    assertEq(await registry.getLatestSchemaId('users-value'), id, 'latest id');
    assertEq(await registry.getRegistryId('users-value', 1), id, 'version 1 id');
  }],
  ['Avro encode → produce → consume → decode', async () => {
    const msgs = [{ id: 1, name: 'ada' }, { id: 2, name: 'bob' }];
    const enc = await Promise.all(msgs.map((m) => registry.encode(ids.v1, m)));
    assertEq(enc[0][0], 0, 'magic byte');
    assertEq(enc[0].readInt32BE(1), ids.v1, 'schema id in the envelope');
    const got = await roundTripThroughBroker('users', enc);
    const fresh = newRegistry(); // empty cache: the schema comes from eddyd by id
    const dec = await Promise.all(got.map((b) => fresh.decode(b)));
    assertEq(JSON.stringify(dec.map((d) => ({ id: Number(d.id), name: d.name }))),
      JSON.stringify(msgs), 'decoded values');
    encoded.avro = enc[0];
  }],
  ['compatible evolution gets a new id', async () => {
    const { id } = await registry.register({ type: SchemaType.AVRO,
      schema: JSON.stringify(userV2) }, { subject: 'users-value' });
    assert(id > ids.v1, `new id ${id} > ${ids.v1}`);
    ids.v2 = id;
    const enc = await registry.encode(id, { id: 3, name: 'cy', email: 'c@y' });
    const dec = await newRegistry().decode(enc);
    assertEq(dec.email, 'c@y', 'v2 field');
  }],
  ['breaking change under BACKWARD is rejected with the reason', async () => {
    let err = null;
    try {
      await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(userBad) },
        { subject: 'users-value' });
    } catch (e) { err = e; }
    assert(err, 'register must fail');
    assertEq(err.status, 409, `status (${err.message})`);
    assert(/age/.test(err.message) && /READER_FIELD_MISSING_DEFAULT_VALUE/.test(err.message),
      `message names the field and rule: ${err.message}`);
    assertEq(await registry.getLatestSchemaId('users-value'), ids.v2, 'nothing stored');
  }],
  ['JSON Schema register, encode, decode, validation', async () => {
    const { id } = await registry.register({ type: SchemaType.JSON,
      schema: JSON.stringify(orderJson) }, { subject: 'orders-value' });
    ids.json = id;
    const enc = await registry.encode(id, { orderId: 'o-1', qty: 2 });
    const got = await roundTripThroughBroker('orders', [enc]);
    const dec = await newRegistry().decode(got[0]);
    assertEq(JSON.stringify(dec), JSON.stringify({ orderId: 'o-1', qty: 2 }), 'decoded');
    let bad = null;
    try { await registry.encode(id, { qty: 'x' }); } catch (e) { bad = e; }
    assert(bad, 'the client validates against the schema fetched from eddyd');
    encoded.json = enc;
  }],
  ['JSON Schema breaking change rejected', async () => {
    const breaking = { ...orderJson, required: ['orderId', 'qty'] };
    let err = null;
    try {
      await registry.register({ type: SchemaType.JSON, schema: JSON.stringify(breaking) },
        { subject: 'orders-value' });
    } catch (e) { err = e; }
    assert(err && err.status === 409, `409 expected, got ${err && err.message}`);
    assert(/qty/.test(err.message), err.message);
  }],
  ['schema references (Avro named type, JSON $ref) through the client', async () => {
    const address = { type: 'record', name: 'Address', namespace: 'eddy.it',
      fields: [{ name: 'city', type: 'string' }] };
    await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(address) },
      { subject: 'address' });
    const person = { type: 'record', name: 'Person', namespace: 'eddy.it',
      fields: [{ name: 'name', type: 'string' }, { name: 'home', type: 'eddy.it.Address' }] };
    const { id } = await registry.register({ type: SchemaType.AVRO,
      schema: JSON.stringify(person),
      references: [{ name: 'eddy.it.Address', subject: 'address', version: 1 }] },
    { subject: 'person-value' });
    const enc = await registry.encode(id, { name: 'ada', home: { city: 'London' } });
    const dec = await newRegistry().decode(enc);
    assertEq(dec.home.city, 'London', 'avro value through a referenced type');

    const addrJson = { $id: 'https://eddy.test/address.json', type: 'object',
      properties: { city: { type: 'string' } }, required: ['city'] };
    await registry.register({ type: SchemaType.JSON, schema: JSON.stringify(addrJson) },
      { subject: 'address-json' });
    const personJson = { type: 'object', properties: { name: { type: 'string' },
      home: { $ref: 'https://eddy.test/address.json' } } };
    const pj = await registry.register({ type: SchemaType.JSON,
      schema: JSON.stringify(personJson),
      references: [{ name: 'https://eddy.test/address.json', subject: 'address-json',
        version: 1 }] }, { subject: 'person-json-value' });
    const encJ = await registry.encode(pj.id, { name: 'bob', home: { city: 'Paris' } });
    const decJ = await newRegistry().decode(encJ);
    assertEq(decJ.home.city, 'Paris', 'json value through a referenced schema');
    let bad = null;
    try { await registry.encode(pj.id, { name: 'bob', home: {} }); } catch (e) { bad = e; }
    assert(bad, 'the referenced schema is enforced (city required)');
  }],
  ['SIGKILL + restart: same ids, old messages still decode', async () => {
    await broker.kill();
    await broker.start();
    const fresh = newRegistry();
    assertEq(await fresh.getLatestSchemaId('users-value'), ids.v2, 'latest id after restart');
    assertEq(await fresh.getRegistryId('users-value', 1), ids.v1, 'v1 id after restart');
    const dec = await fresh.decode(encoded.avro);
    assertEq(dec.name, 'ada', 'avro decode after restart');
    const dj = await fresh.decode(encoded.json);
    assertEq(dj.orderId, 'o-1', 'json decode after restart');
    const { id } = await fresh.register({ type: SchemaType.AVRO,
      schema: JSON.stringify(userV1) }, { subject: 'users-value' });
    assertEq(id, ids.v1, 're-registering keeps the id');
  }],
];

(async () => {
  await broker.start();
  const ok = await runCases(broker, cases);
  await broker.stop();
  process.exit(ok ? 0 : 1);
})().catch((e) => { console.error(e); process.exit(1); });
