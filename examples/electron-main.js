'use strict';
// An Electron-main-like script: what `main.js` of the app does with the backend, minus the
// windows. Open a backend in a temp dir, subscribe to events, run a few jobs (a built-in demo,
// a job handled in JS, one canceled mid-way), print what happens, close on "before-quit".
//
// Run: npm run demo

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Backend } = require('..');

const t0 = Date.now();
const stamp = () => `+${String(Date.now() - t0).padStart(5)} ms`;

async function main() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'enttok-demo-'));
  const backend = await Backend.open({ dataDir, workers: 2 });
  console.log(`${stamp()} opened ${dataDir}`);

  // In Electron: app.on('before-quit', ...) — close stops workers and flushes the database.
  let closing = false;
  const quit = async () => {
    if (closing) return;
    closing = true;
    await backend.close();
    console.log(`${stamp()} closed`);
  };
  process.on('SIGINT', quit);

  backend.subscribe((event) => {
    const { type, ...rest } = event;
    console.log(`${stamp()} event ${type.padEnd(12)} ${JSON.stringify(rest)}`);
  });

  // A job type implemented in JS, as the app would for its own background work.
  backend.registerJobHandler('notes.summarize', async (job, ctx) => {
    const words = String(job.payload.text).split(/\s+/).filter(Boolean);
    for (let i = 1; i <= 4; i++) {
      if (ctx.signal.aborted) return null;
      await new Promise((r) => setTimeout(r, 100));
      await ctx.progress(i / 4, `pass ${i}/4`);
    }
    await ctx.log('info', 'summary ready', { words: words.length });
    return { words: words.length, first: words[0] ?? null };
  });

  const demo = await backend.createJob({ type: 'demo', payload: { simulate_ms: 600 } });
  const mine = await backend.createJob({ type: 'notes.summarize', payload: { text: 'Standup at ten, then review the calendar sync.' } });
  const doomed = await backend.createJob({ type: 'demo', payload: { simulate_ms: 5000 } });

  // Cancel the long one once it runs.
  for (;;) {
    if ((await backend.getJob(doomed.job_id)).status === 'running') break;
    await new Promise((r) => setTimeout(r, 20));
  }
  console.log(`${stamp()} cancel ->`, await backend.cancelJob(doomed.job_id));

  for (const { job_id } of [demo, mine, doomed]) {
    for (;;) {
      const job = await backend.getJob(job_id);
      if (['succeeded', 'failed', 'canceled'].includes(job.status)) {
        console.log(`${stamp()} final ${job.type.padEnd(16)} ${job.status.padEnd(9)} result=${JSON.stringify(job.result)}`);
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  console.log(`${stamp()} status`, await backend.status());
  await quit();
}

main().catch((err) => {
  console.error(`demo failed: ${err.code ?? ''} ${err.message}`);
  process.exitCode = 1;
});
