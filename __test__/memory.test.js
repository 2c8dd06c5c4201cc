'use strict';
// Memory from JS (CONTRACT.md §15): the methods' shapes equal the HTTP answers, bad input
// rejects with the contract's errors, and `registerEmbedder` survives whatever a host's
// `embed` throws or returns.
const test = require('node:test');
const assert = require('node:assert/strict');
const { open, waitFor, waitForJob } = require('./helpers');

const recent = () => new Date(Date.now() - 60_000).toISOString();

async function seed(backend) {
  const ids = [];
  for (const [title, narrative] of [
    ['주간 회의', '회의록을 정리했다'],
    ['budget review', 'quarterly budget review meeting'],
    ['cluster', 'kubernetes cluster budget upgrade'],
  ]) {
    const out = await backend.createObservation({ title, narrative, type: 'note', source: 'manual', event_time: recent() });
    assert.equal(out.created, true);
    assert.match(out.observation_id, /^obs_[0-9a-f]{32}$/);
    ids.push(out.observation_id);
  }
  return ids;
}

test('memory methods answer the HTTP shapes', async () => {
  const { backend } = await open();
  try {
    const [korean, budget] = await seed(backend);
    const { port, token } = await backend.startHttp();
    const http = async (method, path, body) => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, {
        method, headers: { 'X-Backend-Token': token, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, json: await res.json() };
    };
    const one = await backend.getObservation(korean);
    assert.deepEqual(Object.keys(one), ['title', 'narrative', 'type', 'source', 'event_time', 'observation_id', 'facts',
      'concepts', 'source_event_id', 'project_path', 'event_ts', 'created_at', 'updated_at', 'chroma_synced']);
    assert.deepEqual((await http('GET', `/memory/observations/${korean}`)).json, one);
    assert.deepEqual(await backend.getObservations([budget, korean, 'obs_x']), (await http('POST', '/memory/observations/batch', { ids: [budget, korean, 'obs_x'] })).json);
    assert.deepEqual(await backend.listObservations(), (await http('GET', '/memory/observations')).json);
    const search = await backend.searchMemory({ query: '회의', limit: 100 });
    assert.equal(search.results[0].observation_id, korean);
    assert.deepEqual(search, (await http('POST', '/memory/search', { query: '회의', limit: 100 })).json);
    assert.deepEqual(await backend.memoryStats(), (await http('GET', '/memory/stats')).json);
    assert.deepEqual(await backend.memoryTimeline({ anchor_id: korean }), (await http('POST', '/memory/timeline', { anchor_id: korean })).json);
    for (const q of ['?', '"', 'AND', 'PR #12', '🎉', '', 'x'.repeat(10_000)]) {
      await backend.searchMemory({ query: q });
    }
    const gh = await backend.syncGithubMemory({ prs: { authored: [{ number: 1, title: 'T', repository: 'o/r', updatedAt: recent() }] }, commits: [] });
    assert.deepEqual(gh, { success: true, processed: { prs_authored: 1, prs_reviewed: 0, commits: 0 }, total: 1 });
    assert.deepEqual(await backend.syncClaudeSessionsMemory({ sessions: [{ id: 's', summary: 'x' }] }), { success: true, processed: 1 });
    const p = await backend.processMemory({ window_minutes: 30 });
    assert.equal(p.message, 'Processing events from last 30 minutes');
    assert.equal((await waitForJob(backend, p.job_id)).status, 'succeeded');
    assert.equal((await backend.syncMemoryVectors()).message, 'ChromaDB sync started');
    assert.deepEqual(await backend.deleteObservation(budget), { deleted: true, observation_id: budget });
    const cfg = await backend.mcpConfig();
    assert.deepEqual(cfg, { mcpServers: { 'enttok-memory': { type: 'http', url: `http://127.0.0.1:${port}/mcp`, headers: { 'X-Backend-Token': token } } } });
    await backend.stopHttp();
    await assert.rejects(backend.mcpConfig(), (e) => e.code === 'E_CONFLICT');
  } finally {
    await backend.close();
  }
});

test('bad memory input rejects with the contract errors', async () => {
  const { backend } = await open();
  try {
    const bad = (p, type, loc) => assert.rejects(p, (e) => {
      assert.equal(e.code, 'E_INVALID_INPUT');
      assert.equal(e.detail[0].type, type);
      if (loc) assert.deepEqual(e.detail[0].loc, loc);
      return true;
    });
    await bad(backend.getObservations([]), 'too_short', ['body', 'ids']);
    await bad(backend.getObservations('nope'), 'list_type', ['body', 'ids']);
    await bad(backend.searchMemory({ query: 'x', limit: 0 }), 'greater_than_equal', ['body', 'limit']);
    await bad(backend.searchMemory({ query: 'x', search_mode: 'semantic' }), 'enum', ['body', 'search_mode']);
    await bad(backend.searchMemory({ query: 5 }), 'string_type', ['body', 'query']);
    await bad(backend.searchMemory({ query: 'x'.repeat(100_001) }), 'string_too_long', ['body', 'query']);
    await bad(backend.searchMemory({ query: NaN }), 'string_type', ['body', 'query']);
    await bad(backend.processMemory({ window_minutes: -1 }), 'greater_than_equal', ['query', 'window_minutes']);
    await bad(backend.syncGithubMemory([]), 'dict_type', ['body']);
    await bad(backend.syncClaudeSessionsMemory({ sessions: 'x' }), 'list_type', ['body', 'sessions']);
    await bad(backend.memoryTimeline({ depth_after: -1 }), 'greater_than_equal', ['body', 'depth_after']);
    await bad(backend.createObservation({ title: 't' }), 'missing', ['body', 'narrative']);
    await assert.rejects(backend.createObservation({ title: 't', narrative: 'n', type: 't', source: 's', event_time: 'garbage' }),
      (e) => e.code === 'E_INVALID_INPUT' && e.status === 400 && e.detail === "Invalid isoformat string: 'garbage'");
    await assert.rejects(backend.getObservation('obs_nope'), (e) => e.code === 'E_NOT_FOUND' && e.detail === 'Observation not found');
    await assert.rejects(backend.deleteObservation(5), (e) => e.code === 'E_INVALID_INPUT');
  } finally {
    await backend.close();
  }
});

/** A deterministic embedder: hashed bag of words. */
function bag(text, dim) {
  const v = new Array(dim).fill(0);
  for (const w of text.toLowerCase().split(/\s+/).filter(Boolean)) {
    let h = 5381;
    for (const c of Buffer.from(w)) h = ((Math.imul(h, 33) ^ c) >>> 0);
    v[h % dim] += 1;
  }
  return v;
}

test('registerEmbedder: vectors feed hybrid search; a bad embedder fails its batch clearly', async () => {
  const { backend } = await open();
  const unhandled = [];
  const onUnhandled = (e) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    const [, budget, cluster] = await seed(backend);
    assert.throws(() => backend.registerEmbedder({ model: '', dimensions: 8, embed() {} }), (e) => e.code === 'E_INVALID_INPUT');
    assert.throws(() => backend.registerEmbedder({ model: 'm', dimensions: 0, embed() {} }), (e) => e.code === 'E_INVALID_INPUT');
    assert.throws(() => backend.registerEmbedder({ get model() { throw new Error('getter'); } }), (e) => e.code === 'E_INVALID_INPUT');
    assert.throws(() => backend.registerEmbedder(null), (e) => e.code === 'E_INVALID_INPUT');

    const dim = 32;
    const revoked = Proxy.revocable([], {});
    revoked.revoke();
    const evil = [
      ['throws', () => { throw new Error('boom'); }, /the embedder failed: boom/],
      ['rejects', async () => { throw Object.create(null); }, /the embedder failed/],
      ['wrong count', (texts) => texts.slice(1).map((t) => bag(t, dim)), /expected 3 vectors, got 2/],
      ['wrong dimension', (texts) => texts.map((t) => bag(t, dim + 1)), /33 dimensions, expected 32/],
      ['NaN', (texts) => texts.map(() => new Array(dim).fill(NaN)), /non-finite/],
      ['not an array', () => 'nope', /expected an array/],
      ['null prototype', () => Object.create(null), /expected an array/],
      ['revoked proxy', () => revoked.proxy, /the embedder failed/],
      ['throwing getter', (texts) => texts.map(() => { const o = {}; Object.defineProperty(o, 'length', { get() { throw new Error('len'); } }); return o; }), /not an array/],
      ['throwing then', () => ({ then() { throw new Error('then'); } }), /the embedder failed: then/],
    ];
    for (const [what, embed, message] of evil) {
      const off = backend.registerEmbedder({ model: 'bag', dimensions: dim, embed, batchSize: 8 });
      const { job_id } = await backend.syncMemoryVectors();
      const job = await waitForJob(backend, job_id);
      assert.equal(job.status, 'failed', what);
      assert.match(job.error.message, message, what);
      assert.equal((await backend.memoryStats()).chroma_synced, 0, `${what}: nothing stored`);
      // Search still answers (keyword part only).
      const r = await backend.searchMemory({ query: 'budget' });
      assert.ok(r.total >= 1, what);
      off();
    }
    let calls = 0;
    const off = backend.registerEmbedder({
      model: 'bag', dimensions: dim, batchSize: 2,
      embed: async (texts) => { calls += 1; return texts.map((t, i) => (i % 2 ? bag(t, dim) : Float32Array.from(bag(t, dim)))); },
    });
    const { job_id } = await backend.syncMemoryVectors();
    const job = await waitForJob(backend, job_id);
    assert.equal(job.status, 'succeeded');
    assert.deepEqual(job.result, { synced: 3 });
    const stats = await backend.memoryStats();
    assert.equal(stats.chroma_available, true);
    assert.equal(stats.chroma_synced, 3);
    assert.equal(stats.pending_sync, 0);
    const v = await backend.searchMemory({ query: 'quarterly budget review meeting', search_mode: 'vector' });
    assert.equal(v.results[0].observation_id, budget);
    const h = await backend.searchMemory({ query: 'cluster budget' });
    assert.equal(h.results[0].observation_id, cluster);
    assert.ok(Math.abs(h.results[0].score - 2 / 61) < 1e-12, 'first in both lists');
    assert.ok(calls >= 3);
    // New observations are embedded by themselves (debounced).
    await backend.createObservation({ title: 'late', narrative: 'arrives later', type: 'note', source: 'manual', event_time: recent() });
    await waitFor(async () => (await backend.memoryStats()).pending_sync === 0, { timeout: 8000, what: 'automatic embedding' });
    off();
    off();
    assert.equal((await backend.memoryStats()).chroma_available, false);
    assert.equal(unhandled.length, 0, String(unhandled[0]));
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await backend.close();
  }
});

test('a search waits for the embedder off the JS thread and close does not hang on it', async () => {
  const { backend } = await open();
  await seed(backend);
  backend.registerEmbedder({ model: 'never', dimensions: 4, embed: () => new Promise(() => {}) });
  const { job_id } = await backend.syncMemoryVectors();
  await waitFor(async () => (await backend.getJob(job_id)).status === 'running', { what: 'running' });
  const started = Date.now();
  await backend.close();
  assert.ok(Date.now() - started < 8000, 'close honours the abort signal');
});

test('kill -9 in the middle of syncs leaves nothing half-written', async () => {
  const { spawn } = require('node:child_process');
  const path = require('node:path');
  const { tempDir, Backend } = require('./helpers');
  const dataDir = tempDir();
  const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'memory-crash-child.js'), dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  await waitFor(() => out.includes('synced'), { timeout: 20000, what: 'the child to sync' });
  await new Promise((r) => setTimeout(r, 150));
  child.kill('SIGKILL');
  await new Promise((r) => child.on('exit', r));
  const backend = await Backend.open({ dataDir, scheduler: false });
  try {
    const { total_observations: total } = await backend.memoryStats();
    assert.ok(total >= 1000, `at least the first sync: ${total}`);
    assert.equal(total % 500, 0, 'whole transactions only: nothing half-written');
    // Every observation is findable (its FTS row committed with it), and has its ledger row:
    // syncing everything again creates nothing.
    const found = await backend.searchMemory({ query: '회의록', search_mode: 'fts', limit: 100, days_back: 365 });
    assert.equal(found.total, 100);
    let again = 0;
    let sent = 0;
    for (let start = 0; start < total + 1000; start += 1000) {
      sent += 1000;
      const commits = Array.from({ length: 1000 }, (_, i) => {
        const k = start + i + 1;
        return { sha: k.toString(16).padStart(7, '0'), message: `commit ${k} 회의록 fix`, repository: 'o/r', createdAt: '2026-01-01T00:00:00Z' };
      });
      again += (await backend.syncGithubMemory({ commits })).total;
    }
    assert.equal((await backend.memoryStats()).total_observations, total + again);
    assert.equal(again, sent - total, 'exactly the items never committed were created');
  } finally {
    await backend.close();
  }
});
