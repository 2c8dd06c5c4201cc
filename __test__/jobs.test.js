'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { open, record, waitFor, waitForJob } = require('./helpers');

test('a demo job emits the contract events in order, each after its commit', async () => {
  const { backend } = await open();
  const seen = [];
  // Each event is checked against the stored job when it arrives: state first, event after.
  const checks = [];
  const off = backend.subscribe((e) => {
    seen.push(e);
    if (e.type === 'job.status' && e.status === 'succeeded') {
      checks.push(backend.getJob(e.job_id).then((j) => assert.equal(j.status, 'succeeded')));
    }
  });
  const { job_id, status } = await backend.createJob({ type: 'demo', payload: { simulate_ms: 500 } });
  assert.equal(status, 'queued');
  assert.match(job_id, /^job_[0-9a-f]{32}$/);
  const job = await waitForJob(backend, job_id);
  await waitFor(() => seen.some((e) => e.type === 'job.status' && e.status === 'succeeded'));
  await Promise.all(checks);
  off();
  const mine = seen.filter((e) => e.job_id === job_id || (e.type === 'log' && e.message.includes(job_id)));
  assert.deepEqual(mine.map((e) => [e.type, e.status ?? e.progress ?? e.message]), [
    ['job.created', 'queued'],
    ['log', `job queued ${job_id} (demo)`],
    ['job.status', 'running'],
    ['job.progress', 0.5],
    ['job.progress', 1],
    ['job.status', 'succeeded'],
  ]);
  assert.deepEqual(Object.keys(mine[0]), ['type', 'job_id', 'job_type', 'status', 'timestamp']);
  assert.deepEqual(Object.keys(job), ['job_id', 'type', 'status', 'created_at', 'updated_at', 'progress', 'message', 'payload', 'result', 'error']);
  assert.equal(job.progress, 1);
  assert.equal(job.message, 'progress 1.00');
  assert.equal(job.result, null);
  const events = await backend.listJobEvents(job_id);
  assert.deepEqual(events.map((e) => [e.level, e.message]), [['info', 'job completed']]);
  await backend.close();
});

test('a demo job with a bad simulate_ms fails with the error text', async () => {
  const { backend } = await open();
  const { job_id } = await backend.createJob({ type: 'demo', payload: { simulate_ms: 'soon' } });
  const job = await waitForJob(backend, job_id);
  assert.equal(job.status, 'failed');
  assert.equal(job.error.message, "could not convert string to float: 'soon'");
  const events = await backend.listJobEvents(job_id);
  assert.deepEqual(events[0].meta, { error: "could not convert string to float: 'soon'" });
  await backend.close();
});

test('createJob validates its input like POST /jobs', async () => {
  const { backend } = await open();
  await assert.rejects(backend.createJob(), (e) => e.code === 'E_INVALID_INPUT' && e.detail[0].type === 'missing' && e.detail[0].loc.join() === 'body');
  await assert.rejects(backend.createJob({ type: '' }), (e) => e.detail[0].type === 'string_too_short' && e.message === 'body.type: String should have at least 1 character');
  await assert.rejects(backend.createJob({ type: 5 }), (e) => e.detail[0].type === 'string_type');
  await assert.rejects(backend.createJob({ type: 'demo', payload: [] }), (e) => e.detail[0].type === 'dict_type');
  await assert.rejects(backend.createJob({ type: 'foo' }), (e) => {
    assert.equal(e.status, 422);
    assert.deepEqual(e.detail[0], {
      type: 'value_error', loc: ['body', 'type'],
      msg: "Value error, unknown job type 'foo'; known types: claude.spawn, connector.calendar.sync, connector.confluence.sync, connector.jira.sync, demo, index.rebuild, index.update, maintenance.compact, vault.scan",
      input: 'foo', ctx: { error: 'unknown job type' },
    });
    return true;
  });
  await assert.rejects(backend.createJob({ type: 'demo', max_attempts: 21 }), (e) => e.detail[0].type === 'less_than_equal');
  await assert.rejects(backend.createJob({ type: 'demo', run_at: 'tomorrow' }), (e) => e.status === 400 && e.detail === "Invalid isoformat string: 'tomorrow'");
  await assert.rejects(backend.createJob({ type: 'demo', payload: { big: 10n } }), (e) => e.code === 'E_INVALID_INPUT');
  await assert.rejects(backend.getJob('job_missing'), (e) => e.code === 'E_NOT_FOUND' && e.status === 404 && e.detail === 'job not found');
  await assert.rejects(backend.getJob(12), (e) => e.code === 'E_INVALID_INPUT' && e.detail[0].loc.join() === 'path,job_id');
  await assert.rejects(backend.cancelJob('job_missing'), (e) => e.code === 'E_NOT_FOUND');
  await assert.rejects(backend.listJobEvents('job_missing'), (e) => e.code === 'E_NOT_FOUND');
  await assert.rejects(backend.listJobs({ limit: 0 }), (e) => e.detail[0].type === 'greater_than_equal' && e.detail[0].loc.join() === 'query,limit');
  await assert.rejects(backend.listJobs({ status: 'done' }), (e) => e.detail[0].type === 'enum');
  // A huge payload is accepted, not an abort.
  const big = 'x'.repeat(2 * 1024 * 1024);
  const { job_id } = await backend.createJob({ type: 'maintenance.compact', payload: { note: big, vacuum: false } });
  assert.equal((await backend.getJob(job_id)).payload.note.length, big.length);
  await backend.close();
});

test('listJobs filters, limits and orders newest first', async () => {
  const { backend } = await open();
  backend.registerJobHandler('parked', () => new Promise(() => {}));
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push((await backend.createJob({ type: 'demo', run_at: '2999-01-01T00:00:00Z' })).job_id);
  const all = await backend.listJobs();
  assert.deepEqual(all.map((j) => j.job_id), ids); // same second: insertion order
  assert.equal((await backend.listJobs({ limit: 2 })).length, 2);
  assert.equal((await backend.listJobs({ status: 'succeeded' })).length, 0);
  assert.equal((await backend.listJobs({ type: 'demo', status: 'queued' })).length, 3);
  assert.equal((await backend.listJobs({ type: 'other' })).length, 0);
  await backend.close();
});

test('unique_key returns the pending job instead of a new one', async () => {
  const { backend } = await open();
  const a = await backend.createJob({ type: 'demo', unique_key: 'k1', run_at: '2999-01-01T00:00:00Z' });
  const b = await backend.createJob({ type: 'demo', unique_key: 'k1' });
  assert.deepEqual(b, a);
  await backend.cancelJob(a.job_id);
  const c = await backend.createJob({ type: 'demo', unique_key: 'k1' });
  assert.notEqual(c.job_id, a.job_id);
  await backend.close();
});

test('cancel: queued at once, canceling again is a no-op', async () => {
  const { backend } = await open();
  const { events, off } = record(backend);
  const { job_id } = await backend.createJob({ type: 'demo', run_at: '2999-01-01T00:00:00Z' });
  assert.deepEqual(await backend.cancelJob(job_id), { job_id, status: 'canceled' });
  assert.deepEqual(await backend.cancelJob(job_id), { job_id, status: 'canceled' });
  await waitFor(() => events.some((e) => e.type === 'job.status'));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(events.filter((e) => e.type === 'job.status').length, 1);
  assert.deepEqual((await backend.listJobEvents(job_id)).map((e) => e.message), ['job canceled']);
  off();
  await backend.close();
});

test('JS handlers: result, error with code, non-serialisable result, progress and log', async () => {
  const { backend } = await open();
  const { events, off } = record(backend);
  backend.registerJobHandler('js.ok', async (job, ctx) => {
    assert.equal(ctx.jobId, job.job_id);
    assert.equal(ctx.attempt, 1);
    assert.equal(job.status, 'queued');
    await ctx.progress(0.5, 'halfway');
    await ctx.log('warn', 'careful', { step: 1 });
    await assert.rejects(ctx.progress(2), (e) => e.code === 'E_INVALID_INPUT');
    return { sum: job.payload.a + job.payload.b };
  });
  backend.registerJobHandler('js.fail', async () => {
    const err = new Error('nope');
    err.code = 'E_MINE';
    throw err;
  });
  backend.registerJobHandler('js.weird', () => ({ f: 1n }));
  backend.registerJobHandler('js.undef', () => undefined);

  const ok = await backend.createJob({ type: 'js.ok', payload: { a: 2, b: 3 } });
  const okJob = await waitForJob(backend, ok.job_id);
  assert.equal(okJob.status, 'succeeded');
  assert.deepEqual(okJob.result, { sum: 5 });
  assert.equal(okJob.progress, 1);
  assert.equal(okJob.message, 'halfway');
  const trail = await backend.listJobEvents(ok.job_id);
  assert.deepEqual(trail.map((e) => [e.level, e.message, e.meta]), [
    ['warn', 'careful', { step: 1 }],
    ['info', 'job completed', null],
  ]);
  await waitFor(() => events.some((e) => e.type === 'log' && e.message === 'careful'));
  const logEvent = events.find((e) => e.type === 'log' && e.message === 'careful');
  assert.deepEqual(logEvent.meta, { job_id: ok.job_id, step: 1 });
  assert.ok(events.some((e) => e.type === 'job.progress' && e.job_id === ok.job_id && e.progress === 0.5));

  const failed = await waitForJob(backend, (await backend.createJob({ type: 'js.fail' })).job_id);
  assert.equal(failed.status, 'failed');
  assert.deepEqual(failed.error, { message: 'nope', code: 'E_MINE' });

  const weird = await waitForJob(backend, (await backend.createJob({ type: 'js.weird' })).job_id);
  assert.deepEqual(weird.error, { message: 'result is not JSON-serialisable' });

  const undef = await waitForJob(backend, (await backend.createJob({ type: 'js.undef' })).job_id);
  assert.equal(undef.status, 'succeeded');
  assert.equal(undef.result, null);
  off();
  await backend.close();
});

test('registerJobHandler rules', async () => {
  const { backend } = await open();
  assert.throws(() => backend.registerJobHandler('demo', () => {}), (e) => e.code === 'E_CONFLICT');
  assert.throws(() => backend.registerJobHandler('', () => {}), (e) => e.code === 'E_INVALID_INPUT');
  assert.throws(() => backend.registerJobHandler('x', 'nope'), (e) => e.code === 'E_INVALID_INPUT');
  assert.throws(() => backend.registerJobHandler('x', () => {}, { maxAttempts: 0 }), (e) => e.code === 'E_INVALID_INPUT');
  assert.throws(() => backend.subscribe('nope'), TypeError);
  // Jobs of a type nobody handles yet wait, and status() says so.
  await assert.rejects(backend.createJob({ type: 'later' }), (e) => e.code === 'E_INVALID_INPUT');
  backend.registerJobHandler('later', () => 'first');
  backend.registerJobHandler('later', () => 'second'); // replaces for jobs claimed afterwards
  const job = await waitForJob(backend, (await backend.createJob({ type: 'later' })).job_id);
  assert.equal(job.result, 'second');
  await backend.close();
});

test('cancel of a running JS handler aborts its signal and the state stays canceled', async () => {
  const { backend } = await open();
  let sawAbort = null;
  let canceledReason = null;
  let lateProgress = null;
  let release;
  const released = new Promise((r) => { release = r; });
  backend.registerJobHandler('js.slow', async (job, ctx) => {
    ctx.canceled.then((r) => { canceledReason = r; });
    await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
    sawAbort = ctx.signal.aborted;
    lateProgress = await ctx.progress(0.9).then(() => 'ok', (e) => e.code);
    await released;
    return 'finished anyway';
  });
  const { job_id } = await backend.createJob({ type: 'js.slow' });
  await waitFor(async () => (await backend.getJob(job_id)).status === 'running');
  assert.equal((await backend.status()).workers.active, 1);
  assert.deepEqual(await backend.cancelJob(job_id), { job_id, status: 'canceled' });
  await waitFor(() => lateProgress !== null);
  assert.equal(sawAbort, true);
  assert.equal(canceledReason, 'canceled');
  assert.equal(lateProgress, 'E_CANCELED');
  release();
  await waitFor(async () => (await backend.status()).workers.active === 0);
  const job = await backend.getJob(job_id);
  assert.equal(job.status, 'canceled');
  assert.equal(job.result, null);
  assert.equal(job.error, null);
  await backend.close();
});

test('retries with backoff when max_attempts > 1', async () => {
  const { backend } = await open();
  let calls = 0;
  backend.registerJobHandler('js.flaky', (job, ctx) => {
    calls += 1;
    if (ctx.attempt < 2) throw new Error(`boom ${ctx.attempt}`);
    return { attempt: ctx.attempt };
  });
  const { job_id } = await backend.createJob({ type: 'js.flaky', max_attempts: 3 });
  const job = await waitForJob(backend, job_id, 10000);
  assert.equal(job.status, 'succeeded');
  assert.deepEqual(job.result, { attempt: 2 });
  assert.equal(calls, 2);
  const trail = await backend.listJobEvents(job_id);
  assert.equal(trail[0].level, 'warn');
  assert.equal(trail[0].message, 'attempt 1 failed: boom 1');
  // Without an explicit max_attempts a failure is final.
  const once = await waitForJob(backend, (await backend.createJob({ type: 'js.flaky' })).job_id);
  assert.equal(once.status, 'failed');
  await backend.close();
});

test('priority and run_at order the queue', async () => {
  const { backend } = await open({ workers: 1 });
  const order = [];
  let gate;
  const opened = new Promise((r) => { gate = r; });
  backend.registerJobHandler('js.gate', () => opened);
  backend.registerJobHandler('js.rec', (job) => { order.push(job.payload.n); });
  const blocker = await backend.createJob({ type: 'js.gate' });
  await waitFor(async () => (await backend.getJob(blocker.job_id)).status === 'running');
  await backend.createJob({ type: 'js.rec', payload: { n: 'low' } });
  await backend.createJob({ type: 'js.rec', payload: { n: 'high' }, priority: 5 });
  await backend.createJob({ type: 'js.rec', payload: { n: 'later' }, priority: 9, run_at: new Date(Date.now() + 1500) });
  gate();
  await waitFor(() => order.length === 3, { timeout: 8000 });
  assert.deepEqual(order, ['high', 'low', 'later']);
  await backend.close();
});

test('a throwing listener does not affect other listeners', async () => {
  const { backend } = await open();
  const good = [];
  const offBad = backend.subscribe(() => { throw new Error('listener bug'); });
  const offGood = backend.subscribe((e) => good.push(e));
  const { job_id } = await backend.createJob({ type: 'demo' });
  await waitForJob(backend, job_id);
  await waitFor(() => good.some((e) => e.type === 'job.status' && e.status === 'succeeded'));
  offBad();
  offBad();
  offGood();
  await backend.close();
});

test('a listener that falls behind gets lagged with the number missed', async () => {
  const { backend } = await open({ eventBuffer: 32 });
  // Jobs that become due while the JS thread is stuck in a listener below.
  const dueAt = new Date(Date.now() + 1500);
  for (let i = 0; i < 60; i++) await backend.createJob({ type: 'demo', run_at: dueAt });
  let first = true;
  const seen = [];
  const off = backend.subscribe((e) => {
    seen.push(e);
    if (first) {
      first = false;
      const until = Date.now() + 3000; // a listener stuck on the JS thread
      while (Date.now() < until) { /* busy */ }
    }
  });
  await backend.createJob({ type: 'demo', run_at: '2999-01-01T00:00:00Z' }); // starts the stall
  await waitFor(() => seen.some((e) => e.type === 'lagged'), { timeout: 20000, what: 'lagged' });
  const lagged = seen.find((e) => e.type === 'lagged');
  assert.ok(lagged.missed > 0);
  assert.match(lagged.timestamp, /Z$/);
  // Delivery goes on after the gap.
  await waitFor(async () => (await backend.listJobs({ status: 'succeeded' })).length === 60, { timeout: 20000 });
  off();
  await backend.close();
});
