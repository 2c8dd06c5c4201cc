'use strict';
// Small helpers shared by the benchmark scripts. Figures only: nothing here asserts on time.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

/** A fresh temporary data directory, removed at exit. */
function tempDir(tag) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `enttok-bench-${tag}-`));
  process.on('exit', () => {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // Best effort: a leftover temp dir is harmless.
    }
  });
  return dir;
}

/** The `p` quantile (0..1) of an ascending array, nearest-rank. */
function quantile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.max(1, Math.ceil(p * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1];
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `cond` every `everyMs` until it holds or `timeoutMs` passes; resolves to its last value. */
async function waitFor(cond, timeoutMs, everyMs = 2) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = cond();
    if (v || Date.now() >= end) return v;
    await sleep(everyMs);
  }
}

/** Nanosecond clock as a float in milliseconds. */
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

/** Rounds for display. */
function round(x, digits = 1) {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Collects result rows and prints them as one marker line that `run.js` parses. */
class Report {
  constructor(script) {
    this.script = script;
    this.rows = [];
  }

  /**
   * Adds one figure. `better` is 'higher' or 'lower': with several runs the best one is kept
   * (the machine is shared, so the best run is the least disturbed one); all runs are listed.
   */
  add(name, runs, unit, { better = 'higher', target = '', meets = null, note = '', digits = 1 } = {}) {
    const values = (Array.isArray(runs) ? runs : [runs]).filter((v) => Number.isFinite(v));
    let best = NaN;
    if (values.length > 0) best = better === 'higher' ? Math.max(...values) : Math.min(...values);
    const ok = meets === null || !Number.isFinite(best) ? null : meets(best);
    const row = {
      name, value: round(best, digits), unit, runs: values.map((v) => round(v, digits)), target, ok, note,
    };
    this.rows.push(row);
    console.log(`  ${name}: ${row.value} ${unit}  (runs: ${row.runs.join(', ')})${target ? `  target ${target}${ok === null ? '' : ok ? ' MET' : ' MISSED'}` : ''}${note ? `  [${note}]` : ''}`);
  }

  /** Prints the marker line; call once at the end. */
  finish() {
    console.log(`##BENCH ${JSON.stringify({ script: this.script, rows: this.rows })}`);
  }
}

/** `--name=value` style flags of this process. */
function flag(name, fallback) {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit === undefined ? fallback : hit.slice(name.length + 3);
}

module.exports = { tempDir, quantile, sleep, waitFor, nowMs, round, Report, flag };
