'use strict';
// The activity stream and suggestions from JS and over HTTP (CONTRACT.md §19): GitHub rows of a
// sync (fake gh + real git), a Claude Code transcript, a fake `claude` that records its argv;
// the prompt compared byte for byte with the app's formatter written again here (reference C.4).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { waitForJob, waitFor, record } = require('./helpers');
const { setup, at, http } = require('./fixtures/github');

const DEFAULT_PROMPT = '오늘 한 일을 요약해줘.\n\n## 링크 규칙\n- Jira, Confluence(Wiki) 항목: 반드시 마크다운 링크로 작성 (예: [제목](URL))\n- GitHub PR (본인이 생성한 것): 마크다운 링크로 작성\n- GitHub 커밋, 리뷰: 링크 없이 텍스트로만 작성\n- Claude 세션: 링크 없이 텍스트로만 작성\n\n## 출력 형식\n- 간결하고 명확하게 작성\n- 주요 작업을 카테고리별로 그룹핑\n- 각 항목은 불릿 포인트로 작성';

// date-fns formatDistanceToNow(date, {addSuffix: true}), en-US (v3 formatDistance).
function differenceInMonths(later, earlier) {
  let months = (later.getFullYear() - earlier.getFullYear()) * 12 + later.getMonth() - earlier.getMonth();
  const rest = (d) => [d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds(), d.getMilliseconds()];
  const a = rest(later), b = rest(earlier);
  const before = a.findIndex((v, i) => v !== b[i]);
  if (months > 0 && before >= 0 && a[before] < b[before]) months -= 1;
  return Math.max(months, 0);
}
function formatDistanceToNow(ts, now) {
  const later = new Date(Math.max(ts, now)), earlier = new Date(Math.min(ts, now));
  const seconds = Math.trunc((later - earlier) / 1000);
  const offset = (earlier.getTimezoneOffset() - later.getTimezoneOffset()) * 60;
  const minutes = Math.round((seconds - offset) / 60);
  const n = (count, one, many) => (count === 1 ? one : many.replace('{{count}}', count));
  let text;
  if (minutes < 2) text = minutes === 0 ? 'less than a minute' : n(minutes, '1 minute', '{{count}} minutes');
  else if (minutes < 45) text = n(minutes, '1 minute', '{{count}} minutes');
  else if (minutes < 90) text = 'about 1 hour';
  else if (minutes < 1440) text = n(Math.round(minutes / 60), 'about 1 hour', 'about {{count}} hours');
  else if (minutes < 2520) text = '1 day';
  else if (minutes < 43200) text = n(Math.round(minutes / 1440), '1 day', '{{count}} days');
  else if (minutes < 86400) text = n(Math.round(minutes / 43200), 'about 1 month', 'about {{count}} months');
  else {
    const months = differenceInMonths(later, earlier);
    if (months < 12) text = n(Math.round(minutes / 43200), '1 month', '{{count}} months');
    else {
      const years = Math.trunc(months / 12), m = months % 12;
      if (m < 3) text = n(years, 'about 1 year', 'about {{count}} years');
      else if (m < 9) text = n(years, 'over 1 year', 'over {{count}} years');
      else text = n(years + 1, 'almost 1 year', 'almost {{count}} years');
    }
  }
  return ts > now ? `in ${text}` : `${text} ago`;
}

const LABELS = { calendar: 'Calendar', gmail: 'Gmail', jira: 'Jira', confluence: 'Confluence', github: 'GitHub', slack: 'Slack', claude: 'Claude Code' };
const truncate = (text, max) => (text.length <= max ? text : text.slice(0, max) + '...');

/** `formatActivitiesAsContext` + the assembly of AssistantSidebar (reference C.4). */
function appPrompt({ memory = [], activities, note, request, now }) {
  const parts = [];
  if (memory.length) {
    const refs = memory.map((ref, i) => `${i + 1}. [${ref.type}/${ref.source.replace(/_/g, ' ')}] ${ref.title}\n   ${ref.snippet}`);
    parts.push(`[Related Memory]\nThe following are relevant observations from your work journal:\n\n${refs.join('\n\n')}`);
  }
  if (activities.length) {
    const lines = activities.map((a) => {
      const urlPart = a.url ? `\n  URL: ${a.url}` : '';
      return `- [${LABELS[a.source] || 'Other'}] ${a.title} (${formatDistanceToNow(a.timestamp, now)})\n  ${a.description}${urlPart}`;
    });
    parts.push(`[Recent Activity Stream]\n${truncate(lines.join('\n'), 4000)}`);
  }
  if (note) parts.push(`[Current Note]\n${truncate(note, 4000)}`);
  parts.push(`[Request]\n${request}`);
  return parts.join('\n\n---\n\n');
}

const RESULT = JSON.stringify({ type: 'result', subtype: 'success', is_error: false, result: '## 요약\n- PR #34 [Add search](https://github.com/acme/app/pull/34)', session_id: '1d1e46f9-35c7-4834-b529-846d5bb82288' });

function fakeClaude(dir, body) {
  const file = path.join(dir, 'claude');
  fs.writeFileSync(file, `#!/bin/sh\nD='${dir}'\nfor a in "$@"; do printf '%s\\0' "$a"; done > "$D/claude.args"\n${body}\n`, { mode: 0o755 });
  return file;
}

async function synced(claudeBody) {
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'enttok-claude-'));
  const env = await setup({ claudePath: fakeClaude(dir, claudeBody) });
  env.claudeDir = dir;
  const { job_id } = await env.backend.syncGithub({ since: '2026-01-12' });
  assert.equal((await waitForJob(env.backend, job_id)).status, 'succeeded');
  // A Claude Code session that day.
  const project = path.join(env.dir, 'projects', '-home-dev-app');
  fs.mkdirSync(project, { recursive: true });
  const first = 'Please refactor the login module and then run every test of the package in watch mode until green, 한 번 더';
  assert.ok(first.length > 100);
  env.first = first;
  fs.writeFileSync(path.join(project, 's1.jsonl'), JSON.stringify({ type: 'user', message: { role: 'user', content: first }, timestamp: at(16, 20).toISOString(), sessionId: 's1', cwd: '/home/dev/app' }) + '\n');
  return env;
}

test('activityStream: the day merged newest first, the same over HTTP', async () => {
  const env = await synced('exit 0');
  const { backend } = env;
  try {
    const items = await backend.activityStream({ date: '2026-01-12' });
    assert.deepEqual(items.map((i) => i.id), [
      'claude:session:s1',
      `github:commit:acme/app:${env.branch.slice(0, 7)}`,
      'github:pr:authored:acme/app:34',
      'github:pr:reviewed:acme/lib:7',
      `github:commit:acme/app:${env.hangul.slice(0, 7)}`,
    ]);
    assert.deepEqual(items[0], {
      id: 'claude:session:s1', title: items[0].title, source: 'claude', url: null,
      description: env.first.slice(0, 100) + '...',
      timestamp: at(16, 20).getTime(), event_time: at(16, 20).toISOString(),
    });
    assert.deepEqual(items[2], { id: 'github:pr:authored:acme/app:34', title: 'PR #34: Add search', description: 'Authored (open) in acme/app', source: 'github', url: 'https://github.com/acme/app/pull/34', timestamp: at(14).getTime(), event_time: at(14).toISOString() });
    assert.equal(items[3].url, null);
    assert.equal(items[4].title, '수정: 한글 메시지');
    const info = await backend.startHttp();
    const h = await http(info, 'GET', '/activity/stream?date=2026-01-12');
    assert.deepEqual(h.body, { items });
    assert.deepEqual(await backend.activityStream({ date: '2026-01-11' }), []);
    await assert.rejects(backend.activityStream({ date: '2026-02-30' }), (e) => e.code === 'E_INVALID_INPUT');
  } finally {
    await backend.close();
  }
});

test('generateSuggestion: stages, streamed answer, the app prompt byte for byte, a session', async () => {
  const env = await synced(`printf '%s\\n' '${RESULT}'`);
  const { backend } = env;
  const rec = record(backend);
  try {
    const note = '---\ndate: 2026-01-12\n---\n# 할 일\n' + '- 항목\n'.repeat(900);
    const info = await backend.startHttp();
    const created = await http(info, 'POST', '/suggest', { note_date: '2026-01-12', note_content: note });
    assert.equal(created.status, 200);
    const job = await waitForJob(backend, created.body.job_id);
    const now = Date.now();
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    const activities = await backend.activityStream({ date: '2026-01-12' });
    assert.deepEqual(job.result.activities_used, activities);
    const expected = appPrompt({ activities, note, request: DEFAULT_PROMPT, now });
    assert.equal(job.result.prompt, expected);
    assert.equal(job.result.text, '## 요약\n- PR #34 [Add search](https://github.com/acme/app/pull/34)');
    assert.deepEqual(job.result.memory_references, []);
    const args = fs.readFileSync(path.join(env.claudeDir, 'claude.args'), 'utf8').split('\0').filter(Boolean);
    assert.deepEqual(args.slice(0, 6), ['--print', expected, '--output-format', 'stream-json', '--verbose', '--session-id']);
    assert.match(job.result.session_id, /^session_[0-9a-f]{32}$/);
    await waitFor(() => rec.events.some((e) => e.type === 'job.status' && e.job_id === job.job_id && e.status === 'succeeded'));
    const stages = rec.events.filter((e) => e.type === 'job.progress' && e.job_id === job.job_id).map((e) => e.stage);
    assert.deepEqual(stages, ['gathering', 'searching_memory', 'prompting', 'running']);
    assert.ok(rec.events.some((e) => e.type === 'claude.output' && e.job_id === job.job_id && e.message && e.message.type === 'result'));

    // The setting `summarize_prompt` is the default instruction.
    await backend.updateSettings({ summarize_prompt: '요약만' });
    const second = await backend.generateSuggestion({ note_date: '2026-01-12', use_memory: false, include_note: false, session_id: job.result.session_id });
    const done = await waitForJob(backend, second.job_id);
    assert.ok(done.result.prompt.endsWith('\n\n---\n\n[Request]\n요약만'));
    assert.equal(fs.readFileSync(path.join(env.claudeDir, 'claude.args'), 'utf8').split('\0')[5], '--resume');
    await assert.rejects(backend.generateSuggestion({ context_limit: 0 }), (e) => e.code === 'E_INVALID_INPUT');
  } finally {
    rec.off();
    await backend.close();
  }
});

test('generateSuggestion: cancel while Claude runs kills its tree', async () => {
  const env = await synced('echo $$ > "$D/claude.pid"; sleep 60 & echo $! > "$D/claude.child"; wait');
  const { backend } = env;
  const alive = (pid) => { try { return !fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].startsWith('Z'); } catch { return false; } };
  try {
    const { job_id } = await backend.generateSuggestion({ use_memory: false });
    await waitFor(() => fs.existsSync(path.join(env.claudeDir, 'claude.child')), { what: 'claude to start' });
    const pid = Number(fs.readFileSync(path.join(env.claudeDir, 'claude.pid'), 'utf8'));
    const child = Number(fs.readFileSync(path.join(env.claudeDir, 'claude.child'), 'utf8'));
    await backend.cancelJob(job_id);
    await waitFor(() => !alive(pid) && !alive(child), { timeout: 8000, what: 'the claude tree to die' });
    assert.equal((await waitForJob(backend, job_id)).status, 'canceled');
  } finally {
    await backend.close();
  }
});
