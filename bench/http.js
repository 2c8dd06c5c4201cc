'use strict';
// Issue 3 benchmarks: the addon's HTTP + WebSocket adapter under load from a SECOND process.
// Loopback only. Figures only.
//
//   node bench/http.js [--runs=2] [--duration=10] [--clients=1000] [--only=health,ws_load,...]
//                      [--generator=wrk|autocannon] [--pairs=N]
//
// --pairs=N (with bun in --only, or no --only) measures ours and Bun + Elysia interleaved, N
// pairs per route, and reports the median ratio: the fair comparison on a machine whose speed
// drifts.
//
// Load generator for the request/response routes: `wrk` (C, one thread: `-t1 -c64 -d10s
// --latency`) when it is on PATH, else autocannon (Node, forked bench/http-client.js). The choice
// matters on a 2-core machine: autocannon needs most of a core for itself, wrk far less, so the
// server gets more of the machine with wrk. Figures from different generators are NOT
// comparable; the generator is printed with every run and the plain Node `http` server is
// measured with the same generator as a calibration row. The WebSocket fan-out always uses the
// `ws` clients of bench/http-client.js.
//
// Each scenario opens a fresh backend in this process, starts the adapter on a free port, runs
// the client in a second process, and keeps the best of `runs` runs (the machine is shared).

const { fork, spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
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

/** Whether `wrk` is on PATH. */
function hasWrk() {
  return spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error === undefined;
}

/** `1.23ms` / `456.00us` / `1.02s` as milliseconds. */
function wrkDuration(text) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!m) return NaN;
  const scale = { us: 1e-3, ms: 1, s: 1e3, m: 60e3 }[m[2]];
  return Number(m[1]) * scale;
}

/** Parses wrk's `--latency` report into the same shape autocannon's client sends back. */
function parseWrk(out) {
  const num = (re) => {
    const m = re.exec(out);
    return m ? Number(m[1]) : 0;
  };
  const pct = (p) => {
    const m = new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(out);
    return m ? wrkDuration(m[1]) : NaN;
  };
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    total: num(/(\d+) requests in/),
    p50_ms: pct(50),
    p99_ms: pct(99),
    errors: sock ? Number(sock[1]) + Number(sock[2]) + Number(sock[3]) : 0,
    timeouts: sock ? Number(sock[4]) : 0,
    non2xx: num(/Non-2xx or 3xx responses: (\d+)/),
  };
}

/**
 * One wrk run (`-t1 -c64 -d<duration>s --latency`) in its own process. A body (POST /jobs) needs
 * a Lua script: written to a temp file, removed afterwards.
 */
function wrkRun({ url, method, headers, body, connections, duration }) {
  const args = ['-t1', `-c${connections}`, `-d${duration}s`, '--latency'];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  let script = null;
  if (method !== 'GET' || body !== undefined) {
    script = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'enttok-wrk-')), 'req.lua');
    fs.writeFileSync(script, `wrk.method = ${JSON.stringify(method)}\nwrk.body = ${JSON.stringify(body || '')}\n`);
    args.push('-s', script);
  }
  args.push(url);
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk) => { out += chunk; });
    child.on('error', reject);
    child.on('close', (code) => {
      if (script) fs.rmSync(path.dirname(script), { recursive: true, force: true });
      if (code !== 0) return reject(new Error(`wrk exited with ${code}: ${out}`));
      const r = parseWrk(out);
      if (!(r.rps > 0)) return reject(new Error(`cannot parse wrk output: ${out}`));
      return resolve(r);
    });
  });
}

/** The selected generator for request/response routes: `wrk` if present, else autocannon. */
let GENERATOR = 'autocannon';

/** Loads `opts` onto a URL with the selected generator (always another process). */
function load(opts) {
  if (GENERATOR === 'wrk') return wrkRun(opts);
  return client({ mode: 'cannon', ...opts });
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

/** One load-generator run against the adapter. */
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
    return load({ url, method, headers, body, connections: 64, duration });
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
    // The same token header as the adapter runs, so both parse the same request.
    return await load({ url, method: 'GET', headers: { 'x-backend-token': 'x'.repeat(64) }, connections: 64, duration });
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

/** The Bun binary for the Bun + Elysia comparison: `$BUN`, `bun` on PATH, or the one
 *  `npm install --prefix bench/bun-elysia` fetched (npm's `@oven/bun-linux-x64` package). */
function findBun() {
  const candidates = [process.env.BUN, 'bun',
    path.join(__dirname, 'bun-elysia', 'node_modules', '@oven', 'bun-linux-x64', 'bin', 'bun')];
  for (const c of candidates) {
    if (c && spawnSync(c, ['--version'], { stdio: 'ignore' }).status === 0) return c;
  }
  return null;
}

/** The same load on the Bun + Elysia server of `bench/bun-elysia/server.ts` (same routes,
 *  same checks, same headers; see that file for what it does and does not do). */
async function bunScenario(bun, route, duration) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'enttok-bun-'));
  const token = 'b'.repeat(64);
  const child = spawn(bun, [path.join(__dirname, 'bun-elysia', 'server.ts')], {
    env: { ...process.env, PORT: '0', TOKEN: token, DB: path.join(dir, 'index.db') },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const ready = await new Promise((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (c) => {
        out += c;
        const m = /PORT (\d+) JOB (\S+)/.exec(out);
        if (m) resolve({ port: Number(m[1]), job: m[2] });
      });
      child.on('exit', (code) => reject(new Error(`bun server exited with ${code}`)));
    });
    const base = `http://127.0.0.1:${ready.port}`;
    const headers = { 'x-backend-token': token };
    if (route === 'health') return await load({ url: `${base}/health`, method: 'GET', headers, connections: 64, duration });
    if (route === 'job') return await load({ url: `${base}/jobs/${ready.job}`, method: 'GET', headers, connections: 64, duration });
    return await load({
      url: `${base}/jobs`, method: 'POST', headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'demo', payload: { simulate_ms: 0 } }), connections: 64, duration,
    });
  } finally {
    child.kill();
    fs.rmSync(dir, { recursive: true, force: true });
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
  const generator = lib.flag('generator', hasWrk() ? 'wrk' : 'autocannon');
  if (generator === 'wrk' && !hasWrk()) throw new Error('--generator=wrk but wrk is not on PATH');
  GENERATOR = generator;
  const report = new lib.Report('http');
  const how = generator === 'wrk' ? 'wrk -t1' : 'autocannon (forked Node process)';
  console.log(`http: load generator ${how}, 64 connections x ${duration} s per route, ${runs} run(s), best reported`);

  const routes = [
    ['health', 'GET /health', { target: '>= 50,000 req/s', meets: (v) => v >= 50000 }],
    ['job', 'GET /jobs/{id}', {}],
    ['create', 'POST /jobs (demo, simulate_ms 0)', {}],
  ];
  for (const [key, label, target] of routes) {
    if (!want(key)) continue;
    const r = await best(runs, () => cannonScenario(key, duration));
    const bad = r.reduce((n, x) => n + x.errors + x.non2xx + x.timeouts, 0);
    for (const x of r) console.log(`  [${key}] ${generator}: ${lib.round(x.rps, 0)} req/s, p50 ${x.p50_ms} ms, p99 ${x.p99_ms} ms`);
    report.add(`${label} req/s [${generator}]`, r.map((x) => x.rps), 'req/s', { digits: 0, ...target, note: bad ? `${bad} errors/non-2xx` : '' });
    report.add(`${label} p99 [${generator}]`, r.map((x) => x.p99_ms), 'ms', { better: 'lower' });
  }
  const bun = want('bun') ? findBun() : null;
  if (want('bun') && !bun) console.log('  Bun + Elysia comparison skipped: no bun (npm install --prefix bench/bun-elysia)');
  if (bun && lib.flag('pairs', null)) {
    // Interleaved: ours then Bun, route by route, `pairs` times. This VM's speed drifts up to
    // 2x over minutes, so only a ratio measured within the same minute is meaningful; the
    // median of the per-pair ratios is reported.
    const pairs = Number(lib.flag('pairs', 3));
    for (const [key, label] of routes) {
      if (!want(key)) continue;
      const ratios = [];
      for (let i = 0; i < pairs; i += 1) {
        const ours = await cannonScenario(key, duration);
        const theirs = await bunScenario(bun, key, duration);
        ratios.push(ours.rps / theirs.rps);
        console.log(`  [pair ${i + 1} ${key}] ours ${lib.round(ours.rps, 0)} req/s, Bun ${lib.round(theirs.rps, 0)} req/s, ratio ${lib.round(ours.rps / theirs.rps, 3)}`);
      }
      ratios.sort((a, b) => a - b);
      report.add(`${label}: ours / Bun + Elysia, median of ${pairs} interleaved pairs`, [lib.quantile(ratios, 0.5)], 'x', { digits: 2, target: '>= 1.5x', meets: (v) => v >= 1.5 });
    }
  } else if (bun) {
    for (const [key, label] of routes) {
      const r = await best(runs, () => bunScenario(bun, key, duration));
      for (const x of r) console.log(`  [bun ${key}] ${generator}: ${lib.round(x.rps, 0)} req/s, p99 ${x.p99_ms} ms`);
      report.add(`Bun + Elysia ${label} req/s [${generator}]`, r.map((x) => x.rps), 'req/s', { digits: 0 });
    }
  }
  if (want('node')) {
    const r = await best(runs, () => nodeBaseline(duration));
    report.add(`reference: plain Node http /health req/s [${generator}]`, r.map((x) => x.rps), 'req/s', { digits: 0 });
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
