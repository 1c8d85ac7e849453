// eddyd.js — integration-test launcher for Node tests (every test area).
//
// Starts a real eddyd with `--data-dir <fresh temp dir> --listen 127.0.0.1:0 [--set k=v ...]`,
// waits for the ready line "listening on 127.0.0.1:PORT" (output goes to a log file in the temp
// dir), stops it with SIGTERM (exit 0 required) or SIGKILL, restarts it on the same data dir and
// port. Same conventions as eddyd.sh / eddyd.py / eddyd_harness.h. Binary: $EDDYD, else
// $EDDY_BUILD_DIR/src/eddyd/eddyd; a missing binary fails. eddyd runs under
// `setpriv --pdeathsig KILL` and is killed on process exit, so it never outlives the test.
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const READY = /(?<!http )listening on 127\.0\.0\.1:(\d+)/;
const live = new Set();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function eddydBin() {
  const e = process.env.EDDYD;
  const isExe = (p) => { try { fs.accessSync(p, fs.constants.X_OK); return true; } catch (_) { return false; } };
  if (e && isExe(e)) return e;
  const bd = process.env.EDDY_BUILD_DIR;
  if (bd && isExe(path.join(bd, 'src/eddyd/eddyd'))) return path.join(bd, 'src/eddyd/eddyd');
  throw new Error(`eddyd not found (EDDYD=${e}, EDDY_BUILD_DIR=${bd})`);
}

function killAll() {
  for (const b of live) b.killSync();
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { killAll(); process.exit(143); });

class Eddyd {
  constructor(sets = []) {
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'eddy-it-'));
    this.data = path.join(this.tmp, 'data');
    this.sets = sets;
    this.port = 0;
    this.nstart = 0;
    this.proc = null;
    live.add(this);
  }

  get bootstrap() { return `127.0.0.1:${this.port}`; }

  async start(timeoutMs = 60000) {
    this.nstart += 1;
    this.logPath = path.join(this.tmp, `eddyd-${this.nstart}.log`);
    const fd = fs.openSync(this.logPath, 'w');
    const args = ['--pdeathsig', 'KILL', eddydBin(), '--data-dir', this.data,
      '--listen', `127.0.0.1:${this.port}`, '--http', 'off']; // sets may enable it
    for (const s of this.sets) args.push('--set', s);
    const proc = spawn('setpriv', args, { stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    this.proc = proc;
    proc.exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
    proc.on('exit', () => { proc.done = true; });
    const t0 = Date.now();
    while (Date.now() - t0 < timeoutMs) {
      const m = this.logText().match(READY);
      if (m) {
        const port = +m[1];
        if (this.port && port !== this.port) throw new Error(`eddyd restarted on port ${port}, asked for ${this.port}`);
        this.port = port;
        return this;
      }
      if (proc.done) {
        this.proc = null;
        throw new Error(`eddyd exited during start-up:\n${this.logTail()}`);
      }
      await sleep(20);
    }
    throw new Error(`eddyd printed no ready line within ${timeoutMs} ms:\n${this.logTail()}`);
  }

  async stop(timeoutMs = 30000) {
    const p = this.proc;
    if (!p) return;
    this.proc = null;
    if (p.done) throw new Error(`eddyd had already exited:\n${this.logTail()}`);
    p.kill('SIGTERM');
    const r = await Promise.race([p.exited, sleep(timeoutMs).then(() => null)]);
    if (r === null) {
      p.kill('SIGKILL');
      throw new Error(`eddyd did not exit within ${timeoutMs} ms of SIGTERM`);
    }
    if (r.code !== 0) throw new Error(`eddyd exited with ${r.code}/${r.signal} after SIGTERM (expected 0):\n${this.logTail()}`);
  }

  async kill() {
    const p = this.proc;
    if (!p) return;
    this.proc = null;
    if (!p.done) { p.kill('SIGKILL'); await p.exited; }
  }

  killSync() {
    if (this.proc && !this.proc.done) this.proc.kill('SIGKILL');
    this.proc = null;
  }

  async restart({ kill = false } = {}) {
    if (kill) await this.kill(); else await this.stop();
    return this.start();
  }

  logText() {
    try { return fs.readFileSync(this.logPath, 'utf8'); } catch (_) { return ''; }
  }

  logTail(n = 40) { return this.logText().split('\n').slice(-n).join('\n'); }

  async cleanup() {
    await this.kill();
    live.delete(this);
    if (process.env.EDDY_IT_KEEP !== '1') fs.rmSync(this.tmp, { recursive: true, force: true });
  }
}

async function waitUntil(cond, timeoutMs, what, intervalMs = 50) {
  const t0 = Date.now();
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() - t0 >= timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

function assert(cond, msg) { if (!cond) throw new Error(`assertion failed: ${msg}`); }

function assertEq(a, b, msg) {
  const sa = JSON.stringify(a); const sb = JSON.stringify(b);
  if (sa !== sb) throw new Error(`assertion failed: ${msg}\n  got:      ${sa}\n  expected: ${sb}`);
}

// Runs named async cases against one broker; prints "N passed, N failed"; exit 1 on failure.
async function runCases(broker, cases) {
  let passed = 0; let failed = 0;
  for (const [name, fn] of cases) {
    const t0 = Date.now();
    try {
      await fn();
      passed += 1;
      console.log(`PASS ${name} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
    } catch (e) {
      failed += 1;
      console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
      if (broker) console.log(`---- eddyd log tail ----\n${broker.logTail()}\n----`);
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 && passed > 0;
}

module.exports = { Eddyd, waitUntil, assert, assertEq, runCases, sleep };
