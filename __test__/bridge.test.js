'use strict';
// The Electron bridge (CONTRACT.md §20) over a fake Electron that structured-clones everything
// crossing between main, preload and page (./electron-fake.js).
const test = require('node:test');
const assert = require('node:assert/strict');
const { Backend, open, waitFor, waitForJob } = require('./helpers');
const { fakeElectron } = require('./electron-fake');
const { exposeBackend, bridgeMethods, MAIN_ONLY_METHODS } = require('../electron.js');
const { exposeBackendTransport, createBackendClient } = require('../renderer.js');

const unhandled = [];
process.on('unhandledRejection', (e) => unhandled.push(e));

/** main: exposeBackend; preload: exposeBackendTransport; page: createBackendClient. */
function wire(backend, options = {}) {
  const electron = fakeElectron();
  const win = electron.makeWindow();
  const unexpose = exposeBackend(backend, { ipcMain: electron.ipcMain, windows: () => [win], ...options });
  exposeBackendTransport({ contextBridge: electron.contextBridge, ipcRenderer: electron.ipcRenderer });
  const transport = electron.world.enttokBackend;
  const client = createBackendClient(transport);
  return { electron, win, unexpose, transport, client };
}

test('bridge: main and renderer agree on the main-only methods (and electron.d.ts names them)', () => {
  const renderer = require('../renderer.js');
  assert.deepEqual([...renderer.MAIN_ONLY_METHODS], [...MAIN_ONLY_METHODS]);
  const dts = require('node:fs').readFileSync(require('node:path').join(__dirname, '..', 'electron.d.ts'), 'utf8');
  const typed = dts.slice(dts.indexOf('export type MainOnlyMethod'), dts.indexOf('/** Names of the'));
  assert.deepEqual([...typed.matchAll(/'([A-Za-z]+)'/g)].map((m) => m[1]), [...MAIN_ONLY_METHODS]);
});

test('bridge: methods come from the Backend class, main-only ones are left out', async () => {
  const { backend } = await open();
  const names = bridgeMethods(backend);
  const declared = Object.getOwnPropertyNames(Backend.prototype)
    .filter((n) => n !== 'constructor' && typeof Backend.prototype[n] === 'function');
  for (const n of declared) {
    assert.equal(names.includes(n), !MAIN_ONLY_METHODS.includes(n), n);
  }
  for (const n of ['getJob', 'createJob', 'listCalendarEvents', 'health']) assert.ok(names.includes(n), n);
  for (const n of ['close', 'startHttp', 'stopHttp', 'subscribe', 'registerJobHandler']) assert.ok(!names.includes(n), n);
  // A method added to the class later is bridged without touching the bridge.
  class Later extends Backend {
    newCapability() { return 1; }
    _internal() { return 2; }
    get accessor() { return 3; }
  }
  const later = bridgeMethods(Object.create(Later.prototype));
  assert.ok(later.includes('newCapability'));
  assert.ok(!later.includes('_internal'));
  assert.ok(!later.includes('accessor'));
  assert.ok(later.includes('getJob'));

  const { client, transport, unexpose } = wire(backend);
  assert.deepEqual([...transport.methods].sort(), names);
  for (const n of names) {
    assert.ok(Object.prototype.hasOwnProperty.call(client, n), `client.${n} is an own property`);
    assert.equal(typeof client[n], 'function');
  }
  assert.equal(client.close, undefined);
  assert.equal(client.startHttp, undefined);
  assert.equal(typeof client.subscribe, 'function');
  unexpose();
  await backend.close();
});

test('bridge: a job runs from the page, its events arrive, results and Dates cross intact', async () => {
  const { backend } = await open();
  const { client, unexpose } = wire(backend);
  const seen = [];
  const off = client.subscribe((e) => seen.push(e));
  const health = await client.health();
  assert.equal(health.status, 'ok');
  const { job_id } = await client.createJob({ type: 'demo', payload: { simulate_ms: 50 } });
  const job = await waitFor(async () => {
    const j = await client.getJob(job_id);
    return j.status === 'succeeded' ? j : null;
  });
  assert.deepEqual(job, await backend.getJob(job_id));
  await waitFor(() => seen.some((e) => e.type === 'job.status' && e.job_id === job_id && e.status === 'succeeded'));
  const types = seen.filter((e) => e.job_id === job_id).map((e) => `${e.type}${e.status ? ` ${e.status}` : ''}`);
  assert.equal(types[0], 'job.created queued');
  assert.equal(types[1], 'job.status running');
  assert.ok(types.includes('job.progress'));
  assert.equal(types[types.length - 1], 'job.status succeeded');
  // `Date` arguments survive structured clone and are encoded by the main side.
  const events = await client.listCalendarEvents({ start: new Date('2026-01-01T00:00:00Z'), end: new Date('2026-02-01T00:00:00Z') });
  assert.deepEqual(events, []);
  off();
  const before = seen.length;
  await client.createJob({ type: 'demo', payload: { simulate_ms: 1 } });
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(seen.length, before, 'no events after unsubscribe');
  unexpose();
  await backend.close();
});

test('bridge: errors keep code, status and detail across the bridge', async () => {
  const { backend } = await open();
  const { client, unexpose } = wire(backend);
  await assert.rejects(client.getJob('job_0123456789abcdef0123456789abcdef'), (e) => {
    assert.ok(e instanceof Error);
    assert.equal(e.code, 'E_NOT_FOUND');
    assert.equal(e.status, 404);
    assert.equal(typeof e.detail, 'string');
    assert.equal(e.message.length > 0, true);
    return true;
  });
  let direct;
  try {
    await backend.createJob({ type: 'no.such.type' });
  } catch (e) {
    direct = e;
  }
  await assert.rejects(client.createJob({ type: 'no.such.type' }), (e) => {
    assert.equal(e.code, 'E_INVALID_INPUT');
    assert.equal(e.status, 422);
    assert.ok(Array.isArray(e.detail));
    assert.deepEqual(e.detail, direct.detail);
    assert.equal(e.message, direct.message);
    return true;
  });
  // An argument that cannot be cloned fails in the page's transport, still as a BackendError.
  await assert.rejects(client.createJob({ type: 'demo', payload: { f: () => 1 } }), (e) => {
    assert.equal(e.code, 'E_INTERNAL');
    return true;
  });
  unexpose();
  await backend.close();
});

test('bridge: names that are not public data methods are refused with an envelope', async () => {
  const { backend } = await open();
  const { transport, client, unexpose } = wire(backend);
  const refused = [
    'close', 'startHttp', 'stopHttp', 'mcpConfig', 'registerJobHandler', 'registerEmbedder', 'subscribe',
    'constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', '_private', '#native', '#call',
    'open', 'noSuchMethod', '', 42, null,
  ];
  for (const name of refused) {
    const envelope = await transport.invoke(name, []);
    assert.equal(envelope.ok, false, String(name));
    assert.equal(envelope.error.code, 'E_INVALID_INPUT');
    assert.equal(envelope.error.status, 422);
    assert.match(envelope.error.message, /^method not available over the bridge: /);
  }
  const envelope = await transport.invoke('getJob', 'not an array');
  assert.equal(envelope.ok, false);
  assert.equal(envelope.error.code, 'E_INVALID_INPUT');
  // `close` was refused: the backend still answers.
  assert.equal((await client.health()).status, 'ok');
  // A hand-built transport without a method list: names are created on demand, refused by main.
  const bare = createBackendClient({ invoke: transport.invoke, on: transport.on });
  assert.equal((await bare.health()).status, 'ok');
  assert.equal(bare.then, undefined, 'the client is not a thenable');
  assert.equal(bare.close, undefined);
  await assert.rejects(bare.constructor2(), (e) => e.code === 'E_INVALID_INPUT');
  unexpose();
  await backend.close();
});

test('bridge: odd results and throws of a method are answered as envelopes, never unhandled', async () => {
  const start = unhandled.length;
  class Odd {
    subscribe() { return () => {}; }
    returnsFunction() { return () => 1; }
    returnsSymbol() { return Symbol('x'); }
    returnsUndefined() { return undefined; }
    returnsInstance() { return new (class Thing { constructor() { this.a = 1; } })(); }
    returnsMap() { return new Map([[1, 2]]); }
    returnsBigInt() { return 10n; }
    returnsNested() { return { a: [1, { b: () => 2 }] }; }
    throwsNumber() { throw 42; }
    throwsNull() { throw null; }
    rejectsPlainObject() { return Promise.reject({ code: 'E_CONFLICT', status: 409, detail: 'busy' }); }
    throwsWithOddDetail() {
      const e = new Error('odd');
      e.code = 'E_UPSTREAM';
      e.status = 502;
      e.detail = { f() {} };
      throw e;
    }
    throwsWithThrowingGetter() {
      const e = new Error('getter');
      Object.defineProperty(e, 'code', { get() { throw new Error('boom'); } });
      throw e;
    }
    syncThrow() { throw new TypeError('sync'); }
  }
  const backend = new Odd();
  const { client, unexpose } = wire(backend);
  assert.equal(await client.returnsUndefined(), undefined);
  assert.equal(await client.returnsBigInt(), 10n);
  assert.deepEqual(await client.returnsMap(), new Map([[1, 2]]));
  for (const m of ['returnsFunction', 'returnsSymbol', 'returnsNested']) {
    await assert.rejects(client[m](), (e) => e.code === 'E_INTERNAL' && /cannot cross the bridge/.test(e.message), m);
  }
  assert.deepEqual(await client.returnsInstance(), { a: 1 });
  await assert.rejects(client.throwsNumber(), (e) => e.code === 'E_INTERNAL' && e.status === 500 && e.message === '42');
  await assert.rejects(client.throwsNull(), (e) => e.code === 'E_INTERNAL' && e.message === 'null');
  await assert.rejects(client.rejectsPlainObject(), (e) => e.code === 'E_CONFLICT' && e.status === 409 && e.detail === 'busy');
  await assert.rejects(client.throwsWithOddDetail(), (e) => e.code === 'E_UPSTREAM' && e.status === 502 && typeof e.detail === 'string');
  await assert.rejects(client.throwsWithThrowingGetter(), (e) => e.code === 'E_INTERNAL');
  await assert.rejects(client.syncThrow(), (e) => e.code === 'E_INTERNAL' && e.message === 'sync');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(unhandled.length, start, 'no unhandled rejection');
  unexpose();
});

test('bridge: an event flood reaches the page in order; the filter and dead windows are honoured', async () => {
  // A fake backend whose events we control exactly.
  const listeners = new Set();
  class Emitter {
    subscribe(fn) { listeners.add(fn); return () => listeners.delete(fn); }
    health() { return Promise.resolve({ status: 'ok' }); }
  }
  const electron = fakeElectron();
  const alive = electron.makeWindow();
  const dead = electron.makeWindow();
  dead.destroyed = true;
  const throwing = { webContents: { send() { throw new Error('window went away'); } } };
  const unexpose = exposeBackend(new Emitter(), { ipcMain: electron.ipcMain, windows: () => [throwing, dead, alive] });
  exposeBackendTransport({ contextBridge: electron.contextBridge, ipcRenderer: electron.ipcRenderer });
  const client = createBackendClient(electron.world.enttokBackend);
  const got = [];
  const off = client.subscribe((e) => got.push(e));
  const N = 20000;
  for (let i = 0; i < N; i += 1) {
    const e = i % 10 === 0
      ? { type: 'claude.output', job_id: 'j', stream: 'stdout', line: String(i) }
      : { type: 'log', level: 'info', message: String(i), timestamp: 't', meta: null };
    for (const fn of listeners) fn(e);
  }
  const expected = N - N / 10;
  await waitFor(() => got.length >= expected, { what: 'the flood' });
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(got.length, expected);
  assert.ok(got.every((e) => e.type === 'log'), 'claude.output is filtered out by default');
  const nums = got.map((e) => Number(e.message));
  assert.ok(nums.every((n, i) => i === 0 || n > nums[i - 1]), 'in order');
  off();
  unexpose();
  assert.equal(listeners.size, 0, 'unexpose unsubscribes');
  assert.equal(electron.ipcMain.handlerCount(), 0);
  // After unexpose the page's calls fail as BackendErrors, not as raw IPC failures.
  await assert.rejects(client.health(), (e) => e.code === 'E_INTERNAL' && /No handler registered/.test(e.message));

  // A custom filter (and one that throws) decides what windows get.
  const electron2 = fakeElectron();
  const win2 = electron2.makeWindow();
  const un2 = exposeBackend(new Emitter(), {
    ipcMain: electron2.ipcMain,
    windows: [win2],
    events: (e) => {
      if (e.message === 'bad') throw new Error('filter bug');
      return e.type === 'claude.output' || e.message === 'keep';
    },
  });
  exposeBackendTransport({ contextBridge: electron2.contextBridge, ipcRenderer: electron2.ipcRenderer });
  const got2 = [];
  createBackendClient(electron2.world.enttokBackend).subscribe((e) => got2.push(e));
  for (const e of [{ type: 'log', message: 'drop' }, { type: 'log', message: 'bad' }, { type: 'log', message: 'keep' }, { type: 'claude.output', line: 'x' }]) {
    for (const fn of listeners) fn(e);
  }
  await waitFor(() => got2.length >= 2);
  assert.deepEqual(got2, [{ type: 'log', message: 'keep' }, { type: 'claude.output', line: 'x' }]);
  un2();
});

test('bridge: a real flood of job logs reaches the page complete and in order', async () => {
  const { backend } = await open();
  const { client, unexpose } = wire(backend);
  const N = 3000;
  backend.registerJobHandler('bridge.flood', async (job, ctx) => {
    for (let i = 0; i < N; i += 1) ctx.log('info', `flood ${i}`);
    await ctx.log('info', 'flood done');
    return { ok: true };
  });
  const got = [];
  client.subscribe((e) => {
    if (e.type === 'log' && e.message.startsWith('flood ')) got.push(e.message);
  });
  const { job_id } = await client.createJob({ type: 'bridge.flood' });
  const job = await waitForJob(backend, job_id, 30000);
  assert.equal(job.status, 'succeeded');
  await waitFor(() => got.includes('flood done'), { timeout: 15000, what: 'the last log' });
  assert.equal(got.length, N + 1);
  for (let i = 0; i < N; i += 1) assert.equal(got[i], `flood ${i}`);
  unexpose();
  await backend.close();
});

test('bridge: exposeBackend checks its options; unexpose is idempotent', async () => {
  const { backend } = await open();
  assert.throws(() => exposeBackend(backend, {}), /ipcMain is required/);
  assert.throws(() => exposeBackend(backend), /ipcMain is required/);
  const electron = fakeElectron();
  assert.throws(() => exposeBackend(backend, { ipcMain: electron.ipcMain, events: 'x' }), TypeError);
  const un = exposeBackend(backend, { ipcMain: electron.ipcMain });
  assert.equal(electron.ipcMain.listenerCount('enttok-backend:methods'), 1);
  un();
  un();
  assert.equal(electron.ipcMain.handlerCount(), 0);
  assert.equal(electron.ipcMain.listenerCount('enttok-backend:methods'), 0);
  // Another channel, twice on one ipcMain.
  const a = exposeBackend(backend, { ipcMain: electron.ipcMain, channel: 'a' });
  const b = exposeBackend(backend, { ipcMain: electron.ipcMain, channel: 'b' });
  assert.equal(electron.ipcMain.handlerCount(), 2);
  a();
  b();
  await backend.close();
});
