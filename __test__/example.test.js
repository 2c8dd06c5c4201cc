'use strict';
// examples/electron in --smoke mode under a fake Electron (fixtures/electron-example-harness.js):
// the page, through the bridge, runs a job, lists calendar events, subscribes and checks an
// error; then the app quits through before-quit + close().
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

test('examples/electron: the smoke run passes under a fake Electron', () => {
  const r = spawnSync(process.execPath, [path.join(__dirname, 'fixtures', 'electron-example-harness.js')], {
    encoding: 'utf8',
    timeout: 60000,
  });
  assert.equal(r.status, 0, `exit ${r.status}\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /smoke report: \{"ok":true/);
  assert.match(r.stdout, /backend closed/);
});
