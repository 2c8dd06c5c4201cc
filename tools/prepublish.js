#!/usr/bin/env node
'use strict';
// prepublishOnly of @enttok/backend. A real publish needs the six platform binaries in npm/*
// (the release workflow puts them there with `napi artifacts`); then `napi prepublish` publishes
// the platform packages and writes `optionalDependencies` on all six into package.json before npm
// packs the main package. Without them:
//  - `npm publish --dry-run` only says what is missing and succeeds (nothing is published);
//  - a real `npm publish` stops here, so a main package without its platform packages is never
//    published by hand.
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const dryRun = process.env.npm_config_dry_run === 'true';

const missing = [];
for (const dir of fs.readdirSync(path.join(root, 'npm'))) {
  const manifest = JSON.parse(fs.readFileSync(path.join(root, 'npm', dir, 'package.json'), 'utf8'));
  if (!fs.existsSync(path.join(root, 'npm', dir, manifest.main))) missing.push(`npm/${dir}/${manifest.main}`);
  if (manifest.version !== pkg.version) missing.push(`npm/${dir} at version ${pkg.version} (is ${manifest.version}; run napi version)`);
}

if (missing.length > 0) {
  const text = `prepublish: missing ${missing.join(', ')}.\nPublish through the release workflow (.github/workflows/release.yml: push a v${pkg.version} tag); it builds all six targets.`;
  if (dryRun) {
    console.warn(`${text}\nDry run: going on without the platform packages (npm run pack:local packs this machine's).`);
    process.exit(0);
  }
  console.error(text);
  process.exit(1);
}

const napi = path.join(root, 'node_modules', '@napi-rs', 'cli', 'dist', 'cli.js');
execFileSync(process.execPath, [napi, 'prepublish', '-t', 'npm', '--no-gh-release', ...(dryRun ? ['--dry-run'] : [])], {
  cwd: root,
  stdio: 'inherit',
});
