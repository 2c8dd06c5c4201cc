'use strict';
// Issue 12: what an adversarial run found. Each test reproduces one defect; where the defect
// could crash the host, the repro runs in a child process, so a crash fails the test instead of
// killing the runner.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { Backend, tempDir, open, waitFor, waitForJob } = require('./helpers');

const fixture = (name) => path.join(__dirname, 'fixtures', name);
const locOf = (e) => e.detail.map((d) => d.loc.join('.'));

test('whatever a JS handler throws or returns, its job ends and the host lives', () => {
  const run = spawnSync(process.execPath, [fixture('hostile-handlers.js'), tempDir()], { encoding: 'utf8', timeout: 60000 });
  assert.equal(run.signal, null, 'the child had to be killed');
  assert.equal(run.status, 0, run.stderr);
  const out = JSON.parse(run.stdout);
  const failed = (type) => {
    assert.equal(out[type].status, 'failed', `${type}: ${JSON.stringify(out[type])}`);
    assert.equal(typeof out[type].error.message, 'string', type);
    return out[type].error;
  };
  assert.match(failed('throw.null_proto').message, /cannot be converted to text/);
  assert.match(failed('throw.proxy').message, /cannot be converted to text/);
  assert.match(failed('throw.message_getter').message, /cannot be converted to text/);
  assert.deepEqual(failed('throw.code_getter'), { message: 'plain' });
  assert.deepEqual(failed('throw.symbol'), { message: 'Symbol(boom)' });
  assert.deepEqual(failed('throw.undefined'), { message: 'undefined' });
  assert.deepEqual(failed('throw.coded'), { message: 'coded', code: 'E_MINE' });
  assert.match(failed('reject.null_proto').message, /cannot be converted to text/);
  assert.deepEqual(failed('return.symbol'), { message: 'result is not JSON-serialisable' });
  assert.deepEqual(failed('return.function'), { message: 'result is not JSON-serialisable' });
  assert.deepEqual(failed('return.bad_then'), { message: 'then getter' });
  assert.ok(failed('return.proxy').message.length > 0);
  assert.deepEqual(failed('return.cyclic'), { message: 'result is not JSON-serialisable' });
  assert.deepEqual(failed('return.bigint'), { message: 'result is not JSON-serialisable' });
  assert.deepEqual(failed('return.deep'), { message: 'result is nested too deeply (limit 128)' });
  assert.deepEqual(out['return.undefined'], { status: 'succeeded', error: null, result: null });
  assert.deepEqual(out['return.thenable'], { status: 'succeeded', error: null, result: { via: 'thenable' } });
  assert.deepEqual(out['return.large'], { status: 'succeeded', error: null, result: `string of ${50 * 1024 * 1024}` });
  assert.deepEqual(out.plain, { status: 'succeeded', error: null, result: 'string of 4' });
});

test('a JS handler started while close() runs sees its signal abort; no job stays running', async () => {
  const dataDir = tempDir();
  let started = 0;
  for (let round = 0; round < 15; round += 1) {
    const backend = await Backend.open({ dataDir, scheduler: false, workers: 2 });
    const seen = [];
    backend.registerJobHandler('js.wait', (job, ctx) => {
      started += 1;
      seen.push(ctx.signal);
      return new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve('stopped')));
    }, { maxAttempts: 20 });
    if (round === 0) await backend.createJob({ type: 'js.wait' });
    // Give the workers a varying head start so close() meets them at different moments.
    await new Promise((r) => setTimeout(r, round % 4));
    await backend.close();
    for (const signal of seen) assert.equal(signal.aborted, true, `round ${round}: a handler's signal never aborted`);
  }
  const backend = await Backend.open({ dataDir, scheduler: false });
  const [job] = await backend.listJobs({ type: 'js.wait' });
  assert.equal(job.status, 'queued');
  assert.ok(started >= 1, 'the handler never ran: the test proved nothing');
  await backend.close();
});

test('bad Backend.open options are E_INVALID_INPUT naming the option', async () => {
  const dataDir = tempDir();
  const cyclic = {};
  cyclic.self = cyclic;
  let deep = {};
  for (let i = 0; i < 200; i += 1) deep = { deep };
  const getter = { dataDir };
  Object.defineProperty(getter, 'workers', { enumerable: true, get() { throw new Error('no'); } });
  const proxy = new Proxy({ dataDir }, { ownKeys() { throw new Error('trap'); } });
  const cases = [
    [{ dataDir, workers: 2n }, 'options.workers'],
    [{ dataDir, endpoints: cyclic }, 'options.endpoints'],
    [{ dataDir, endpoints: { toJSON() { throw new Error('toJSON'); } } }, 'options.endpoints'],
    [{ dataDir, endpoints: deep }, 'options.endpoints'],
    [getter, 'options.workers'],
    [proxy, 'options'],
    [{ dataDir: `${dataDir}/a\u0000b` }, 'options.dataDir'],
    [{ dataDir, workers: NaN }, 'options.workers'],
    [{ dataDir, scheduler: Symbol('x') }, 'options.scheduler'],
    [{ dataDir, claudePath: () => 'claude' }, 'options.claudePath'],
  ];
  for (const [options, loc] of cases) {
    await assert.rejects(Backend.open(options), (e) => {
      assert.equal(e.code, 'E_INVALID_INPUT', `${loc}: ${e.code} ${e.message}`);
      assert.equal(e.status, 422);
      assert.deepEqual(locOf(e), [loc], e.message);
      return true;
    });
  }
  assert.ok(!fs.existsSync(path.join(dataDir, 'index.db')), 'nothing was opened');
});

test('values JSON cannot carry are invalid input with the field\'s loc, never "absent"', async () => {
  const { backend } = await open();
  const rejects = async (promise, locs, type) => assert.rejects(promise, (e) => {
    assert.equal(e.code, 'E_INVALID_INPUT', e.message);
    assert.deepEqual(locOf(e).sort(), [...locs].sort(), e.message);
    if (type) assert.equal(e.detail[0].type, type);
    return true;
  });
  await rejects(backend.listJobs({ limit: NaN }), ['query.limit'], 'int_parsing');
  await rejects(backend.listJobs({ limit: Infinity }), ['query.limit'], 'int_parsing');
  await rejects(backend.createJob({ type: 'demo', max_attempts: Infinity, priority: NaN }), ['body.max_attempts', 'body.priority']);
  await rejects(backend.createJob({ type: Symbol('t') }), ['body.type'], 'string_type');
  await rejects(backend.createJob({ type: () => 'demo' }), ['body.type'], 'string_type');
  await rejects(backend.createJob({ type: 'demo', payload: { nested: [1, -Infinity] } }), ['body.payload.nested.1']);
  await rejects(backend.createJob({ type: 'demo', run_at: new Date(NaN) }), ['body.run_at']);
  await rejects(backend.getJob(NaN), ['path.job_id'], 'string_type');
  await rejects(backend.updateSettings({ claude_max_concurrent: NaN }), ['body.claude_max_concurrent']);
  let deep = [];
  for (let i = 0; i < 200; i += 1) deep = [deep];
  await assert.rejects(backend.createJob({ type: 'demo', payload: deep }), (e) => e.code === 'E_INVALID_INPUT' && /nested too deeply \(limit 128\)/.test(e.message));
  // Nothing was created by any of these.
  assert.deepEqual(await backend.listJobs(), []);
  // The label of the bad value is the 422 item's input.
  await assert.rejects(backend.listJobs({ limit: NaN }), (e) => e.detail[0].input === 'NaN');
  // ctx.progress(NaN) and a Symbol in ctx.log meta reject too.
  const seen = {};
  backend.registerJobHandler('js.bad_ctx', async (job, ctx) => {
    seen.progress = await ctx.progress(NaN).then(() => 'ok', (e) => e.code);
    seen.log = await ctx.log('info', 'm', { s: Symbol('s') }).then(() => 'ok', (e) => locOf(e));
    return 1;
  });
  const { job_id } = await backend.createJob({ type: 'js.bad_ctx' });
  assert.equal((await waitForJob(backend, job_id)).status, 'succeeded');
  assert.deepEqual(seen, { progress: 'E_INVALID_INPUT', log: [['meta', 's'].join('.')] });
  await backend.close();
});

test('ctx.progress and ctx.log: the first bad argument fails the call alone, its loc its name', async () => {
  const { backend } = await open();
  const STR = 'Input should be a valid string';
  const PROGRESS = 'Value error, progress must be a finite number from 0 to 1';
  const LEVEL = "Input should be 'info', 'warn' or 'error'";
  const seen = {};
  const detail = (promise) => promise.then(() => 'ok', (e) => [e.code, e.detail]);
  backend.registerJobHandler('js.ctx_items', async (job, ctx) => {
    seen.range = await detail(ctx.progress(2, 5));
    seen.missing = await detail(ctx.progress());
    seen.message = await detail(ctx.progress(0.5, 5));
    seen.level = await detail(ctx.log('loud', 5, 7));
    seen.logMessage = await detail(ctx.log('info', undefined, 7));
    seen.meta = await detail(ctx.log('info', 'm', 7));
    seen.metaNaN = await detail(ctx.log('warn', 'm', { a: { b: NaN } }));
    seen.fine = [await detail(ctx.progress(1)), await detail(ctx.log('info', 'm')), await detail(ctx.log('error', 'm', { k: 1 }))];
    return 1;
  });
  const { job_id } = await backend.createJob({ type: 'js.ctx_items' });
  assert.equal((await waitForJob(backend, job_id)).status, 'succeeded');
  const bad = (items) => ['E_INVALID_INPUT', items];
  assert.deepEqual(seen, {
    range: bad([{ type: 'value_error', loc: ['progress'], msg: PROGRESS, input: 2 }]),
    missing: bad([{ type: 'value_error', loc: ['progress'], msg: PROGRESS, input: null }]),
    message: bad([{ type: 'string_type', loc: ['message'], msg: STR, input: 5 }]),
    level: bad([{ type: 'enum', loc: ['level'], msg: LEVEL, input: 'loud', ctx: { expected: "'info', 'warn' or 'error'" } }]),
    logMessage: bad([{ type: 'string_type', loc: ['message'], msg: STR, input: null }]),
    meta: bad([{ type: 'dict_type', loc: ['meta'], msg: 'Input should be a valid dictionary', input: 7 }]),
    metaNaN: bad([{ type: 'value_error', loc: ['meta', 'a', 'b'], msg: 'Value error, NaN cannot be represented in JSON', input: 'NaN' }]),
    fine: ['ok', 'ok', 'ok'],
  });
  await backend.close();
});

test('open/close cycles leak nothing: objects are collected, RSS, fds and threads stay flat', () => {
  for (const [warmup, cycles, mode] of [[400, 1000, 'plain'], [200, 400, 'http']]) {
    const run = spawnSync(process.execPath, ['--expose-gc', fixture('open-close-cycles.js'), tempDir(), String(warmup), String(cycles), mode], { encoding: 'utf8', timeout: 120000 });
    assert.equal(run.status, 0, run.stderr);
    const { before, after } = JSON.parse(run.stdout);
    const grownMb = (after.rss - before.rss) / 1e6;
    // Before the fix every cycle kept its closed backend alive: ≈ 45 KB each, 45 MB here.
    // Measured since: 2.4–5.1 MB (the allocator settling, not growing with the cycles; the
    // issue's target is < 5 MB, bench figures in docs/reliability.md). The bound leaves room
    // for that noise and still fails on a leak of a few KB per cycle.
    assert.ok(grownMb < 8, `${mode}: RSS grew by ${grownMb.toFixed(1)} MB over ${cycles} cycles`);
    assert.equal(after.fds, before.fds, `${mode}: file descriptors`);
    // tokio's blocking pool may keep one idle thread a little longer.
    assert.ok(after.threads <= before.threads + 1, `${mode}: threads ${before.threads} -> ${after.threads}`);
  }
});

test('a closed backend object is garbage-collected', () => {
  const script = `
    const { Backend } = require(${JSON.stringify(path.join(__dirname, '..'))});
    (async () => {
      let collected = 0;
      const registry = new FinalizationRegistry(() => { collected += 1; });
      for (let i = 0; i < 20; i += 1) {
        const b = await Backend.open({ dataDir: ${JSON.stringify(tempDir())}, scheduler: false });
        registry.register(b, i);
        b.subscribe(() => {});
        b.registerJobHandler('t', () => 1);
        await b.health();
        await b.close();
      }
      for (let i = 0; i < 5; i += 1) { global.gc(); await new Promise((r) => setTimeout(r, 50)); }
      process.stdout.write(String(collected));
    })();`;
  const run = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', timeout: 60000 });
  assert.equal(run.status, 0, run.stderr);
  assert.ok(Number(run.stdout) >= 19, `only ${run.stdout} of 20 closed backends were collected`);
});

test('a deleted lock file does not let a second backend in: E_CONFLICT', async () => {
  const { backend, dataDir } = await open();
  fs.unlinkSync(path.join(dataDir, '.enttok-backend.lock'));
  await assert.rejects(Backend.open({ dataDir, scheduler: false }), (e) => e.code === 'E_CONFLICT');
  // Another process, too (there SQLite's exclusive mode answers "database is locked").
  const script = `require(${JSON.stringify(path.join(__dirname, '..'))}).Backend.open({ dataDir: ${JSON.stringify(dataDir)}, scheduler: false })
    .then((b) => b.close().then(() => console.log('opened')), (e) => console.log(e.code))`;
  const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30000 });
  assert.equal(run.stdout.trim(), 'E_CONFLICT', run.stderr);
  assert.equal((await backend.health()).status, 'ok');
  await backend.close();
  const again = await Backend.open({ dataDir, scheduler: false });
  await again.close();
});
