'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { Backend, tempDir, open } = require('./helpers');

test('open creates the data and log directories and the database', async () => {
  const dataDir = path.join(tempDir(), 'nested', 'data');
  const backend = await Backend.open({ dataDir, scheduler: false });
  assert.ok(fs.existsSync(path.join(dataDir, 'index.db')));
  assert.ok(fs.existsSync(path.join(dataDir, 'logs')));
  assert.ok(fs.existsSync(path.join(dataDir, '.enttok-backend.lock')));
  const health = await backend.health();
  assert.equal(health.status, 'ok');
  assert.match(health.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  await backend.close();
});

test('close is idempotent and every method then rejects with E_CLOSED', async () => {
  const { backend } = await open();
  await backend.close();
  await backend.close();
  for (const call of [
    () => backend.health(),
    () => backend.status(),
    () => backend.getSettings(),
    () => backend.createJob({ type: 'demo' }),
    () => backend.getJob('job_x'),
    () => backend.startHttp(),
  ]) {
    await assert.rejects(call(), (err) => err.code === 'E_CLOSED' && err.status === 503);
  }
  const off = backend.subscribe(() => {});
  assert.equal(typeof off, 'function');
  off();
});

test('a second open of the same dataDir is E_CONFLICT, in this process and another', async () => {
  const { backend, dataDir } = await open();
  await assert.rejects(Backend.open({ dataDir }), (err) => err.code === 'E_CONFLICT' && err.status === 409);
  const child = spawnSync(process.execPath, ['-e', `
    const { Backend } = require(${JSON.stringify(path.resolve(__dirname, '..'))});
    Backend.open({ dataDir: ${JSON.stringify(dataDir)}, scheduler: false })
      .then(() => { console.log('opened'); process.exit(0); })
      .catch((e) => { console.log(e.code); process.exit(0); });
  `], { encoding: 'utf8', timeout: 20000 });
  assert.equal(child.stdout.trim(), 'E_CONFLICT');
  await backend.close();
  // Released on close: it opens again.
  const again = await Backend.open({ dataDir, scheduler: false });
  await again.close();
});

test('bad options reject with E_INVALID_INPUT', async () => {
  await assert.rejects(Backend.open(), (e) => e.code === 'E_INVALID_INPUT');
  await assert.rejects(Backend.open({}), (e) => e.code === 'E_INVALID_INPUT' && e.detail[0].loc.join('.') === 'options.dataDir');
  await assert.rejects(Backend.open({ dataDir: 42 }), (e) => e.code === 'E_INVALID_INPUT');
  await assert.rejects(Backend.open({ dataDir: tempDir(), workers: 0 }), (e) => e.code === 'E_INVALID_INPUT');
  await assert.rejects(Backend.open({ dataDir: tempDir(), workers: 65 }), (e) => e.code === 'E_INVALID_INPUT');
  await assert.rejects(Backend.open({ dataDir: tempDir(), secretKey: Buffer.alloc(16) }), (e) => e.code === 'E_INVALID_INPUT');
  await assert.rejects(Backend.open({ dataDir: tempDir(), secretKey: 'not a buffer' }), (e) => e.code === 'E_INVALID_INPUT');
  const ok = await Backend.open({ dataDir: tempDir(), secretKey: Buffer.alloc(32, 7), scheduler: false });
  await ok.close();
});

test('status reports real numbers', async () => {
  const { backend } = await open({ workers: 3 });
  const status = await backend.status();
  assert.deepEqual(Object.keys(status), ['uptime_sec', 'queue_depth', 'workers', 'scheduler', 'waiting_for_handler']);
  assert.deepEqual(status.workers, { active: 0, idle: 3 });
  assert.deepEqual(status.scheduler, { running: false, jobs: 0 });
  assert.equal(status.queue_depth, 0);
  await backend.close();

  const withScheduler = await Backend.open({ dataDir: tempDir() });
  const s2 = await withScheduler.status();
  assert.deepEqual(s2.scheduler, { running: true, jobs: 3 });
  await withScheduler.updateSettings({ calendar_sync_interval_sec: 0 });
  assert.deepEqual((await withScheduler.status()).scheduler, { running: true, jobs: 2 });
  await withScheduler.close();
});

test('settings are validated, persisted and survive a reopen', async () => {
  const { backend, dataDir } = await open();
  const defaults = await backend.getSettings();
  assert.deepEqual(defaults, {
    atlassian_sync_interval_sec: 600,
    calendar_sync_interval_sec: 900,
    claude_max_concurrent: 2,
    claude_session_max_messages: 20,
    claude_session_max_chars: 12000,
    claude_output_cap_bytes: 1048576,
    claude_mcp: true,
    daily_notes_folder: 'daily',
    daily_note_template: "---\ndate: {{date}}\ntags: [daily]\n---\n\n# {{date}}\n\n## Today's Tasks\n\n-\n\n## Tomorrow's Plan\n\n-\n\n## Notes\n",
    github_repo_paths: [],
    github_sync_interval_sec: 900,
    summarize_prompt: defaults.summarize_prompt,
  });
  assert.ok(defaults.summarize_prompt.startsWith('오늘 한 일을 요약해줘.'));
  const updated = await backend.updateSettings({ claude_max_concurrent: 4, calendar_sync_interval_sec: 0 });
  assert.equal(updated.claude_max_concurrent, 4);
  assert.equal(updated.calendar_sync_interval_sec, 0);
  await assert.rejects(backend.updateSettings({ nope: 1 }), (e) =>
    e.code === 'E_INVALID_INPUT' && e.status === 422 && e.detail[0].type === 'extra_forbidden' &&
    JSON.stringify(e.detail[0].loc) === '["body","nope"]');
  await assert.rejects(backend.updateSettings({ claude_max_concurrent: 'many' }), (e) => e.detail[0].type === 'int_parsing');
  await assert.rejects(backend.updateSettings({ claude_max_concurrent: 99 }), (e) => e.detail[0].type === 'less_than_equal');
  await assert.rejects(backend.updateSettings({ calendar_sync_interval_sec: 10 }), (e) => e.detail[0].type === 'value_error');
  await assert.rejects(backend.updateSettings('x'), (e) => e.code === 'E_INVALID_INPUT');
  await backend.close();
  const reopened = await Backend.open({ dataDir, scheduler: false });
  assert.equal((await reopened.getSettings()).claude_max_concurrent, 4);
  await reopened.close();
});
