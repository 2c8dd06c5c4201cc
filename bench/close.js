'use strict';
// Issue 12 benchmark: how long `close()` takes. Figures only.
//
//   node bench/close.js [--rounds=N]
//
// Two situations: idle workers (a backend that has been open a moment and has nothing to do),
// and a job mid-claim (a long `demo` job queued from an earlier run, closed right after the
// open, while the workers are claiming it: the case that used to wait the whole 5 s grace
// period and leave the row `running`).

const path = require('node:path');
const lib = require('./lib');

const { Backend } = require(path.join(__dirname, '..'));

async function timeClose(backend) {
  const t = lib.nowMs();
  await backend.close();
  return lib.nowMs() - t;
}

async function idle(rounds) {
  const dataDir = lib.tempDir('close-idle');
  const times = [];
  for (let i = 0; i < rounds; i += 1) {
    const backend = await Backend.open({ dataDir, scheduler: false });
    await backend.health();
    await lib.sleep(20);
    times.push(await timeClose(backend));
  }
  return times.sort((a, b) => a - b);
}

async function midClaim(rounds) {
  const dataDir = lib.tempDir('close-claim');
  let backend = await Backend.open({ dataDir, scheduler: false, workers: 1 });
  // Keeps the only worker busy so the demo job is still queued at close.
  backend.registerJobHandler('bench.block', (job, ctx) => new Promise((r) => ctx.signal.addEventListener('abort', r)));
  await backend.createJob({ type: 'bench.block' });
  await lib.sleep(50);
  await backend.createJob({ type: 'demo', payload: { simulate_ms: 60000 }, max_attempts: 20 });
  await backend.close();
  const times = [];
  // Each round where the job did start uses one of its 20 attempts.
  for (let i = 0; i < Math.min(rounds, 19); i += 1) {
    backend = await Backend.open({ dataDir, scheduler: false, workers: 2 });
    times.push(await timeClose(backend));
  }
  return times.sort((a, b) => a - b);
}

async function main() {
  const rounds = Number(lib.flag('rounds', 30));
  const report = new lib.Report('close');
  const idleTimes = await idle(rounds);
  report.add('close() with idle workers, p50', lib.quantile(idleTimes, 0.5), 'ms', { better: 'lower', target: '< 100 ms', meets: (v) => v < 100, digits: 2 });
  report.add('close() with idle workers, max', idleTimes[idleTimes.length - 1], 'ms', { better: 'lower', digits: 2 });
  const claim = await midClaim(rounds);
  report.add('close() with a job mid-claim, p50', lib.quantile(claim, 0.5), 'ms', { better: 'lower', target: '< 200 ms', meets: (v) => v < 200, digits: 2 });
  report.add('close() with a job mid-claim, max', claim[claim.length - 1], 'ms', { better: 'lower', digits: 2 });
  report.finish();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
