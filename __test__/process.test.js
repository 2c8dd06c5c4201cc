'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { Worker } = require('node:worker_threads');
const { Backend, tempDir, waitFor, waitForJob } = require('./helpers');

const fixture = (name) => path.join(__dirname, 'fixtures', name);

test('a script that subscribes and closes exits by itself', () => {
  const run = spawnSync(process.execPath, [fixture('subscribe-and-close.js'), tempDir()], { encoding: 'utf8', timeout: 20000 });
  assert.equal(run.signal, null, 'the process had to be killed: something kept it alive');
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /^closed job_/);
});

test('a subscription alone never keeps Node alive; teardown closes the backend', async () => {
  const dataDir = tempDir();
  const run = spawnSync(process.execPath, [fixture('subscribe-forever.js'), dataDir], { encoding: 'utf8', timeout: 20000 });
  assert.equal(run.signal, null, 'the process had to be killed: the subscription kept it alive');
  assert.equal(run.status, 0, run.stderr);
  const jobId = run.stdout.trim().split(' ')[1];
  // The lock was released at teardown and the job is durable.
  const backend = await Backend.open({ dataDir, scheduler: false });
  assert.equal((await backend.getJob(jobId)).status, 'queued');
  await backend.close();
});

test('SIGKILL loses nothing: running jobs are re-queued or failed, queued ones run', async () => {
  const dataDir = tempDir();
  const child = spawn(process.execPath, [fixture('crash-child.js'), dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  await waitFor(() => out.includes('\n'), { timeout: 20000, what: 'the child to report' });
  const { running, queued } = JSON.parse(out);
  child.kill('SIGKILL');
  await new Promise((r) => child.on('exit', r));

  const backend = await Backend.open({ dataDir, scheduler: false });
  // The 'slow' job had attempts left: re-queued; it waits for a handler of its type.
  const slow = await backend.getJob(running[0]);
  assert.equal(slow.status, 'queued');
  // The 'fragile' job had no attempts left: failed as interrupted.
  const fragile = await backend.getJob(running[1]);
  assert.equal(fragile.status, 'failed');
  assert.deepEqual(fragile.error, { message: 'job interrupted', code: 'interrupted' });
  assert.deepEqual((await backend.listJobEvents(running[1])).map((e) => e.message), ['job interrupted']);
  assert.deepEqual((await backend.listJobEvents(running[0])).map((e) => e.message), ['job requeued after interruption']);
  assert.deepEqual((await backend.status()).waiting_for_handler, { slow: 1 });
  // Every queued demo job is still there and now runs to the end.
  for (const id of queued) assert.equal((await waitForJob(backend, id)).status, 'succeeded');
  // The re-queued job finishes once its handler exists again.
  backend.registerJobHandler('slow', (job, ctx) => ({ attempt: ctx.attempt }), { maxAttempts: 2 });
  const done = await waitForJob(backend, running[0]);
  assert.equal(done.status, 'succeeded');
  assert.deepEqual(done.result, { attempt: 2 });
  await backend.close();
});

test('several worker_threads use the addon at once and survive termination', async () => {
  const runWorker = (n, leaveOpen = false) => new Promise((resolve, reject) => {
    const worker = new Worker(fixture('worker.js'), { workerData: { n, dataDir: tempDir(), leaveOpen } });
    worker.once('message', (msg) => resolve({ worker, msg }));
    worker.once('error', reject);
  });
  const results = await Promise.all([1, 2, 3].map((n) => runWorker(n)));
  for (const [i, { msg, worker }] of results.entries()) {
    assert.equal(msg.error, undefined);
    assert.equal(msg.job.status, 'succeeded');
    assert.deepEqual(msg.job.result, { from: i + 1, echo: { n: i + 1 } });
    assert.ok(msg.seen.includes('job.created'));
    await worker.terminate();
  }
  // Terminate a worker while its backend is open and a JS job runs: the process lives on.
  const { worker, msg } = await runWorker(4, true);
  assert.equal(msg.open, true);
  await worker.terminate();
  // The main thread's addon still works.
  const backend = await Backend.open({ dataDir: tempDir(), scheduler: false });
  const { job_id } = await backend.createJob({ type: 'demo' });
  assert.equal((await waitForJob(backend, job_id)).status, 'succeeded');
  await backend.close();
});
