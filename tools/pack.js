#!/usr/bin/env node
'use strict';
// Packs the npm tarballs of this machine's build, as a release would publish them:
//   - the main package `@enttok/backend-<version>.tgz`, whose package.json names all six
//     platform packages in `optionalDependencies` at this version (what `napi prepublish` adds
//     before a real publish);
//   - the platform package of this machine (e.g. `@enttok/backend-linux-x64-gnu`) with the built
//     `.node` file.
// Usage: node tools/pack.js [--out dir] [--node path/to/addon.node] [--target linux-x64-gnu]
// `npm run pack:local` builds the release binary first; the test `__test__/pack.test.js` packs
// the debug binary `npm test` has just built (a release build costs minutes on CI).
// Prints the two tarball paths as JSON on the last line of stdout.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

/** Package suffix of a Rust target triple, as `napi` names the npm/ folders. */
function suffixOfTriple(triple) {
  const [cpu, , sys, env] = triple.split('-');
  const arch = { x86_64: 'x64', aarch64: 'arm64' }[cpu] || cpu;
  if (sys === 'linux') return `linux-${arch}-${env || 'gnu'}`;
  if (sys === 'windows') return `win32-${arch}-${env || 'msvc'}`;
  if (sys === 'darwin') return `darwin-${arch}`;
  throw new Error(`unknown target ${triple}`);
}

function hostSuffix() {
  if (process.platform === 'linux') return `linux-${process.arch}-gnu`;
  if (process.platform === 'win32') return `win32-${process.arch}-msvc`;
  return `${process.platform}-${process.arch}`;
}

const npmCmd = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function npmPack(dir, out) {
  const stdout = execFileSync(npmCmd, ['pack', '--json', '--ignore-scripts', '--pack-destination', out], {
    cwd: dir,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    shell: process.platform === 'win32',
  });
  const [info] = JSON.parse(stdout);
  return path.join(out, info.filename);
}

/** The package.json that is published: no dev tooling, all six platform packages optional. */
function publishedManifest() {
  const m = { ...pkg };
  delete m.devDependencies;
  delete m.overrides;
  delete m.scripts;
  m.optionalDependencies = {};
  for (const triple of pkg.napi.targets) {
    m.optionalDependencies[`${pkg.name}-${suffixOfTriple(triple)}`] = pkg.version;
  }
  return m;
}

function copyEntry(rel, stage) {
  const from = path.join(root, rel);
  if (!fs.existsSync(from)) return; // e.g. docs/ before any branch adds it
  fs.cpSync(from, path.join(stage, rel), { recursive: true });
}

function main() {
  const out = path.resolve(arg('out', path.join(root, 'dist')));
  const target = arg('target', hostSuffix());
  const nodeFile = path.resolve(arg('node', path.join(root, `${pkg.napi.binaryName}.${target}.node`)));
  if (!fs.existsSync(nodeFile)) {
    throw new Error(`no built addon at ${nodeFile}: run npm run build:release (or pass --node)`);
  }
  const platformDir = path.join(root, 'npm', target);
  if (!fs.existsSync(path.join(platformDir, 'package.json'))) {
    throw new Error(`no platform package npm/${target} (targets: ${pkg.napi.targets.join(', ')})`);
  }
  fs.mkdirSync(out, { recursive: true });
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'enttok-pack-'));
  try {
    // Main package.
    const mainStage = path.join(stage, 'main');
    fs.mkdirSync(mainStage);
    for (const rel of [...pkg.files, 'README.md']) copyEntry(rel, mainStage);
    fs.writeFileSync(path.join(mainStage, 'package.json'), `${JSON.stringify(publishedManifest(), null, 2)}\n`);
    const mainTgz = npmPack(mainStage, out);

    // Platform package of this machine.
    const platStage = path.join(stage, 'platform');
    fs.cpSync(platformDir, platStage, { recursive: true });
    const platPkg = JSON.parse(fs.readFileSync(path.join(platStage, 'package.json'), 'utf8'));
    if (platPkg.version !== pkg.version) {
      throw new Error(`npm/${target}/package.json is at ${platPkg.version}, the package at ${pkg.version}: run npm version (napi version)`);
    }
    fs.copyFileSync(nodeFile, path.join(platStage, platPkg.main));
    fs.copyFileSync(path.join(root, 'LICENSE'), path.join(platStage, 'LICENSE'));
    const platTgz = npmPack(platStage, out);

    process.stdout.write(`${JSON.stringify({ main: mainTgz, platform: platTgz })}\n`);
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

main();
