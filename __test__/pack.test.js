'use strict';
// Pack and install as a user would: the main tarball and this platform's tarball (the debug
// binary `npm test` has just built, packed by tools/pack.js exactly as `npm run pack:local`
// packs the release one) are installed into an empty folder, offline and with no Rust
// toolchain on PATH; the installed package is required, opens a backend and runs a job.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const pkg = require('../package.json');

/** PATH without any folder that holds a Rust toolchain (cargo, rustc, rustup). */
function pathWithoutRust() {
  const tools = ['cargo', 'rustc', 'rustup'];
  const exts = process.platform === 'win32' ? ['.exe', ''] : [''];
  const dirs = (process.env.PATH || '').split(path.delimiter).filter((d) => d
    && !tools.some((t) => exts.some((x) => fs.existsSync(path.join(d, t + x)))));
  const nodeDir = path.dirname(process.execPath);
  if (!dirs.includes(nodeDir)) dirs.unshift(nodeDir);
  return dirs.join(path.delimiter);
}

function hostSuffix() {
  if (process.platform === 'linux') return `linux-${process.arch}-gnu`;
  if (process.platform === 'win32') return `win32-${process.arch}-msvc`;
  return `${process.platform}-${process.arch}`;
}

test('pack: the tarballs install without Rust and the package runs a job', { timeout: 180000 }, async (t) => {
  const nodeFile = path.join(root, `${pkg.napi.binaryName}.${hostSuffix()}.node`);
  if (!fs.existsSync(nodeFile)) {
    t.skip(`no built addon at ${nodeFile} (npm test builds it first)`);
    return;
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'enttok-pack-test-'));
  try {
    const out = path.join(work, 'dist');
    const printed = execFileSync(process.execPath, [path.join(root, 'tools', 'pack.js'), '--out', out, '--node', nodeFile], {
      encoding: 'utf8',
    });
    const tarballs = JSON.parse(printed.trim().split('\n').pop());
    assert.ok(fs.existsSync(tarballs.main));
    assert.ok(fs.existsSync(tarballs.platform));

    // What the published main package says: six platform packages at this version, no dev tooling.
    const listing = execFileSync('tar', ['-xzOf', tarballs.main, 'package/package.json'], { encoding: 'utf8' });
    const manifest = JSON.parse(listing);
    assert.deepEqual(Object.keys(manifest.optionalDependencies).sort(), [
      '@enttok/backend-darwin-arm64',
      '@enttok/backend-darwin-x64',
      '@enttok/backend-linux-arm64-gnu',
      '@enttok/backend-linux-x64-gnu',
      '@enttok/backend-win32-arm64-msvc',
      '@enttok/backend-win32-x64-msvc',
    ]);
    for (const v of Object.values(manifest.optionalDependencies)) assert.equal(v, pkg.version);
    assert.equal(manifest.devDependencies, undefined);
    assert.equal(manifest.scripts, undefined);
    const files = execFileSync('tar', ['-tzf', tarballs.main], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const f of ['LICENSE', 'README.md', 'index.js', 'index.mjs', 'index.d.ts', 'loader.js', 'binding.js',
      'electron.js', 'electron.d.ts', 'renderer.js', 'renderer.mjs', 'renderer.d.ts']) {
      assert.ok(files.includes(`package/${f}`), `${f} is packed`);
    }
    assert.ok(!files.some((f) => f.endsWith('.node')), 'no binary in the main package');
    // Every relative link of the README resolves inside the package.
    const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8')
      .replace(/```[\s\S]*?```/g, '')
      .replace(/`[^`\n]*`/g, '');
    for (const [, link] of readme.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(link)) continue;
      const p = `package/${path.posix.normalize(link).replace(/\/$/, '')}`;
      assert.ok(files.some((f) => f === p || f.startsWith(`${p}/`)), `README link ${link} is in the package`);
    }

    // Install into an empty folder: offline (nothing from a registry), no Rust on PATH.
    const app = path.join(work, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), '{"name":"app","private":true}\n');
    const env = { ...process.env, PATH: pathWithoutRust(), npm_config_cache: path.join(work, 'npm-cache') };
    delete env.CARGO_HOME;
    delete env.RUSTUP_HOME;
    for (const k of Object.keys(env)) if (k.startsWith('npm_') && k !== 'npm_config_cache') delete env[k];
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    execFileSync(npm, ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', tarballs.main, tarballs.platform], {
      cwd: app,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      shell: process.platform === 'win32',
    });
    assert.ok(!fs.existsSync(path.join(app, 'node_modules', '@enttok', 'backend', `${pkg.napi.binaryName}.${hostSuffix()}.node`)));

    const script = `
      const assert = require('node:assert/strict');
      const os = require('node:os'); const fs = require('node:fs'); const path = require('node:path');
      const { Backend } = require('@enttok/backend');
      const { exposeBackend } = require('@enttok/backend/electron');
      const { createBackendClient } = require('@enttok/backend/renderer');
      assert.equal(typeof exposeBackend, 'function');
      assert.equal(typeof createBackendClient, 'function');
      assert.ok(require.resolve('@enttok/backend').includes('node_modules'));
      (async () => {
        const esm = await import('@enttok/backend');
        assert.equal(esm.Backend, Backend);
        const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'enttok-installed-'));
        const backend = await Backend.open({ dataDir, scheduler: false });
        const { job_id } = await backend.createJob({ type: 'demo', payload: { simulate_ms: 10 } });
        let job;
        for (let i = 0; i < 500; i += 1) {
          job = await backend.getJob(job_id);
          if (job.status === 'succeeded') break;
          await new Promise((r) => setTimeout(r, 10));
        }
        assert.equal(job.status, 'succeeded');
        await backend.close();
        console.log('INSTALLED-OK ' + require.resolve('@enttok/backend-${hostSuffix()}'));
      })().catch((e) => { console.error(e); process.exit(1); });
    `;
    const result = execFileSync(process.execPath, ['-e', script], { cwd: app, env, encoding: 'utf8' });
    assert.match(result, /INSTALLED-OK .*node_modules.*backend-/);
    // Without the platform package the error names it and the targets.
    fs.rmSync(path.join(app, 'node_modules', '@enttok', `backend-${hostSuffix()}`), { recursive: true });
    const message = execFileSync(process.execPath, ['-e',
      "try { require('@enttok/backend'); console.log('loaded') } catch (e) { console.log(e.code, e.message) }"],
    { cwd: app, env, encoding: 'utf8' });
    assert.match(message, /^ERR_ENTTOK_NATIVE_BINDING /);
    assert.match(message, new RegExp(`npm install @enttok/backend-${hostSuffix()}@${pkg.version.replace(/\./g, '\\.')}`));
    assert.match(message, /Prebuilt targets: linux-x64-gnu, linux-arm64-gnu, darwin-x64, darwin-arm64, win32-x64-msvc, win32-arm64-msvc/);
    assert.doesNotMatch(message, /npm has a bug/);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});

test('loader: a missing or broken binary gives one clear error', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'enttok-loader-'));
  try {
    for (const f of ['index.js', 'loader.js', 'binding.js', 'package.json']) fs.copyFileSync(path.join(root, f), path.join(dir, f));
    const run = () => JSON.parse(execFileSync(process.execPath, ['-e', `try { require(${JSON.stringify(dir)}); console.log('null') } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, pkg: e.platformPackage, targets: e.targets })) }`], { encoding: 'utf8', cwd: dir }));
    const missing = run();
    assert.equal(missing.code, 'ERR_ENTTOK_NATIVE_BINDING');
    assert.equal(missing.pkg, `@enttok/backend-${hostSuffix()}`);
    assert.equal(missing.targets.length, 6);
    assert.match(missing.message, /could not be loaded/);
    assert.match(missing.message, /asarUnpack/);
    // A file that is not a loadable addon (wrong platform, truncated download).
    fs.writeFileSync(path.join(dir, `${pkg.napi.binaryName}.${hostSuffix()}.node`), 'not an addon');
    const broken = run();
    assert.equal(broken.code, 'ERR_ENTTOK_NATIVE_BINDING');
    assert.match(broken.message, /Load errors: .*\.node/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
