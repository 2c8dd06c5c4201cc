'use strict';
// Issue 13: one method is spelled in several places — `index.js` (the method), `index.d.ts`
// (its type), `src/ops.rs` (its dispatch arm) and the HTTP route table (each route names its
// JS method, or says why it has none: `Route::js` / `Route::http_only`, published in
// /openapi.json as `x-js-method` / `x-http-only`). This test reads all four and fails when
// they drift apart; the checks are pure functions, and the last test shows each one failing on
// a method added in one place only.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { Backend, open } = require('./helpers');

const ROOT = path.join(__dirname, '..');
const read = (file) => fs.readFileSync(path.join(ROOT, file), 'utf8');

/** Methods that run in the JS layer only (no dispatch arm): they register JS functions. */
const JS_LAYER_ONLY = ['close', 'subscribe', 'registerJobHandler', 'registerEmbedder'];
/** Dispatch arms that are not `Backend` methods: the handler context's calls (`ctx.progress`, `ctx.log`). */
const CONTEXT_ARMS = ['jobProgress', 'jobLog'];

/** Instance methods declared in `index.d.ts`'s `class Backend`. */
function declaredMethods(dts) {
  const start = dts.indexOf('export declare class Backend {');
  assert.ok(start >= 0, 'index.d.ts declares class Backend');
  const body = dts.slice(start, dts.indexOf('\n}', start));
  return [...body.matchAll(/^ {2}([a-zA-Z][a-zA-Z0-9]*)\(/gm)].map((m) => m[1]);
}

/** Public instance methods of the `Backend` class of `index.js`. */
function implementedMethods(cls) {
  return Object.getOwnPropertyNames(cls.prototype).filter((n) => n !== 'constructor' && typeof cls.prototype[n] === 'function');
}

/** Operation names with an arm in `src/ops.rs` (`"name" =>`, or `op == "name"` for the one
 * answered in columns). */
function dispatchArms(ops) {
  return [...ops.matchAll(/^\s*"([a-zA-Z][a-zA-Z0-9]*)" =>|op == "([a-zA-Z][a-zA-Z0-9]*)"/gm)].map((m) => m[1] || m[2]);
}

/** Everything that disagrees, as readable lines (empty when all four agree). */
function drift({ declared, implemented, arms, routes }) {
  const problems = [];
  const missing = (list, where, what) => {
    for (const name of list) problems.push(`${name}: ${what} but not ${where}`);
  };
  missing(implemented.filter((m) => !declared.includes(m)), 'in index.d.ts', 'in index.js');
  missing(declared.filter((m) => !implemented.includes(m)), 'in index.js', 'in index.d.ts');
  const dispatched = implemented.filter((m) => !JS_LAYER_ONLY.includes(m));
  missing(dispatched.filter((m) => !arms.includes(m)), 'dispatched by src/ops.rs', 'a Backend method');
  missing(arms.filter((a) => !implemented.includes(a) && !CONTEXT_ARMS.includes(a)), 'a Backend method', 'dispatched by src/ops.rs');
  for (const r of routes) {
    if (r.js === undefined && r.httpOnly === undefined) problems.push(`${r.route}: names no JS method and is not HTTP-only`);
    if (r.js !== undefined && !implemented.includes(r.js)) problems.push(`${r.route}: names ${r.js}, which is not a Backend method`);
  }
  return problems;
}

/** The routes of the running adapter's /openapi.json. */
async function routesOf(backend) {
  const { url } = await backend.startHttp();
  const doc = await (await fetch(`${url}/openapi.json`)).json();
  await backend.stopHttp();
  const routes = [];
  for (const [p, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      routes.push({ route: `${method.toUpperCase()} ${p}`, js: op['x-js-method'], httpOnly: op['x-http-only'] });
    }
  }
  return routes;
}

async function surfaces() {
  const { backend } = await open();
  try {
    return {
      declared: declaredMethods(read('index.d.ts')),
      implemented: implementedMethods(Backend),
      arms: dispatchArms(read('src/ops.rs')),
      routes: await routesOf(backend),
    };
  } finally {
    await backend.close();
  }
}

test('index.js, index.d.ts, the dispatch and the routes describe the same methods', async () => {
  const s = await surfaces();
  assert.ok(s.implemented.length > 60 && s.arms.length > 60 && s.routes.length > 60, 'the parsers found the methods');
  assert.deepEqual(drift(s), []);
  // Every HTTP-only route says why.
  for (const r of s.routes.filter((x) => x.httpOnly !== undefined)) assert.ok(r.httpOnly.length > 10, r.route);
});

test('every dispatched method reaches its arm (no "not available in this version")', async () => {
  const { backend } = await open();
  for (const name of implementedMethods(Backend).filter((m) => !JS_LAYER_ONLY.includes(m) && m !== 'startHttp')) {
    // Bad arguments on purpose: validation answers before anything happens.
    const outcome = await backend[name](Symbol('nope'), Symbol('nope'), Symbol('nope')).then(() => null, (e) => e);
    if (outcome) assert.doesNotMatch(outcome.message, /is not available in this version/, name);
  }
  await backend.close();
});

test('the drift check fails when a method is added in only one place', async () => {
  const s = await surfaces();
  const plus = (list, name) => [...list, name];
  assert.match(drift({ ...s, declared: plus(s.declared, 'frobnicate') }).join('\n'), /frobnicate: in index.d.ts but not in index.js/);
  assert.match(drift({ ...s, implemented: plus(s.implemented, 'frobnicate'), declared: plus(s.declared, 'frobnicate') }).join('\n'), /frobnicate: a Backend method but not dispatched/);
  assert.match(drift({ ...s, arms: plus(s.arms, 'frobnicate') }).join('\n'), /frobnicate: dispatched by src\/ops.rs but not a Backend method/);
  assert.match(drift({ ...s, routes: plus(s.routes, { route: 'GET /frob' }) }).join('\n'), /GET \/frob: names no JS method/);
  assert.match(drift({ ...s, routes: plus(s.routes, { route: 'GET /frob', js: 'frobnicate' }) }).join('\n'), /names frobnicate, which is not a Backend method/);
  // And the parser really reads the files: a declaration added to the text is found.
  const dts = read('index.d.ts').replace('export declare class Backend {', 'export declare class Backend {\n  frobnicate(): Promise<void>');
  assert.ok(declaredMethods(dts).includes('frobnicate'));
});
