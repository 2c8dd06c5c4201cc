'use strict';
// GitHub activity from JS and over HTTP (CONTRACT.md §18): a fake `gh` speaking the real
// `--json` field sets and a REAL git repository (two authors, a non-ASCII message, a commit on
// another branch, credentials in the remote URL).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { waitForJob, waitFor } = require('./helpers');
const { setup, at, localIso, git, http } = require('./fixtures/github');

test('githubStatus and githubDailySummary: the reference objects, the same over HTTP', async () => {
  const env = await setup();
  const { backend } = env;
  try {
    assert.deepEqual((await backend.getSettings()).github_repo_paths, [env.repo]);
    const status = await backend.githubStatus();
    assert.deepEqual(status, {
      cli: { found: true, path: path.join(env.dir, 'gh'), version: '2.63.2', error: null },
      auth: { authenticated: true, username: 'octo-kim', hostname: 'github.com', error: null },
    });
    const summary = await backend.githubDailySummary({ date: '2026-01-12' });
    assert.equal(summary.username, 'octo-kim');
    assert.deepEqual(summary.prs.reviewed.map((p) => p.number), [7], 'reviewed minus authored');
    assert.deepEqual(summary.prs.authored[0], { number: 34, title: 'Add search', url: 'https://github.com/acme/app/pull/34', state: 'open', repository: 'acme/app', created_at: '2026-01-02T01:00:00Z', updated_at: at(14).toISOString().replace('.000', '') });
    assert.deepEqual(summary.commits.map((c) => c.message), ['wip: branch', '수정: 한글 메시지', 'feat: yesterday']);
    assert.deepEqual(summary.commits[0], { sha: env.branch.slice(0, 7), message: 'wip: branch', repository: 'acme/app', url: `https://github.com/acme/app/commit/${env.branch}`, created_at: localIso(at(15, 45)) });
    assert.ok(!JSON.stringify(summary).includes('ghp_secret'));
    assert.deepEqual(summary.stats, { total_prs_authored: 1, total_prs_reviewed: 1, total_commits: 3 });
    const day = await backend.githubDailySummary({ date: '2026-01-12', day_only: true });
    assert.equal(day.stats.total_commits, 2);
    assert.ok(fs.readFileSync(path.join(env.dir, 'gh.log'), 'utf8').includes('search prs --author=@me --updated=>=2026-01-12 --json number,title,url,state,repository,createdAt,updatedAt --limit 50'));

    await assert.rejects(backend.githubDailySummary({ date: '12.01.2026' }), (e) => e.code === 'E_INVALID_INPUT' && e.status === 422);

    const info = await backend.startHttp();
    const h = await http(info, 'GET', '/github/status');
    assert.equal(h.status, 200);
    assert.deepEqual(h.body, status);
    const hs = await http(info, 'GET', '/github/summary?date=2026-01-12&day_only=true');
    assert.deepEqual(hs.body, day);
    assert.equal((await http(info, 'GET', '/github/summary?date=nope')).status, 422);

    fs.writeFileSync(path.join(env.dir, 'notlogged'), '');
    const off = await backend.githubStatus();
    assert.deepEqual(off.auth, { authenticated: false, username: null, hostname: 'github.com', error: "Not authenticated. Run 'gh auth login' in your terminal." });
  } finally {
    await backend.close();
  }
});

test('syncGithub writes activity rows once; listActivityEvents and HTTP see them', async () => {
  const env = await setup();
  const { backend } = env;
  try {
    const info = await backend.startHttp();
    const created = await http(info, 'POST', '/github/sync', { since: '2026-01-12' });
    assert.equal(created.status, 200);
    const job = await waitForJob(backend, created.body.job_id);
    assert.equal(job.status, 'succeeded', JSON.stringify(job));
    assert.deepEqual(job.result, { processed: { prs_authored: 1, prs_reviewed: 1, commits: 2 }, total: 4 });
    const rows = await backend.listActivityEvents({ start: at(0), end: at(23, 59), sources: 'github' });
    const byId = Object.fromEntries(rows.map((r) => [r.id, r]));
    assert.deepEqual(Object.keys(byId).sort(), [
      `github:commit:acme/app:${env.branch.slice(0, 7)}`,
      `github:commit:acme/app:${env.hangul.slice(0, 7)}`,
      'github:pr:authored:acme/app:34',
      'github:pr:reviewed:acme/lib:7',
    ].sort());
    assert.equal(byId['github:pr:reviewed:acme/lib:7'].title, 'PR #7: Fix 버그');
    assert.equal(byId['github:pr:reviewed:acme/lib:7'].description, 'Reviewed (merged) in acme/lib');
    const again = await backend.syncGithub({ since: '2026-01-12' });
    assert.equal((await waitForJob(backend, again.job_id)).result.total, 0);
  } finally {
    await backend.close();
  }
});

test('cancel kills the gh process tree; close() ends a pending call', async () => {
  const env = await setup();
  const { backend } = env;
  const alive = (pid) => { try { process.kill(pid, 0); return !fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].startsWith('Z'); } catch { return false; } };
  fs.writeFileSync(path.join(env.dir, 'hang'), '');
  const { job_id } = await backend.syncGithub();
  const pid = Number(await waitFor(() => fs.existsSync(path.join(env.dir, 'gh.child')) && fs.readFileSync(path.join(env.dir, 'gh.pid'), 'utf8').trim(), { what: 'gh to start' }));
  const child = Number(fs.readFileSync(path.join(env.dir, 'gh.child'), 'utf8').trim());
  await backend.cancelJob(job_id);
  await waitFor(() => !alive(pid) && !alive(child), { timeout: 8000, what: 'the gh tree to die' });
  assert.equal((await waitForJob(backend, job_id)).status, 'canceled');

  fs.rmSync(path.join(env.dir, 'gh.pid'));
  fs.rmSync(path.join(env.dir, 'gh.child'));
  // The rejection may arrive before close() resolves: observe it from the start.
  const pending = backend.githubDailySummary().then(() => null, (e) => e);
  await waitFor(() => fs.existsSync(path.join(env.dir, 'gh.child')), { what: 'gh to hang' });
  const started = Date.now();
  await backend.close();
  const outcome = await pending;
  assert.equal(outcome && outcome.code, 'E_CLOSED');
  assert.ok(Date.now() - started < 8000);
});
