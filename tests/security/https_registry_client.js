// https_registry_client.js — the Confluent schema-registry client of Node
// (@kafkajs/confluent-schema-registry, pinned in tests/node/package.json) against eddyd's HTTP
// port over HTTPS with Basic credentials (test_https.py sets REGISTRY, REGISTRY_USER,
// REGISTRY_PASSWORD, SUBJECT and NODE_EXTRA_CA_CERTS): registers an Avro schema, encodes a
// message (magic byte + id) and decodes it again, the decoder fetching the schema by id over
// HTTPS. Prints OK; exits non-zero on any error.
'use strict';
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry');

async function main() {
  const registry = new SchemaRegistry({
    host: process.env.REGISTRY,
    auth: { username: process.env.REGISTRY_USER, password: process.env.REGISTRY_PASSWORD },
    retry: { retries: 0 },
  });
  const schema = { type: 'record', name: 'Order', fields: [{ name: 'id', type: 'string' }] };
  const { id } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) },
    { subject: process.env.SUBJECT || 'https-orders-value' });
  const buf = await registry.encode(id, { id: 'o-1' });
  if (buf[0] !== 0 || buf.readInt32BE(1) !== id) throw new Error(`bad framing ${buf.toString('hex')}`);
  // a fresh client: decode must fetch the schema by id over HTTPS
  const fresh = new SchemaRegistry({
    host: process.env.REGISTRY,
    auth: { username: process.env.REGISTRY_USER, password: process.env.REGISTRY_PASSWORD },
  });
  const back = await fresh.decode(buf);
  if (back.id !== 'o-1') throw new Error(`decoded ${JSON.stringify(back)}`);
  console.log(`OK id ${id}`);
}

main().catch((e) => {
  console.error(`FAIL ${e && e.message}`);
  process.exit(1);
});
