'use strict';
// A/B of two builds of the addon in the same minutes (this VM's speed drifts ≈ 2× over
// minutes, so figures of two builds taken at different times do not compare). Figures only.
//
//   node bench/ab.js --a=DIR --b=DIR [--rounds=4] [--skip-calendar]
//
// DIR is a package directory holding a release build (`index.js`, `binding.js`, the `.node`
// file): e.g. an export of an older commit built with `npm run build:release`. Each round runs
// `getJob` (bench/core.js `getjob`) and the 2,501-row calendar month (bench/calendar.js
// `window`) once per build, each in a fresh process, the builds' order swapped every round.
// Every line carries the 1-minute load average read just before the run.

const { spawnSync } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');
const lib = require('./lib');

const builds = { a: path.resolve(lib.flag('a', '')), b: path.resolve(lib.flag('b', path.join(__dirname, '..'))) };
const rounds = Number(lib.flag('rounds', 4));
const calendar = !process.argv.includes('--skip-calendar');

function run(script, scenario, root) {
  const load = os.loadavg()[0];
  const res = spawnSync(process.execPath, [path.join(__dirname, script), `--scenario=${scenario}`, `--root=${root}`], {
    encoding: 'utf8', timeout: 300000,
  });
  const line = (res.stdout || '').split('\n').find((l) => l.startsWith('##PART '));
  if (!line) throw new Error(`${script} ${scenario} (${root}) failed: ${(res.stderr || '').trim().split('\n').slice(-3).join(' | ')}`);
  return { load, ...JSON.parse(line.slice(7)) };
}

const median = (xs) => lib.quantile([...xs].sort((x, y) => x - y), 0.5);
const fmt = (xs, d) => `${xs.map((x) => lib.round(x, d)).join(' / ')} (median ${lib.round(median(xs), d)})`;

const out = { a: { gj50: [], gj95: [], cal50: [], cal95: [], load: [] }, b: { gj50: [], gj95: [], cal50: [], cal95: [], load: [] } };
console.log(`ab: a=${builds.a} b=${builds.b}, ${rounds} rounds, ${new Date().toISOString()}`);
for (let r = 0; r < rounds; r += 1) {
  const order = r % 2 === 0 ? ['a', 'b'] : ['b', 'a'];
  for (const k of order) {
    const gj = run('core.js', 'getjob', builds[k]);
    out[k].gj50.push(gj.p50_us);
    out[k].gj95.push(gj.p95_us);
    out[k].load.push(gj.load);
    let cal = '';
    if (calendar) {
      const c = run('calendar.js', 'window', builds[k]);
      out[k].cal50.push(c.list_p50_ms);
      out[k].cal95.push(c.list_p95_ms);
      cal = `  listCalendarEvents(${c.rows} rows) p50 ${lib.round(c.list_p50_ms, 2)} ms p95 ${lib.round(c.list_p95_ms, 2)} ms (load ${lib.round(c.load, 2)})`;
    }
    console.log(`round ${r + 1} ${k}: getJob p50 ${lib.round(gj.p50_us, 1)} µs p95 ${lib.round(gj.p95_us, 1)} µs p99 ${lib.round(gj.p99_us, 1)} µs, ${Math.round(gj.calls_s)} calls/s (load ${lib.round(gj.load, 2)})${cal}`);
  }
}
for (const k of ['a', 'b']) {
  console.log(`${k}: getJob p50 µs ${fmt(out[k].gj50, 1)}; p95 µs ${fmt(out[k].gj95, 1)}; load ${fmt(out[k].load, 2)}`);
  if (calendar) console.log(`${k}: listCalendarEvents p50 ms ${fmt(out[k].cal50, 2)}; p95 ms ${fmt(out[k].cal95, 2)}`);
}
