'use strict';
// The loopback HTTP + WebSocket adapter as a JS host starts it (CONTRACT.md §1.1, §3, §5), with a
// real HTTP client (fetch, node:http) and a real WebSocket client (`ws`).
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const WebSocket = require('ws');
const { open, waitFor, waitForJob } = require('./helpers');

/** A raw request with any headers (fetch forbids setting Host); resolves `{status, headers, body}`. */
function request(port, { method = 'GET', path = '/', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { data += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Resolves true when a TCP connection to the port is refused. */
function refused(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.once('connect', () => { sock.destroy(); resolve(false); });
    sock.once('error', (e) => resolve(e.code === 'ECONNREFUSED'));
  });
}

/** Opens a WebSocket and collects its frames (parsed); resolves once open, or rejects. */
function connect(url, options) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    const frames = [];
    const state = { ws, frames, closed: null };
    ws.on('message', (data, isBinary) => frames.push(isBinary ? { binary: true } : JSON.parse(String(data))));
    ws.on('close', (code, reason) => { state.closed = { code, reason: String(reason) }; });
    ws.once('open', () => resolve(state));
    ws.once('unexpected-response', (req, res) => {
      reject(Object.assign(new Error(`unexpected response ${res.statusCode}`), { status: res.statusCode }));
      req.destroy();
    });
    ws.once('error', (e) => reject(e));
  });
}

test('startHttp: port, token, url; token, Host and Origin checks', async () => {
  const { backend } = await open();
  const info = await backend.startHttp();
  assert.deepEqual(Object.keys(info).sort(), ['port', 'token', 'url']);
  assert.match(info.token, /^[0-9a-f]{64}$/);
  assert.ok(Number.isInteger(info.port) && info.port > 0);
  assert.equal(info.url, `http://127.0.0.1:${info.port}`);

  const ok = await fetch(`${info.url}/health`, { headers: { 'X-Backend-Token': info.token } });
  assert.equal(ok.status, 200);
  assert.match(ok.headers.get('content-type'), /^application\/json/);
  assert.equal(ok.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(ok.headers.get('cache-control'), 'no-store');
  const health = await ok.json();
  assert.equal(health.status, 'ok');
  assert.match(health.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  // The JS method answers the same shape.
  assert.deepEqual(Object.keys(await backend.health()), ['status', 'time']);

  const noToken = await fetch(`${info.url}/health`);
  assert.equal(noToken.status, 401);
  assert.equal(await noToken.text(), '{"detail":"unauthorized"}');
  const wrongToken = await fetch(`${info.url}/health`, { headers: { 'X-Backend-Token': 'x'.repeat(64) } });
  assert.equal(wrongToken.status, 401);
  // The token is not accepted in the query for HTTP routes.
  assert.equal((await fetch(`${info.url}/health?token=${info.token}`)).status, 401);

  const evilHost = await request(info.port, { path: '/health', headers: { Host: 'evil.example', 'X-Backend-Token': info.token } });
  assert.equal(evilHost.status, 403);
  assert.deepEqual(JSON.parse(evilHost.body), { detail: 'invalid host' });
  const localhost = await request(info.port, { path: '/health', headers: { Host: `localhost:${info.port}`, 'X-Backend-Token': info.token } });
  assert.equal(localhost.status, 200);

  const evilOrigin = await request(info.port, { path: '/health', headers: { Origin: 'http://evil.example', 'X-Backend-Token': info.token } });
  assert.equal(evilOrigin.status, 403);
  assert.deepEqual(JSON.parse(evilOrigin.body), { detail: 'origin not allowed' });
  const devOrigin = await request(info.port, { path: '/health', headers: { Origin: 'http://localhost:5173', 'X-Backend-Token': info.token } });
  assert.equal(devOrigin.status, 200);
  assert.equal(devOrigin.headers['access-control-allow-origin'], 'http://localhost:5173');

  await assert.rejects(backend.startHttp(), (e) => e.code === 'E_CONFLICT' && e.status === 409);
  await backend.stopHttp();
  assert.ok(await refused(info.port), 'the port still accepts connections after stopHttp');
  await backend.stopHttp(); // idempotent
  await backend.close();
});

test('startHttp with a given token and port; close() stops the adapter; a taken port is E_CONFLICT', async () => {
  const { backend } = await open();
  const first = await backend.startHttp({ token: 'my-secret-token' });
  assert.equal(first.token, 'my-secret-token');
  const res = await fetch(`${first.url}/status`, { headers: { 'x-backend-token': 'my-secret-token' } });
  assert.equal(res.status, 200);
  assert.deepEqual(Object.keys(await res.json()), ['uptime_sec', 'queue_depth', 'workers', 'scheduler', 'waiting_for_handler']);
  await backend.stopHttp();
  // The same port again (now free) works.
  const again = await backend.startHttp({ port: first.port });
  assert.equal(again.port, first.port);
  assert.notEqual(again.token, 'my-secret-token');

  const { backend: other } = await open();
  await assert.rejects(other.startHttp({ port: first.port }), (e) => e.code === 'E_CONFLICT');
  await assert.rejects(other.startHttp({ token: '' }), (e) => e.code === 'E_INVALID_INPUT');
  await other.close();

  await backend.close();
  assert.ok(await refused(first.port), 'the port still accepts connections after close()');
});

test('WebSocket: connected first; a demo job over HTTP gives the same events as subscribe', async (t) => {
  const { backend } = await open();
  const sockets = [];
  // A failing assertion must not leave sockets that keep Node alive.
  t.after(async () => {
    for (const s of sockets) s.ws.terminate();
    await backend.close();
  });
  const { url, token } = await backend.startHttp();
  const wsUrl = `${url.replace('http', 'ws')}/events?token=${token}`;
  const socket = await connect(wsUrl);
  const viaHeader = await connect(`${url.replace('http', 'ws')}/events`, { headers: { 'X-Backend-Token': token } });
  sockets.push(socket, viaHeader);
  await waitFor(() => socket.frames.length >= 1 && viaHeader.frames.length >= 1, { what: 'connected frames' });
  assert.equal(socket.frames[0].type, 'connected');
  assert.deepEqual(Object.keys(socket.frames[0]), ['type', 'timestamp']);
  assert.match(socket.frames[0].timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(viaHeader.frames[0].type, 'connected');
  // Garbage from the client is ignored.
  socket.ws.send('not json at all');
  socket.ws.send(Buffer.from([0, 1, 2, 255]));

  const seen = [];
  const off = backend.subscribe((e) => seen.push(e));
  const res = await fetch(`${url}/jobs`, {
    method: 'POST',
    headers: { 'X-Backend-Token': token, 'Content-Type': 'application/json' },
    body: JSON.stringify({ type: 'demo', payload: { simulate_ms: 500 } }),
  });
  assert.equal(res.status, 200);
  const { job_id, status } = await res.json();
  assert.equal(status, 'queued');
  assert.equal((await waitForJob(backend, job_id)).status, 'succeeded');
  const ended = (list) => list.some((e) => e.job_id === job_id && e.type === 'job.status' && e.status === 'succeeded');
  await waitFor(() => ended(seen) && ended(socket.frames), { what: 'the end on both surfaces' });
  off();

  const mine = (list) => list.filter((e) => e.job_id === job_id);
  const wsEvents = mine(socket.frames);
  assert.deepEqual(wsEvents.map((e) => e.type === 'job.progress' ? 'progress' : `${e.type}:${e.status}`), [
    'job.created:queued', 'job.status:running', 'progress', 'progress', 'job.status:succeeded',
  ]);
  assert.deepEqual(wsEvents.at(-2).progress, 1);
  assert.deepEqual(mine(seen), wsEvents, 'the JS listener and the socket get the same objects');
  assert.deepEqual(mine(viaHeader.frames), wsEvents);
  // The queued log line is there too, the same object on both.
  const queuedLog = (list) => list.find((e) => e.type === 'log' && e.message === `job queued ${job_id} (demo)`);
  assert.deepEqual(queuedLog(socket.frames), queuedLog(seen));
  assert.ok(queuedLog(seen));
  assert.equal(socket.closed, null);

  await backend.stopHttp();
  await waitFor(() => socket.closed && viaHeader.closed, { what: 'the sockets to close' });
  assert.equal(socket.closed.code, 1001);
  assert.equal(viaHeader.closed.code, 1001);
  await backend.close();
});

test('WebSocket: a wrong or missing token is refused before the upgrade', async (t) => {
  const { backend } = await open();
  t.after(() => backend.close());
  const { url, token } = await backend.startHttp();
  const base = `${url.replace('http', 'ws')}/events`;
  const refusedWith = (e) => {
    // Contract: 403 before the upgrade; a close with 4001 is tolerated by clients.
    assert.equal(e.status, 403, e.message);
    return true;
  };
  await assert.rejects(connect(`${base}?token=${'0'.repeat(64)}`), refusedWith);
  await assert.rejects(connect(base), refusedWith);
  await assert.rejects(connect(base, { headers: { 'X-Backend-Token': `${token}x` } }), refusedWith);
  // Host and Origin checks apply to the socket as well.
  await assert.rejects(connect(`${base}?token=${token}`, { headers: { Origin: 'http://evil.example' } }), (e) => e.status === 403);
  await assert.rejects(connect(`${base}?token=${token}`, { headers: { Host: 'evil.example' } }), (e) => e.status === 403);
  const ok = await connect(`${base}?token=${token}`);
  await waitFor(() => ok.frames.length === 1);
  await backend.close();
  await waitFor(() => ok.closed, { what: 'close() to close the socket' });
  assert.equal(ok.closed.code, 1001);
});

test('the capability routes answer over HTTP like their JS methods', async (t) => {
  const { backend } = await open();
  t.after(() => backend.close());
  const { url, token } = await backend.startHttp();
  const call = async (method, path, body) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { 'X-Backend-Token': token, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() };
  };
  const failures = [];
  const expect = async (method, path, body, check) => {
    const got = await call(method, path, body);
    if (got.status !== 200 || !check(got.body)) failures.push(`${method} ${path} -> ${got.status} ${JSON.stringify(got.body)}`);
    return got.body;
  };
  await expect('GET', '/calendar/providers', undefined, (b) => b.providers.length === 2);
  await expect('GET', '/calendar/accounts', undefined, (b) => Array.isArray(b.accounts));
  await expect('GET', '/calendar/calendars', undefined, (b) => Array.isArray(b.calendars));
  await expect('GET', '/calendar/events?start=2024-01-01&end=2024-01-02', undefined, (b) => Array.isArray(b.events));
  await expect('GET', '/jira/accounts', undefined, (b) => Array.isArray(b.accounts));
  await expect('GET', '/confluence/accounts', undefined, (b) => Array.isArray(b.accounts));
  await expect('GET', '/activity/events?start=2024-01-01&end=2024-01-02', undefined, (b) => Array.isArray(b.events));
  const session = await expect('POST', '/claude/session', undefined, (b) => /^session_/.test(b.session_id));
  if (session && session.session_id) {
    await expect('GET', `/claude/session/${session.session_id}`, undefined, (b) => Array.isArray(b.messages));
  }
  await expect('GET', '/claude/sessions', undefined, (b) => Array.isArray(b.sessions));
  await expect('POST', '/claude/spawn', { prompt: 'hi', args: ['--version'] }, (b) => b.status === 'queued');
  assert.deepEqual(failures, []);
});
