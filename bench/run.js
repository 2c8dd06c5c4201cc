'use strict';
// Runs the benchmark scripts one after the other, each as its own `node` process (clean RSS and
// cold start), and prints one table of their figures. Figures only: nothing asserts on time.
//
//   node bench/run.js            every script
//   node bench/run.js core       one script (core | http); further flags are passed through,
//                                e.g. `node bench/run.js core --runs=3`

const { spawn } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');

const SCRIPTS = ['core', 'http', 'calendar', 'close', 'memory'];

function runScript(name, args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(__dirname, `${name}.js`), ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buffered = '';
    let result = null;
    child.stdout.on('data', (chunk) => {
      buffered += chunk;
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.startsWith('##BENCH ')) result = JSON.parse(line.slice(8));
        else process.stdout.write(`${line}\n`);
      }
    });
    child.on('close', (code) => resolve({ name, code, result }));
  });
}

function pad(text, width) {
  const s = String(text);
  return s.length >= width ? s : s + ' '.repeat(width - s.length);
}

function table(results) {
  const rows = [['script', 'figure', 'value', 'unit', 'target', 'met']];
  for (const r of results) {
    if (!r.result) {
      rows.push([r.name, '(failed, exit code ' + r.code + ')', '', '', '', '']);
      continue;
    }
    for (const row of r.result.rows) {
      const met = row.ok === null ? '' : row.ok ? 'yes' : 'NO';
      rows.push([r.name, row.name, row.value, row.unit, row.target, met]);
    }
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => String(row[i]).length)));
  const line = (row) => row.map((c, i) => pad(c, widths[i])).join(' | ');
  console.log(line(rows[0]));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const row of rows.slice(1)) console.log(line(row));
}

async function main() {
  const args = process.argv.slice(2);
  const names = args.filter((a) => !a.startsWith('--'));
  const flags = args.filter((a) => a.startsWith('--'));
  for (const n of names) {
    if (!SCRIPTS.includes(n)) {
      console.error(`unknown benchmark ${n}; known: ${SCRIPTS.join(', ')}`);
      process.exit(2);
    }
  }
  const chosen = names.length > 0 ? names : SCRIPTS;
  console.log(`${new Date().toISOString()}  node ${process.version}  ${os.cpus().length} cores (${os.cpus()[0] && os.cpus()[0].model})  load avg ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const results = [];
  for (const name of chosen) {
    console.log(`\n== ${name}`);
    results.push(await runScript(name, flags));
  }
  console.log('');
  table(results);
  if (results.some((r) => r.code !== 0)) process.exitCode = 1;
}

main();
