'use strict';
// The bridge's types (tsc on __test__/types/bridge-types.ts) and the release workflow's YAML.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');

test('types: electron.d.ts and renderer.d.ts are derived from Backend and refuse main-only methods', () => {
  const tsc = require.resolve('typescript/bin/tsc');
  try {
    execFileSync(process.execPath, [tsc, '--noEmit', '--strict', '--skipLibCheck', '--target', 'es2022',
      '--module', 'nodenext', '--moduleResolution', 'nodenext', path.join(__dirname, 'types', 'bridge-types.ts')], {
      cwd: root,
      encoding: 'utf8',
      stdio: 'pipe',
    });
  } catch (e) {
    assert.fail(`tsc failed:\n${e.stdout}${e.stderr}`);
  }
});

test('workflow: .github/workflows/*.yml parse and have the release jobs', () => {
  const yaml = require('js-yaml');
  const dir = path.join(root, '.github', 'workflows');
  const files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f));
  assert.ok(files.includes('release.yml'));
  for (const f of files) {
    const doc = yaml.load(fs.readFileSync(path.join(dir, f), 'utf8'));
    assert.equal(typeof doc, 'object', f);
    assert.ok(doc.on && doc.jobs, `${f} has on and jobs`);
    for (const [name, job] of Object.entries(doc.jobs)) {
      assert.ok(job['runs-on'], `${f}: ${name} has runs-on`);
      assert.ok(Array.isArray(job.steps) && job.steps.length > 0, `${f}: ${name} has steps`);
      for (const need of [].concat(job.needs || [])) assert.ok(doc.jobs[need], `${f}: ${name} needs ${need}`);
    }
  }
  const release = yaml.load(fs.readFileSync(path.join(dir, 'release.yml'), 'utf8'));
  const pkg = require('../package.json');
  const built = release.jobs.build.strategy.matrix.settings.map((s) => s.target).sort();
  assert.deepEqual(built, [...pkg.napi.targets].sort(), 'the build matrix is package.json napi.targets');
  const tested = release.jobs.test.strategy.matrix.settings.map((s) => s.target).sort();
  assert.deepEqual(tested, built, 'every built target is tested');
  assert.deepEqual(release.jobs.test.strategy.matrix.node, ['20', '22']);
  assert.deepEqual(release.jobs['electron-smoke'].strategy.matrix.settings.map((s) => s.host).sort(), ['macos-latest', 'ubuntu-latest']);
  assert.deepEqual([...release.jobs.publish.needs].sort(), ['electron-smoke', 'lint', 'test']);
  assert.equal(release.jobs.publish.permissions['id-token'], 'write');
  const publishStep = release.jobs.publish.steps.map((s) => s.run || '').join('\n');
  assert.match(publishStep, /napi artifacts/);
  assert.match(publishStep, /npm publish --access public --provenance/);
});

test('package: platform packages are complete and at the package version', () => {
  const pkg = require('../package.json');
  const dirs = fs.readdirSync(path.join(root, 'npm')).sort();
  assert.equal(dirs.length, pkg.napi.targets.length);
  for (const dir of dirs) {
    const m = JSON.parse(fs.readFileSync(path.join(root, 'npm', dir, 'package.json'), 'utf8'));
    assert.equal(m.name, `${pkg.name}-${dir}`);
    assert.equal(m.version, pkg.version, `${dir} version`);
    assert.equal(m.main, `${pkg.napi.binaryName}.${dir}.node`);
    assert.deepEqual(m.files, [m.main]);
    assert.deepEqual(m.os, [dir.split('-')[0]]);
    assert.deepEqual(m.cpu, [dir.split('-')[1]]);
    if (dir.startsWith('linux-')) assert.deepEqual(m.libc, ['glibc']);
    assert.equal(m.license, pkg.license);
    assert.deepEqual(m.repository, pkg.repository);
  }
  for (const sub of ['.', './electron', './renderer']) {
    for (const cond of ['types', 'import', 'require']) {
      assert.ok(fs.existsSync(path.join(root, pkg.exports[sub][cond])), `${sub} ${cond}`);
    }
  }
  assert.ok(fs.existsSync(path.join(root, 'LICENSE')));
});
