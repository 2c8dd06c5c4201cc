'use strict';
// Shared helpers of the JS tests. Event subscriptions never keep Node alive (by design), so
// every wait here runs on a timer, which does.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Backend } = require('..');

function tempDir(prefix = 'enttok-test-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Polls `check` (sync or async) every 10 ms until it returns a truthy value or time runs out. */
async function waitFor(check, { timeout = 10000, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Waits until the job is in a final state and returns it. */
async function waitForJob(backend, jobId, timeout = 15000) {
  return waitFor(async () => {
    const job = await backend.getJob(jobId);
    return ['succeeded', 'failed', 'canceled'].includes(job.status) ? job : null;
  }, { timeout, what: `job ${jobId} to finish` });
}

/** Collects every event into an array; returns `{ events, off }`. */
function record(backend) {
  const events = [];
  const off = backend.subscribe((e) => events.push(e));
  return { events, off };
}

async function open(options = {}) {
  const dataDir = options.dataDir || tempDir();
  const backend = await Backend.open({ scheduler: false, ...options, dataDir });
  return { backend, dataDir };
}

module.exports = { Backend, tempDir, waitFor, waitForJob, record, open };
