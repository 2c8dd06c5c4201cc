'use strict';
// The load-generating side of bench/http.js, always run in a SECOND process so the server and
// the client do not share one event loop. Talks to its parent over the IPC channel of `fork`.
//
//   mode "cannon": one autocannon run; sends back {rps, p50, p99, errors, non2xx, ...}
//                  (only when `wrk` is not on PATH or `--generator=autocannon`: bench/http.js
//                  runs wrk itself, as its own process)
//   mode "ws":     opens `clients` WebSockets to /events, says 'ready', counts frames, and on
//                  'finish' (with the request time of each job) sends back rates and latencies.

const autocannon = require('autocannon');
const WebSocket = require('ws');

/** Wall clock with sub-millisecond resolution, comparable across processes on one machine. */
const wall = () => performance.timeOrigin + performance.now();

function quantile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length))) - 1];
}

async function cannon(opts) {
  const result = await autocannon({
    url: opts.url,
    connections: opts.connections,
    duration: opts.duration,
    method: opts.method,
    headers: opts.headers,
    body: opts.body,
  });
  process.send({
    kind: 'result',
    rps: result.requests.average,
    total: result.requests.total,
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    duration_s: result.duration,
  });
}

async function ws(opts) {
  // Frames are counted only inside the measuring window, so a saturated run stays bounded.
  let deadline = Infinity;
  let cpu0 = null;
  let t0 = 0;
  const sockets = [];
  let frames = 0;
  let first = 0;
  let last = 0;
  let lagged = 0;
  let laggedMissed = 0;
  let closed = 0;
  // job_id -> receive times of its `job.created` on every socket.
  const created = new Map();
  let connected = 0;
  await new Promise((resolve, reject) => {
    let opened = 0;
    const open = (i) => {
      const sock = new WebSocket(`${opts.url}/events?token=${opts.token}`, { perMessageDeflate: false });
      sockets.push(sock);
      sock.on('message', (data) => {
        const t = wall();
        const text = data.toString();
        // Cheap classification: only the frames we time are parsed.
        if (text.startsWith('{"type":"connected"')) {
          connected += 1;
          if (connected === opts.clients) resolve();
          return;
        }
        if (t > deadline) return;
        if (frames === 0) first = t;
        frames += 1;
        last = t;
        if (text.startsWith('{"type":"job.created"')) {
          const id = JSON.parse(text).job_id;
          let list = created.get(id);
          if (!list) created.set(id, (list = []));
          list.push(t);
        } else if (text.startsWith('{"type":"lagged"')) {
          lagged += 1;
          laggedMissed += JSON.parse(text).missed;
        }
      });
      sock.on('close', () => { closed += 1; });
      sock.on('error', reject);
      sock.on('open', () => {
        opened += 1;
        // Open in small waves so the accept queue is not flooded.
        if (i + 16 < opts.clients) open(i + 16);
      });
    };
    for (let i = 0; i < Math.min(16, opts.clients); i += 1) open(i);
  });
  process.send({ kind: 'ready' });
  process.on('message', (msg) => {
    if (msg.kind === 'window') {
      deadline = wall() + msg.ms;
      cpu0 = process.cpuUsage();
      t0 = wall();
      return;
    }
    if (msg.kind !== 'finish') return;
    const cpu = process.cpuUsage(cpu0);
    const cpuPct = ((cpu.user + cpu.system) / 1000) / (Math.min(wall(), deadline) - t0) * 100;
    const latencies = [];
    for (const [id, sent] of Object.entries(msg.sent)) {
      for (const t of created.get(id) || []) latencies.push(t - sent);
    }
    latencies.sort((a, b) => a - b);
    const expected = Object.keys(msg.sent).length * opts.clients;
    process.send({
      kind: 'result',
      frames,
      events_s: frames / ((last - first) / 1000),
      span_s: (last - first) / 1000,
      created_seen: latencies.length,
      created_expected: expected,
      p50_ms: quantile(latencies, 0.5),
      p99_ms: quantile(latencies, 0.99),
      max_ms: latencies.length ? latencies[latencies.length - 1] : NaN,
      lagged,
      lagged_missed: laggedMissed,
      closed_early: closed,
      client_cpu_pct: cpuPct,
    });
    for (const s of sockets) s.terminate();
    setTimeout(() => process.exit(0), 100);
  });
}

process.once('message', (opts) => {
  const run = opts.mode === 'ws' ? ws(opts) : cannon(opts);
  run.catch((err) => {
    process.send({ kind: 'error', message: String(err && err.stack ? err.stack : err) });
    process.exit(1);
  });
});
