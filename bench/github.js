'use strict';
// Issue 17 benchmarks from JS. Figures only: nothing asserts on time.
//
//   node bench/github.js                  both scenarios (build first: npm run build:release)
//   --runs=N (default 3)                  runs per figure; the best run is reported
//
// 1. `activityStream` for one day among 100,000 `activity_events` rows (Jira, Confluence and
//    GitHub, 500 a day over 200 days) and 10,000 calendar events (50 a day, one primary
//    calendar), timed from JS: the call, the JSON crossing napi, the objects in JS. The rows
//    are written with the `sqlite3` CLI into the backend's own file while it is closed (the
//    addon has no bulk-insert API), then the backend is reopened.
// 2. `githubDailySummary` over 20 git repositories of 5,000 commits each (half by the
//    configured author; made with `git fast-import`), warm page cache, a fake `gh` that answers
//    at once. Next to it, the app's way: per repository `rev-parse`, `remote get-url`,
//    `config --get user.name` and the `git log` of reference B.4, run one after the other from
//    Node with `execFile` (what Electron main pays when the calls are serialised).

const { execFileSync, execFile } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { promisify } = require('node:util');
const lib = require('./lib');
const { Backend } = require('..');

const run = promisify(execFile);
const RUNS = Number(lib.flag('runs', '3'));
const DAY_S = 86400;

/** Local midnight of 2026-03-01 (the first seeded day), epoch seconds. */
const BASE = Math.floor(new Date(2026, 2, 1).getTime() / 1000);

function seedSql() {
  return `
PRAGMA journal_mode=WAL;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 99999)
INSERT INTO activity_events (event_id, source, account_id, event_type, title, description, url,
                             actor, event_time, event_ts, created_at, updated_at)
SELECT CASE i % 3 WHEN 2 THEN 'github:commit:acme/app:' || printf('%07x', i) ELSE 'e' || i END,
       CASE i % 3 WHEN 0 THEN 'jira' WHEN 1 THEN 'confluence' ELSE 'github' END,
       'acc', CASE i % 3 WHEN 2 THEN 'commit' ELSE 'issue.updated' END,
       'Activity title ' || i, 'Status changed to Done', 'https://acme.atlassian.net/browse/ABC-' || i,
       'Kim', strftime('%Y-%m-%dT%H:%M:%SZ', ${BASE} + i * 172, 'unixepoch'), ${BASE} + i * 172,
       '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'
  FROM n;
INSERT INTO calendar_calendars (account_id, calendar_id, provider, name, is_primary, selected, created_at, updated_at)
VALUES ('acc', 'kim@example.com', 'google', 'Kim', 1, 1, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 9999)
INSERT INTO calendar_events (account_id, calendar_id, event_id, title, start_time, end_time,
                             start_ts, end_ts, all_day, location, status)
SELECT 'acc', 'kim@example.com', 'ev' || i, 'Meeting ' || i,
       strftime('%Y-%m-%dT%H:%M:%SZ', ${BASE} + i * 1728, 'unixepoch'),
       strftime('%Y-%m-%dT%H:%M:%SZ', ${BASE} + i * 1728 + 1800, 'unixepoch'),
       ${BASE} + i * 1728, ${BASE} + i * 1728 + 1800, 0, 'Room 1', 'confirmed'
  FROM n;
COMMIT;
`;
}

async function streamScenario(report) {
  const dir = lib.tempDir('stream');
  const dataDir = path.join(dir, 'data');
  const projects = path.join(dir, 'projects');
  fs.mkdirSync(projects);
  let backend = await Backend.open({ dataDir, scheduler: false, claudeProjectsDir: projects });
  await backend.close();
  execFileSync('sqlite3', [path.join(dataDir, 'index.db')], { input: seedSql() });
  backend = await Backend.open({ dataDir, scheduler: false, claudeProjectsDir: projects });
  const date = '2026-05-15';
  const first = await backend.activityStream({ date });
  console.log(`  activityStream: ${first.length} items for ${date}`);
  const p50s = [];
  const p95s = [];
  for (let r = 0; r < RUNS; r += 1) {
    for (let i = 0; i < 20; i += 1) await backend.activityStream({ date });
    const times = [];
    for (let i = 0; i < 200; i += 1) {
      const t = lib.nowMs();
      await backend.activityStream({ date });
      times.push(lib.nowMs() - t);
    }
    times.sort((a, b) => a - b);
    p50s.push(lib.quantile(times, 0.5));
    p95s.push(lib.quantile(times, 0.95));
  }
  await backend.close();
  report.add('activityStream, a day among 100k rows + 10k events, p50', p50s, 'ms', { better: 'lower', target: '< 5 ms', meets: (v) => v < 5, digits: 2 });
  report.add('activityStream, same, p95', p95s, 'ms', { better: 'lower', digits: 2 });
}

/** A repository of `count` commits (every other one by Kim Dev), one per 10 minutes. */
function makeRepo(dir, count) {
  fs.mkdirSync(dir);
  execFileSync('git', ['init', '-q', '-b', 'main', dir]);
  const start = Math.floor(Date.UTC(2025, 0, 1) / 1000);
  const parts = [];
  for (let i = 1; i <= count; i += 1) {
    const who = i % 2 ? 'Kim Dev <kim@example.com>' : 'Lee Other <lee@example.com>';
    const msg = `change ${i}: adjust the thing`;
    parts.push(`commit refs/heads/main\nmark :${i}\nauthor ${who} ${start + i * 600} +0900\ncommitter ${who} ${start + i * 600} +0900\ndata ${Buffer.byteLength(msg)}\n${msg}\n${i > 1 ? `from :${i - 1}\n` : ''}\n`);
  }
  execFileSync('git', ['-C', dir, 'fast-import', '--quiet'], { input: parts.join(''), maxBuffer: 1 << 26 });
  execFileSync('git', ['-C', dir, 'config', 'user.name', 'Kim Dev']);
  execFileSync('git', ['-C', dir, 'remote', 'add', 'origin', `git@github.com:acme/${path.basename(dir)}.git`]);
}

/** The app's per-repository calls, one after the other (reference B.4). */
async function appSequential(repos) {
  let commits = 0;
  for (const repo of repos) {
    await run('git', ['-C', repo, 'rev-parse', '--is-inside-work-tree']);
    await run('git', ['-C', repo, 'remote', 'get-url', 'origin']);
    await run('git', ['-C', repo, 'config', '--get', 'user.name']);
    const { stdout } = await run('git', ['-C', repo, 'log', '--all', '--pretty=format:%H%x1f%aI%x1f%s', '--max-count', '200', '--author=Kim Dev'], { maxBuffer: 1024 * 1024 });
    commits += stdout.trim().split('\n').length;
  }
  return commits;
}

async function summaryScenario(report) {
  const dir = lib.tempDir('summary');
  const gh = path.join(dir, 'gh');
  fs.writeFileSync(gh, `#!/bin/sh
case "$1" in
  --version) echo 'gh version 2.63.2 (2024-12-05)' ;;
  auth) echo '{"hosts":{"github.com":[{"state":"success","active":true,"host":"github.com","login":"kim","tokenSource":"keyring","gitProtocol":"https"}]}}' ;;
  *) echo '[]' ;;
esac
`, { mode: 0o755 });
  const repos = [];
  const t0 = lib.nowMs();
  for (let i = 0; i < 20; i += 1) {
    const repo = path.join(dir, `repo${i}`);
    makeRepo(repo, 5000);
    repos.push(repo);
  }
  console.log(`  made 20 repositories of 5,000 commits in ${lib.round((lib.nowMs() - t0) / 1000)} s`);
  const backend = await Backend.open({ dataDir: path.join(dir, 'data'), scheduler: false, ghPath: gh });
  await backend.updateSettings({ github_repo_paths: repos });
  const warm = await backend.githubDailySummary({ date: '2025-01-02' });
  console.log(`  githubDailySummary: ${warm.stats.total_commits} commits`);
  await appSequential(repos);
  const ours = [];
  const app = [];
  for (let r = 0; r < RUNS; r += 1) {
    let t = lib.nowMs();
    await backend.githubDailySummary({ date: '2025-01-02' });
    ours.push(lib.nowMs() - t);
    t = lib.nowMs();
    await appSequential(repos);
    app.push(lib.nowMs() - t);
  }
  await backend.close();
  report.add('githubDailySummary, 20 repos × 5,000 commits (warm)', ours, 'ms', { better: 'lower', target: '< 1000 ms', meets: (v) => v < 1000 });
  report.add("the app's sequential git calls, same repos", app, 'ms', { better: 'lower' });
}

async function main() {
  const report = new lib.Report('github');
  await streamScenario(report);
  await summaryScenario(report);
  report.finish();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
