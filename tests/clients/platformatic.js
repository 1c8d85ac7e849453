// platformatic.js — loads @platformatic/kafka (ESM-only) for the CommonJS client tests.
'use strict';
const path = require('path');

async function loadPlatformatic() {
  // the client targets Node >= 22; Node 20 lacks only this ES2024 helper, which it uses
  if (!Promise.withResolvers) {
    Promise.withResolvers = () => {
      let resolve; let reject;
      const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
      return { promise, resolve, reject };
    };
  }
  // import it by path: NODE_PATH does not apply to import()
  const dirs = (process.env.NODE_PATH || path.join(__dirname, '../node/node_modules')).split(':');
  for (const d of dirs) {
    const entry = path.join(d, '@platformatic/kafka/dist/index.js');
    try {
      return await import(entry);
    } catch (e) {
      if (e.code !== 'ERR_MODULE_NOT_FOUND') throw e;
    }
  }
  throw new Error('@platformatic/kafka not installed (tests/node: npm ci)');
}

module.exports = { loadPlatformatic };
