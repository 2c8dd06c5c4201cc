'use strict';
// Issue 2 benchmarks: the JS API of the addon (release build). Figures only.
//
//   node bench/core.js                 every scenario, each in a fresh child process, RUNS times
//   node bench/core.js --scenario=X    one scenario in this process (prints one ##PART line)
//   --runs=N (default 2)               runs per scenario; the best run is reported
//
// Why one process per scenario: cold start and RSS need a fresh process, and the other figures
// must not inherit the heap, threads or database of an earlier scenario.

const { spawnSync } = require('node:child_process');
const path = require('node:path');
const lib = require('./lib');

// `--root=DIR` loads the package from DIR (an older build, for A/B runs: bench/ab.js).
const ROOT = path.resolve(lib.flag('root', path.join(__dirname, '..')));
const FAR_FUTURE = '2099-01-01T00:00:00Z';

/** Prints a scenario's figures for the parent. */
function part(values) {
  console.log(`##PART ${JSON.stringify(values)}`);
}

// ---------------------------------------------------------------- scenarios (child side)

/** `require` + `open` in a fresh process, and the RSS it adds. Must run first in its process. */
async function coldStart() {
  // `--dir=` opens an existing data directory (the usual app start); else a new one (first run).
  const dataDir = lib.flag('dir', null) || lib.tempDir('cold');
  const rss0 = process.memoryUsage().rss;
  const t0 = lib.nowMs();
  const { Backend } = require(ROOT);
  const t1 = lib.nowMs();
  const backend = await Backend.open({ dataDir });
  const t2 = lib.nowMs();
  const rss1 = process.memoryUsage().rss;
  await backend.close();
  part({ cold_ms: t2 - t0, require_ms: t1 - t0, open_ms: t2 - t1, rss_added_mb: (rss1 - rss0) / 2 ** 20, rss_after_open_mb: rss1 / 2 ** 20 });
}

async function openBackend(tag, extra = {}) {
  const { Backend } = require(ROOT);
  return Backend.open({ dataDir: lib.tempDir(tag), scheduler: false, ...extra });
}

/** Sequential `getJob` round trips on one existing job. */
async function getJob() {
  const backend = await openBackend('getjob');
  const { job_id: id } = await backend.createJob({ type: 'demo', payload: { simulate_ms: 0 } });
  await lib.waitFor(() => false, 200); // let the demo job finish so the row is settled
  const N = Number(lib.flag('n', 20000));
  for (let i = 0; i < 2000; i += 1) await backend.getJob(id); // warm-up
  const times = new Float64Array(N);
  const start = lib.nowMs();
  for (let i = 0; i < N; i += 1) {
    const t = lib.nowMs();
    await backend.getJob(id);
    times[i] = lib.nowMs() - t;
  }
  const total = lib.nowMs() - start;
  const sorted = Array.from(times).sort((a, b) => a - b);
  await backend.close();
  part({ p50_us: lib.quantile(sorted, 0.5) * 1000, p95_us: lib.quantile(sorted, 0.95) * 1000, p99_us: lib.quantile(sorted, 0.99) * 1000, calls_s: N / (total / 1000) });
}

/** `createJob` with one await at a time, for ~5 s. The jobs never run (`run_at` far ahead). */
async function createSequential() {
  const backend = await openBackend('cseq');
  const seconds = Number(lib.flag('seconds', 5));
  const input = { type: 'demo', payload: { simulate_ms: 0 }, run_at: FAR_FUTURE };
  for (let i = 0; i < 500; i += 1) await backend.createJob(input); // warm-up
  const times = [];
  const start = lib.nowMs();
  const end = start + seconds * 1000;
  let t = start;
  while (t < end) {
    await backend.createJob(input);
    const t2 = lib.nowMs();
    times.push(t2 - t);
    t = t2;
  }
  const sorted = times.sort((a, b) => a - b);
  await backend.close();
  part({ per_s: times.length / ((t - start) / 1000), p50_us: lib.quantile(sorted, 0.5) * 1000, p99_us: lib.quantile(sorted, 0.99) * 1000 });
}

/** Rounds of 1,000 concurrent `createJob` calls (`Promise.all`), for ~5 s. */
async function createConcurrent() {
  const backend = await openBackend('cconc');
  const seconds = Number(lib.flag('seconds', 5));
  const input = { type: 'demo', payload: { simulate_ms: 0 }, run_at: FAR_FUTURE };
  const batch = () => Promise.all(Array.from({ length: 1000 }, () => backend.createJob(input)));
  await batch(); // warm-up
  let created = 0;
  let rounds = 0;
  const start = lib.nowMs();
  const end = start + seconds * 1000;
  let t = start;
  const roundMs = [];
  while (t < end) {
    await batch();
    const t2 = lib.nowMs();
    roundMs.push(t2 - t);
    t = t2;
    created += 1000;
    rounds += 1;
  }
  await backend.close();
  part({ per_s: created / ((t - start) / 1000), rounds, round_ms_median: lib.quantile(roundMs.sort((a, b) => a - b), 0.5) });
}

/**
 * N no-op jobs end to end: from the first `createJob` to the last `job.status succeeded` event
 * received by a JS listener. `kind` 'rust' = the built-in `demo` handler with `simulate_ms: 0`
 * (it writes running + one progress step + the final state); 'js' = a JS handler returning null.
 */
async function endToEnd(kind, workers) {
  const backend = await openBackend(`e2e-${kind}${workers}`, { workers });
  const N = Number(lib.flag('n', 5000));
  let type = 'demo';
  if (kind === 'js') {
    type = 'noop';
    backend.registerJobHandler('noop', () => null);
  }
  let succeeded = 0;
  let failed = 0;
  let events = 0;
  let lagged = 0;
  let lastDone = 0;
  backend.subscribe((e) => {
    events += 1;
    if (e.type === 'job.status') {
      if (e.status === 'succeeded') {
        succeeded += 1;
        lastDone = lib.nowMs();
      } else if (e.status === 'failed') failed += 1;
    } else if (e.type === 'lagged') lagged += e.missed;
  });
  const input = { type, payload: { simulate_ms: 0 } };
  const start = lib.nowMs();
  const CHUNK = 1000;
  for (let i = 0; i < N; i += CHUNK) {
    await Promise.all(Array.from({ length: Math.min(CHUNK, N - i) }, () => backend.createJob(input)));
  }
  const created = lib.nowMs();
  await lib.waitFor(() => succeeded + failed >= N || lagged > 0, 90000, 5);
  const end = succeeded + failed >= N ? lastDone : lib.nowMs();
  await backend.close();
  const secs = (end - start) / 1000;
  part({
    jobs_s: succeeded / secs, events_s: events / secs, succeeded, failed, lagged,
    create_phase_s: (created - start) / 1000, total_s: secs,
  });
}

/**
 * Events delivered to a JS listener: `workers` JS jobs each call `ctx.log` in a loop with 256
 * calls in flight, for ~3 s; each call is one committed `job_events` row plus one `log` event.
 */
async function eventsFlood(workers, listeners = 1) {
  const backend = await openBackend(`events${workers}`, { workers });
  const seconds = Number(lib.flag('seconds', 3));
  let logs = 0;
  let extra = 0;
  let first = 0;
  let last = 0;
  let lagged = 0;
  let finished = 0;
  // Extra listeners multiply deliveries without more production: delivery capacity to JS.
  for (let i = 1; i < listeners; i += 1) {
    backend.subscribe((e) => {
      if (e.type === 'log' && e.message === 'x') extra += 1;
    });
  }
  backend.subscribe((e) => {
    if (e.type === 'log' && e.message === 'x') {
      if (logs === 0) first = lib.nowMs();
      logs += 1;
      last = lib.nowMs();
    } else if (e.type === 'lagged') lagged += e.missed;
    else if (e.type === 'job.status' && e.status !== 'running') finished += 1;
  });
  let end = 0;
  backend.registerJobHandler('flood', async (job, ctx) => {
    while (lib.nowMs() < end) {
      await Promise.all(Array.from({ length: 256 }, () => ctx.log('info', 'x')));
    }
    return null;
  });
  end = lib.nowMs() + seconds * 1000;
  for (let i = 0; i < workers; i += 1) await backend.createJob({ type: 'flood' });
  await lib.waitFor(() => finished >= workers, seconds * 1000 + 30000, 5);
  await lib.sleep(50);
  await backend.close();
  part({ events_s: (logs + extra) / ((last - first) / 1000), events: logs + extra, lagged });
}

const SCENARIOS = {
  cold: coldStart,
  getjob: getJob,
  create_seq: createSequential,
  create_conc: createConcurrent,
  e2e_rust_w2: () => endToEnd('rust', 2),
  e2e_rust_w4: () => endToEnd('rust', 4),
  e2e_js_w2: () => endToEnd('js', 2),
  e2e_js_w4: () => endToEnd('js', 4),
  events_w1: () => eventsFlood(1),
  events_w2: () => eventsFlood(2),
  events_l20: () => eventsFlood(1, 20),
  events_claude: () => eventsClaude(),
  events_claude_nolag: () => eventsClaude(524288),
};

/**
 * Events/s to one JS listener from a Rust-side producer: a `claude.spawn` job whose (fake)
 * CLI prints 150,000 lines as fast as it can; each line is a `log` and a `claude.output`
 * event (CONTRACT.md §6.4: bus events, no row per line). This is the high-rate stream the app
 * really sees (Claude's streamed output), unlike the `ctx.log` flood, where every event is
 * also a committed `job_events` row and a JS→native round trip.
 */
async function eventsClaude(buffer = null) {
  const fs = require('node:fs');
  const dir = lib.tempDir('fakeclaude');
  const cli = path.join(dir, 'claude');
  const lines = Number(lib.flag('lines', 150000));
  fs.writeFileSync(cli, `#!/bin/sh\nyes 'a line of streamed output from the fake claude cli' | head -n ${lines}\n`);
  fs.chmodSync(cli, 0o755);
  // `buffer` sets `eventBuffer`: with the default (16k) a producer this fast outruns one JS
  // listener and the listener gets `lagged`; a window as large as the burst shows the
  // loss-free delivery rate.
  const backend = await openBackend('eventsclaude', { claudePath: cli, ...(buffer ? { eventBuffer: Number(buffer) } : {}) });
  let n = 0;
  let first = 0;
  let last = 0;
  let lagged = 0;
  let done = false;
  backend.subscribe((e) => {
    if (e.type === 'log' || e.type === 'claude.output') {
      if (n === 0) first = lib.nowMs();
      n += 1;
      last = lib.nowMs();
    } else if (e.type === 'lagged') lagged += e.missed;
    else if (e.type === 'job.status' && e.status !== 'running') done = true;
  });
  await backend.createJob({ type: 'claude.spawn', payload: { prompt: 'go' } });
  await lib.waitFor(() => done, 60000, 5);
  await lib.sleep(50);
  await backend.close();
  part({ events_s: n / ((last - first) / 1000), events: n, lagged });
}

// ---------------------------------------------------------------- parent side

function runChild(name, extraArgs) {
  const res = spawnSync(process.execPath, [__filename, `--scenario=${name}`, ...extraArgs], {
    encoding: 'utf8', timeout: 180000,
  });
  const line = (res.stdout || '').split('\n').find((l) => l.startsWith('##PART '));
  if (!line) {
    console.log(`  ${name}: FAILED (status ${res.status}) ${(res.stderr || '').trim().split('\n').slice(-3).join(' | ')}`);
    return null;
  }
  return JSON.parse(line.slice(7));
}

function collect(name, runs, extraArgs) {
  const out = [];
  for (let i = 0; i < runs; i += 1) {
    const v = runChild(name, extraArgs);
    if (v) out.push(v);
  }
  return out;
}

const pick = (parts, key) => parts.map((p) => p[key]);

async function main() {
  const only = lib.flag('scenario', null);
  if (only !== null) {
    const fn = SCENARIOS[only];
    if (!fn) throw new Error(`unknown scenario ${only}; known: ${Object.keys(SCENARIOS).join(', ')}`);
    await fn();
    return;
  }
  const runs = Number(lib.flag('runs', 2));
  const pass = process.argv.slice(2).filter((a) => a.startsWith('--n=') || a.startsWith('--seconds='));
  const report = new lib.Report('core');
  console.log(`core: ${runs} run(s) per scenario, best reported`);

  const cold = collect('cold', Math.max(runs, 3), []);
  report.add('require + open cold start, new data dir', pick(cold, 'cold_ms'), 'ms', { better: 'lower', target: '<= 15 ms', meets: (v) => v <= 15 });
  report.add('  of which require', pick(cold, 'require_ms'), 'ms', { better: 'lower' });
  // The usual start: the database exists already (created and closed by an earlier process).
  const existing = lib.tempDir('cold-existing');
  runChild('cold', [`--dir=${existing}`]);
  const warm = collect('cold', Math.max(runs, 3), [`--dir=${existing}`]);
  report.add('require + open cold start, existing data dir', pick(warm, 'cold_ms'), 'ms', { better: 'lower', target: '<= 15 ms', meets: (v) => v <= 15 });
  report.add('RSS added by require + open', pick(cold, 'rss_added_mb'), 'MB', { better: 'lower', target: '<= 20 MB', meets: (v) => v <= 20 });

  const gj = collect('getjob', runs, pass);
  report.add('getJob round trip p50', pick(gj, 'p50_us'), 'µs', { better: 'lower', target: '<= 20 µs', meets: (v) => v <= 20 });
  report.add('getJob round trip p99', pick(gj, 'p99_us'), 'µs', { better: 'lower' });

  const cs = collect('create_seq', runs, pass);
  report.add('createJob sequential', pick(cs, 'per_s'), 'jobs/s', { digits: 0 });
  report.add('createJob sequential p50', pick(cs, 'p50_us'), 'µs', { better: 'lower' });
  const cc = collect('create_conc', runs, pass);
  report.add('createJob 1,000 concurrent (Promise.all loop)', pick(cc, 'per_s'), 'jobs/s', { digits: 0 });

  for (const [kind, label] of [['rust', 'Rust-handled (demo)'], ['js', 'JS-handled (noop)']]) {
    for (const w of [2, 4]) {
      const e = collect(`e2e_${kind}_w${w}`, runs, pass);
      const opts = kind === 'rust'
        ? { digits: 0, target: '>= 10,000 jobs/s', meets: (v) => v >= 10000 }
        : { digits: 0 };
      const lag = e.some((p) => p.lagged > 0) ? 'lagged seen' : '';
      report.add(`end-to-end no-op ${label}, workers=${w}`, pick(e, 'jobs_s'), 'jobs/s', { ...opts, note: lag });
      if (kind === 'rust') report.add(`  events/s to listener during it (w=${w})`, pick(e, 'events_s'), 'events/s', { digits: 0 });
    }
  }

  for (const w of [1, 2]) {
    const ev = collect(`events_w${w}`, runs, pass);
    const lag = ev.some((p) => p.lagged > 0) ? 'lagged seen' : '';
    report.add(`events/s to a JS listener (ctx.log flood, ${w} job(s))`, pick(ev, 'events_s'), 'events/s', {
      digits: 0, target: '>= 100,000 events/s', meets: (v) => v >= 100000, note: lag,
    });
  }
  const fan = collect('events_l20', runs, pass);
  report.add('events/s delivered to 20 JS listeners (1 flood job)', pick(fan, 'events_s'), 'events/s', {
    digits: 0, target: '>= 100,000 events/s', meets: (v) => v >= 100000,
    note: fan.some((p) => p.lagged > 0) ? 'lagged seen' : '',
  });
  for (const [name, label] of [
    ['events_claude_nolag', 'events/s to one JS listener, streamed Claude output (eventBuffer 512k)'],
    ['events_claude', 'same, default eventBuffer (16k)'],
  ]) {
    const cl = collect(name, runs, []);
    const missed = Math.max(0, ...pick(cl, 'lagged'));
    report.add(label, pick(cl, 'events_s'), 'events/s', {
      digits: 0, target: '>= 100,000 events/s', meets: (v) => v >= 100000,
      note: missed > 0 ? `lagged: up to ${missed} missed` : 'no lagged',
    });
  }
  report.finish();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
