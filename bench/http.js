'use strict';
// Issue 3 benchmarks: the addon's HTTP + WebSocket adapter under load from a SECOND process
// (bench/http-client.js: autocannon, and `ws` clients). Loopback only. Figures only.
//
//   node bench/http.js [--runs=2] [--duration=10] [--clients=1000] [--only=health,ws_load,...]
//
// Each scenario opens a fresh backend in this process, starts the adapter on a free port, forks
// the client, and keeps the best of `runs` runs (the 2-core machine is shared and noisy).

const { fork } = require('node:child_process');
const http = require('node:http');
const path = require('node:path');
const lib = require('./lib');

const ROOT = path.join(__dirname, '..');
const CLIENT = path.join(__dirname, 'http-client.js');
const wall = () => performance.timeOrigin + performance.now();

/** Forks the client, sends it `opts`, calls `onReady` when it says so, resolves to its result. */
function client(opts, onReady, windowMs) {
  return new Promise((resolve, reject) => {
    const child = fork(CLIENT, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`client ${opts.mode} timed out`));
    }, 60000);
    child.on('message', async (msg) => {
      if (msg.kind === 'ready' && onReady) {
        if (windowMs) child.send({ kind: 'window', ms: windowMs });
        try {
          child.send({ kind: 'finish', ...(await onReady()) });
        } catch (err) {
          reject(err);
        }
      } else if (msg.kind === 'result') {
        clearTimeout(timer);
        resolve(msg);
      } else if (msg.kind === 'error') {
        clearTimeout(timer);
        reject(new Error(msg.message));
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`client exited with ${code}`));
    });
    child.send(opts);
  });
}

async function withServer(tag, fn) {
  const { Backend } = require(ROOT);
  const backend = await Backend.open({ dataDir: lib.tempDir(tag), scheduler: false });
  try {
    const srv = await backend.startHttp();
    return await fn(backend, srv);
  } finally {
    await backend.close();
  }
}

/** One autocannon run against the adapter. */
function cannonScenario(route, duration) {
  return withServer(`http-${route}`, async (backend, srv) => {
    const headers = { 'x-backend-token': srv.token };
    let url = `${srv.url}/health`;
    let method = 'GET';
    let body;
    if (route === 'job') {
      const { job_id: id } = await backend.createJob({ type: 'demo', payload: { simulate_ms: 0 } });
      url = `${srv.url}/jobs/${id}`;
    } else if (route === 'create') {
      url = `${srv.url}/jobs`;
      method = 'POST';
      headers['content-type'] = 'application/json';
      body = JSON.stringify({ type: 'demo', payload: { simulate_ms: 0 } });
    }
    return client({ mode: 'cannon', url, method, headers, body, connections: 64, duration });
  });
}

/** The same load against a plain Node `http` server answering /health (a reference point). */
async function nodeBaseline(duration) {
  const server = http.createServer((req, res) => {
    const body = JSON.stringify({ status: 'ok', time: new Date().toISOString().slice(0, 19) + 'Z' });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${server.address().port}/health`;
    return await client({ mode: 'cannon', url, method: 'GET', headers: {}, connections: 64, duration });
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

/**
 * WebSocket fan-out: `clients` sockets on /events in the client process; this process creates
 * demo jobs at `rate` jobs/s for `seconds`, and stamps when each `createJob` was requested. The
 * client times each `job.created` frame against that stamp (same machine clock).
 */
function wsScenario(clients, rate, seconds) {
  return withServer('ws', async (backend, srv) => {
    const onReady = async () => {
      const sent = {};
      const pending = [];
      const start = lib.nowMs();
      const perTick = rate / 100;
      let due = 0;
      let made = 0;
      while (lib.nowMs() - start < seconds * 1000) {
        due += perTick;
        while (made < Math.floor(due)) {
          made += 1;
          const t = wall();
          pending.push(backend.createJob({ type: 'demo', payload: { simulate_ms: 0 } })
            .then((ref) => { sent[ref.job_id] = t; }));
        }
        await lib.sleep(10);
      }
      await Promise.all(pending);
      // Let the last frames drain, but never past the window: a saturated run stays bounded.
      await lib.sleep(Math.max(0, Math.min(2000, (seconds + 3) * 1000 - (lib.nowMs() - start))));
      return { sent };
    };
    return client({ mode: 'ws', url: srv.url.replace('http', 'ws'), token: srv.token, clients }, onReady, (seconds + 3) * 1000);
  });
}

async function best(runs, fn) {
  const out = [];
  for (let i = 0; i < runs; i += 1) {
    try {
      out.push(await fn());
    } catch (err) {
      console.log(`  run failed: ${err.message}`);
    }
  }
  return out;
}

async function main() {
  const runs = Number(lib.flag('runs', 2));
  const duration = Number(lib.flag('duration', 10));
  const clients = Number(lib.flag('clients', 1000));
  const only = lib.flag('only', null);
  const want = (name) => only === null || only.split(',').includes(name);
  const report = new lib.Report('http');
  console.log(`http: 64 connections x ${duration} s per route, ${runs} run(s), best reported`);

  const routes = [
    ['health', 'GET /health', { target: '>= 50,000 req/s', meets: (v) => v >= 50000 }],
    ['job', 'GET /jobs/{id}', {}],
    ['create', 'POST /jobs (demo, simulate_ms 0)', {}],
  ];
  for (const [key, label, target] of routes) {
    if (!want(key)) continue;
    const r = await best(runs, () => cannonScenario(key, duration));
    const bad = r.reduce((n, x) => n + x.errors + x.non2xx + x.timeouts, 0);
    report.add(`${label} req/s`, r.map((x) => x.rps), 'req/s', { digits: 0, ...target, note: bad ? `${bad} errors/non-2xx` : '' });
    report.add(`${label} p99`, r.map((x) => x.p99_ms), 'ms', { better: 'lower' });
  }
  if (want('node')) {
    const r = await best(runs, () => nodeBaseline(duration));
    report.add('reference: plain Node http /health req/s', r.map((x) => x.rps), 'req/s', { digits: 0 });
  }
  for (const [key, rate] of [['ws_latency', 10], ['ws_load', 100]]) {
    if (!want(key)) continue;
    const seconds = 8;
    const r = await best(runs, () => wsScenario(clients, rate, seconds));
    for (const x of r) {
      console.log(`  [${key}] frames=${x.frames} span=${lib.round(x.span_s, 2)}s job.created seen in window ${x.created_seen}/${x.created_expected} lagged=${x.lagged} (missed ${x.lagged_missed}) closed=${x.closed_early} client CPU ${lib.round(x.client_cpu_pct, 0)}%`);
    }
    const lag = r.some((x) => x.lagged > 0) ? 'lagged seen' : '';
    report.add(`WS ${clients} clients, ${rate} demo jobs/s: events/s delivered`, r.map((x) => x.events_s), 'events/s', { digits: 0, note: lag });
    report.add(`WS ${clients} clients, ${rate} jobs/s: job.created latency p50`, r.map((x) => x.p50_ms), 'ms', { better: 'lower' });
    report.add(`WS ${clients} clients, ${rate} jobs/s: job.created latency p99`, r.map((x) => x.p99_ms), 'ms', { better: 'lower' });
  }
  report.finish();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
