'use strict';
// Claude Code runs, sessions and transcripts through the JS API (CONTRACT.md §4.3, §11), with a
// fake `claude` executable written by the tests (a POSIX shell script) that speaks stream-json.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { open, record, tempDir, waitFor, waitForJob } = require('./helpers');

const posix = process.platform !== 'win32';
const skip = posix ? false : 'the fake CLI is a POSIX shell script';

const INIT = JSON.stringify({ type: 'system', subtype: 'init', cwd: '/tmp', session_id: 'cli-sess-1', tools: ['Bash'], model: 'claude-test', permissionMode: 'default', claude_code_version: '2.1.197', uuid: 'u1' });
const ASSISTANT = JSON.stringify({ type: 'assistant', message: { id: 'msg_1', type: 'message', role: 'assistant', content: [{ type: 'text', text: 'Hello there' }], stop_reason: 'end_turn' }, session_id: 'cli-sess-1', uuid: 'u2' });
const RESULT = JSON.stringify({ type: 'result', subtype: 'success', is_error: false, duration_ms: 12, num_turns: 1, result: 'Hello there', session_id: 'cli-sess-1', total_cost_usd: 0.01, uuid: 'u3' });

/**
 * Writes a fake `claude` into a new temp dir. The prelude records the pid (file `pid`) and the
 * argv (one arg per line, then `--end--`, file `argv`); `body` is the rest of the script.
 */
function fakeClaude(body) {
  const dir = tempDir('enttok-fake-claude-');
  const file = path.join(dir, 'claude');
  const script = [
    '#!/bin/sh',
    `DIR='${dir}'`,
    'echo $$ > "$DIR/pid"',
    'for a in "$@"; do printf "%s\\n" "$a" >> "$DIR/argv"; done',
    'echo "--end--" >> "$DIR/argv"',
    body,
    '',
  ].join('\n');
  fs.writeFileSync(file, script);
  fs.chmodSync(file, 0o755);
  return {
    dir,
    file,
    argv: () => {
      const text = fs.existsSync(path.join(dir, 'argv')) ? fs.readFileSync(path.join(dir, 'argv'), 'utf8') : '';
      return text.split('--end--\n').filter((s) => s.length > 0).map((s) => s.split('\n').filter((l) => l.length > 0));
    },
    pidFile: (name = 'pid') => path.join(dir, name),
  };
}

/** True while `pid` names a live process (a zombie counts as gone). */
function alive(pid) {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return true;
  }
}

const readPid = (file) => Number(fs.readFileSync(file, 'utf8').trim());

test('stream-json: messages stream before the end; result has text and the CLI session id', { skip }, async () => {
  const fake = fakeClaude([
    `echo '${INIT}'`,
    'sleep 0.3',
    `echo '${ASSISTANT}'`,
    'echo "not json noise"',
    `echo '${RESULT}'`,
  ].join('\n'));
  const { backend } = await open({ claudePath: fake.file });
  const seen = [];
  const off = backend.subscribe((e) => seen.push({ e, at: Date.now() }));
  const { job_id, status } = await backend.spawnClaude({ prompt: 'hi', output_format: 'stream-json' });
  assert.equal(status, 'queued');
  const job = await waitForJob(backend, job_id);
  await waitFor(() => seen.some(({ e }) => e.type === 'job.status' && e.job_id === job_id && e.status === 'succeeded'));
  off();
  assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
  assert.deepEqual(job.payload, { args: [], prompt: 'hi', stdin: null, session_id: null, timeout_ms: null, output_format: 'stream-json' });
  assert.equal(job.result.exit_code, 0);
  assert.equal(job.result.text, 'Hello there');
  assert.equal(job.result.claude_session_id, 'cli-sess-1');
  assert.equal(typeof job.result.duration_ms, 'number');
  assert.equal(job.result.stdout_tail.length, 4);
  assert.equal(job.result.stdout_truncated, false);
  assert.equal(job.progress, 1);

  const outputs = seen.filter(({ e }) => e.type === 'claude.output' && e.job_id === job_id);
  assert.equal(outputs.length, 4);
  assert.deepEqual(outputs[0].e, { type: 'claude.output', job_id, session_id: null, stream: 'stdout', message: JSON.parse(INIT) });
  assert.deepEqual(outputs[1].e.message, JSON.parse(ASSISTANT));
  assert.deepEqual(outputs[2].e, { type: 'claude.output', job_id, session_id: null, stream: 'stdout', line: 'not json noise' });
  assert.deepEqual(outputs[3].e.message, JSON.parse(RESULT));
  // The first line arrived while the CLI still ran (it sleeps 0.3 s after it).
  const done = seen.find(({ e }) => e.type === 'job.status' && e.job_id === job_id && e.status === 'succeeded');
  assert.ok(seen.indexOf(outputs[0]) < seen.indexOf(done));
  assert.ok(done.at - outputs[0].at >= 200, `first output only ${done.at - outputs[0].at} ms before the end`);
  // Each line is logged too.
  assert.ok(seen.some(({ e }) => e.type === 'log' && e.message === 'claude: not json noise' && e.level === 'info'));
  // The CLI got the contract's flags.
  assert.deepEqual(fake.argv(), [['--print', 'hi', '--output-format', 'stream-json', '--verbose']]);
  assert.deepEqual((await backend.listJobEvents(job_id)).map((e) => e.message), ['claude cli finished']);
  await backend.close();
});

test('text mode: each line is a `line`; stderr lines are error logs', { skip }, async () => {
  const fake = fakeClaude('echo "first line"\necho "oops" >&2\necho "second line"');
  const { backend } = await open({ claudePath: fake.file });
  const { events, off } = record(backend);
  const { job_id } = await backend.spawnClaude({ prompt: 'hi' });
  const job = await waitForJob(backend, job_id);
  await waitFor(() => events.some((e) => e.type === 'job.status' && e.status === 'succeeded'));
  off();
  assert.equal(job.status, 'succeeded');
  assert.deepEqual(job.result.stdout_tail, ['first line', 'second line']);
  assert.deepEqual(job.result.stderr_tail, ['oops']);
  assert.equal(job.result.text, undefined);
  const outputs = events.filter((e) => e.type === 'claude.output');
  assert.deepEqual(outputs.filter((e) => e.stream === 'stdout').map((e) => e.line), ['first line', 'second line']);
  assert.deepEqual(outputs.find((e) => e.stream === 'stderr'), { type: 'claude.output', job_id, session_id: null, stream: 'stderr', line: 'oops' });
  assert.ok(outputs.every((e) => !('message' in e)));
  assert.ok(events.some((e) => e.type === 'log' && e.level === 'error' && e.message === 'claude: oops'));
  assert.deepEqual(fake.argv(), [['--print', 'hi']]);
  await backend.close();
});

test('a non-zero exit fails the job with `claude cli failed` and the tails', { skip }, async () => {
  const fake = fakeClaude('echo "partial"\necho "boom" >&2\nexit 3');
  const { backend } = await open({ claudePath: fake.file });
  const { job_id } = await backend.spawnClaude({ prompt: 'hi' });
  const job = await waitForJob(backend, job_id);
  assert.equal(job.status, 'failed');
  assert.deepEqual(job.error, { message: 'claude cli failed', exit_code: 3, stdout_tail: ['partial'], stderr_tail: ['boom'] });
  assert.equal(job.result, null);
  assert.equal(job.progress, 0.05);
  assert.deepEqual((await backend.listJobEvents(job_id)).map((e) => [e.level, e.message]), [['error', 'claude cli failed']]);
  await backend.close();
});

test('a missing CLI fails with `claude cli not found` without running', { skip }, async (t) => {
  if (spawnSync('sh', ['-c', 'command -v claude']).status === 0) {
    t.skip('a real claude is on PATH here');
    return;
  }
  const { backend } = await open({ claudePath: path.join(tempDir(), 'no-such-dir', 'claude') });
  const { events, off } = record(backend);
  const { job_id } = await backend.spawnClaude({ prompt: 'hi' });
  const job = await waitForJob(backend, job_id);
  await waitFor(() => events.some((e) => e.type === 'job.status' && e.job_id === job_id));
  off();
  assert.equal(job.status, 'failed');
  assert.deepEqual(job.error, { message: 'claude cli not found' });
  assert.deepEqual(events.filter((e) => e.type === 'job.status').map((e) => e.status), ['failed']);
  assert.deepEqual((await backend.listJobEvents(job_id)).map((e) => e.message), ['claude cli not found']);
  await backend.close();
});

test('no args and no prompt fails with `no args provided for claude cli`', { skip }, async () => {
  const fake = fakeClaude('echo never');
  const { backend } = await open({ claudePath: fake.file });
  const { job_id } = await backend.spawnClaude({});
  const job = await waitForJob(backend, job_id);
  assert.equal(job.status, 'failed');
  assert.deepEqual(job.error, { message: 'no args provided for claude cli' });
  assert.deepEqual(fake.argv(), []);
  await assert.rejects(backend.spawnClaude({ output_format: 'json' }), (e) => e.code === 'E_INVALID_INPUT' && e.detail[0].loc.join() === 'body,output_format');
  await assert.rejects(backend.spawnClaude({ args: 'x' }), (e) => e.code === 'E_INVALID_INPUT' && e.detail[0].type === 'list_type');
  await backend.close();
});

/** A CLI that starts a grandchild (pid in `child`) and waits forever. */
const HANGING = 'sleep 60 &\necho $! > "$DIR/child"\necho "started"\nwait';

test('timeout kills the whole tree and fails with `claude cli timeout`', { skip }, async (t) => {
  const fake = fakeClaude(HANGING);
  const { backend } = await open({ claudePath: fake.file });
  t.after(() => backend.close());
  const started = Date.now();
  const { job_id } = await backend.spawnClaude({ prompt: 'hi', timeout_ms: 200 });
  await waitFor(() => fs.existsSync(fake.pidFile('child')) && fs.readFileSync(fake.pidFile('child'), 'utf8').trim(), { what: 'the fake to start' });
  const pid = readPid(fake.pidFile());
  const child = readPid(fake.pidFile('child'));
  assert.ok(alive(pid) && alive(child));
  const job = await waitForJob(backend, job_id);
  const took = Date.now() - started;
  assert.equal(job.status, 'failed');
  assert.deepEqual(job.error, { message: 'claude cli timeout' });
  assert.ok(took >= 900 && took < 8000, `timeout after ${took} ms (200 ms means 1 s)`);
  await waitFor(() => !alive(pid) && !alive(child), { timeout: 5000, what: 'the fake and its child to be gone' });
  await backend.close();
});

test('cancel of a running spawn kills the tree; the job stays canceled', { skip }, async (t) => {
  const fake = fakeClaude(HANGING);
  const { backend } = await open({ claudePath: fake.file });
  t.after(() => backend.close());
  const { events, off } = record(backend);
  const { job_id } = await backend.spawnClaude({ prompt: 'hi' });
  await waitFor(() => events.some((e) => e.type === 'claude.output' && e.job_id === job_id && e.line === 'started'), { what: 'first output' });
  const pid = readPid(fake.pidFile());
  const child = readPid(fake.pidFile('child'));
  assert.equal((await backend.getJob(job_id)).status, 'running');
  assert.deepEqual(await backend.cancelJob(job_id), { job_id, status: 'canceled' });
  await waitFor(() => !alive(pid) && !alive(child), { timeout: 5000, what: 'the fake and its child to be gone' });
  await new Promise((r) => setTimeout(r, 200));
  off();
  const job = await backend.getJob(job_id);
  assert.equal(job.status, 'canceled');
  assert.equal(job.result, null);
  assert.equal(job.error, null);
  assert.deepEqual(events.filter((e) => e.type === 'job.status' && e.job_id === job_id).map((e) => e.status), ['running', 'canceled']);
  await backend.close();
});

test('close() kills a running CLI tree', { skip }, async () => {
  const fake = fakeClaude(HANGING);
  const { backend } = await open({ claudePath: fake.file });
  await backend.spawnClaude({ prompt: 'hi' });
  await waitFor(() => fs.existsSync(fake.pidFile('child')) && fs.readFileSync(fake.pidFile('child'), 'utf8').trim(), { what: 'the fake to start' });
  const pid = readPid(fake.pidFile());
  const child = readPid(fake.pidFile('child'));
  await backend.close();
  await waitFor(() => !alive(pid) && !alive(child), { timeout: 5000, what: 'the fake and its child to be gone' });
});

test('sessions: native --session-id then --resume; messages stored; list and delete', { skip }, async () => {
  // Answers with a numbered line so both turns differ.
  const fake = fakeClaude('n=$(grep -c -- "--end--" "$DIR/argv")\necho "answer $n"');
  const { backend } = await open({ claudePath: fake.file });
  const { events, off } = record(backend);
  const { session_id } = await backend.createClaudeSession();
  assert.match(session_id, /^session_[0-9a-f]{32}$/);
  await waitFor(() => events.some((e) => e.type === 'log' && e.message === `claude session created ${session_id}`));
  const fresh = await backend.getClaudeSession(session_id);
  assert.deepEqual(fresh.messages, []);
  assert.deepEqual(Object.keys(fresh), ['session_id', 'created_at', 'updated_at', 'messages']);

  for (const prompt of ['first question', 'second question']) {
    const { job_id } = await backend.spawnClaude({ prompt, session_id });
    const job = await waitForJob(backend, job_id);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
  }
  off();
  assert.ok(events.filter((e) => e.type === 'claude.output').every((e) => e.session_id === session_id));
  const session = await backend.getClaudeSession(session_id);
  assert.deepEqual(session.messages.map((m) => [m.role, m.content]), [
    ['user', 'first question'], ['assistant', 'answer 1'],
    ['user', 'second question'], ['assistant', 'answer 2'],
  ]);
  for (const m of session.messages) assert.match(m.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

  const [first, second] = fake.argv();
  assert.deepEqual(first.slice(0, 3), ['--print', 'first question', '--session-id']);
  assert.equal(first.length, 4);
  assert.match(first[3], /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.deepEqual(second, ['--print', 'second question', '--resume', first[3]]);

  // A failed run changes nothing.
  const failing = fakeClaude('exit 1');
  await backend.close();
  const { backend: b2 } = await open({ claudePath: failing.file });
  const other = await b2.createClaudeSession();
  const { job_id } = await b2.spawnClaude({ prompt: 'q', session_id: other.session_id });
  assert.equal((await waitForJob(b2, job_id)).status, 'failed');
  assert.deepEqual((await b2.getClaudeSession(other.session_id)).messages, []);

  const second2 = await b2.createClaudeSession();
  const list = await b2.listClaudeSessions();
  assert.ok(list.length >= 2);
  assert.ok(list.every((s) => !('messages' in s)));
  assert.deepEqual((await b2.listClaudeSessions({ limit: 1 })).length, 1);
  await assert.rejects(b2.listClaudeSessions({ limit: 0 }), (e) => e.code === 'E_INVALID_INPUT' && e.status === 422);
  assert.deepEqual(await b2.deleteClaudeSession(second2.session_id), { ok: true });
  await assert.rejects(b2.getClaudeSession(second2.session_id), (e) => e.code === 'E_NOT_FOUND' && e.detail === 'session not found');
  await assert.rejects(b2.deleteClaudeSession(second2.session_id), (e) => e.code === 'E_NOT_FOUND');
  assert.ok(!(await b2.listClaudeSessions()).some((s) => s.session_id === second2.session_id));
  await b2.close();
});

// ---------------------------------------------------------------------------------------------
// Transcripts (§11.3)

const SESSION = '0131e642-8430-4b99-941f-df1596f07130';
const PROJECT = '/home/dev/my.app';

function transcriptRecords() {
  const base = { cwd: PROJECT, sessionId: SESSION, gitBranch: 'main', version: '2.1.197', isSidechain: false };
  return [
    { type: 'summary', summary: 'Fixing the build', leafUuid: 'x' },
    { ...base, type: 'user', uuid: 'a1', timestamp: '2024-05-01T23:30:00.000Z', message: { role: 'user', content: 'Why does the build fail?' } },
    { ...base, type: 'assistant', uuid: 'a2', timestamp: '2024-05-01T23:30:05.000Z', message: { role: 'assistant', content: [{ type: 'text', text: 'Because of a typo.' }] } },
    { ...base, type: 'user', isMeta: true, uuid: 'a3', timestamp: '2024-05-01T23:30:06.000Z', message: { role: 'user', content: '<command-name>/clear</command-name>' } },
  ];
}

function projectsDir() {
  const root = tempDir('enttok-claude-projects-');
  const dir = path.join(root, '-home-dev-my-app');
  fs.mkdirSync(dir);
  const file = path.join(dir, `${SESSION}.jsonl`);
  fs.writeFileSync(file, transcriptRecords().map((r) => JSON.stringify(r)).join('\n') + '\n{not json\n');
  return { root, file: fs.realpathSync(file) };
}

test('transcripts: projects, listings, one transcript, by date, import', async () => {
  const { root, file } = projectsDir();
  const { backend } = await open({ claudeProjectsDir: root });
  assert.deepEqual(await backend.listClaudeProjects(), [PROJECT]);

  const list = await backend.listClaudeTranscripts(PROJECT);
  assert.equal(list.length, 1);
  const s = list[0];
  assert.equal(s.id, SESSION);
  assert.equal(s.summary, 'Fixing the build');
  assert.equal(s.firstMessage, 'Why does the build fail?');
  assert.equal(s.timestamp, '2024-05-01T23:30:00.000Z');
  assert.equal(s.messageCount, 2);
  assert.equal(s.gitBranch, 'main');
  assert.equal(s.projectPath, PROJECT);
  assert.equal(fs.realpathSync(s.filePath), file);
  assert.deepEqual(await backend.listClaudeTranscripts('/home/dev/other'), []);

  const t = await backend.getClaudeTranscript(s.filePath);
  assert.equal(t.session.id, SESSION);
  assert.equal(t.messages.length, 4, 'the malformed line is skipped');
  assert.deepEqual(t.messages[1].message, transcriptRecords()[1].message);

  assert.deepEqual((await backend.listClaudeTranscriptsForDate('2024-05-01')).map((x) => x.id), [SESSION]);
  assert.deepEqual((await backend.listClaudeTranscriptsForDate('2024-05-01', [PROJECT])).map((x) => x.id), [SESSION]);
  assert.deepEqual(await backend.listClaudeTranscriptsForDate('2024-05-02'), []);
  assert.deepEqual(await backend.listClaudeTranscriptsForDate('2024-05-01', ['/elsewhere']), []);

  const imported = await backend.importClaudeTranscript(s.filePath);
  assert.match(imported.session_id, /^session_[0-9a-f]{32}$/);
  assert.deepEqual(imported.messages.map((m) => [m.role, m.content]), [
    ['user', 'Why does the build fail?'], ['assistant', 'Because of a typo.'],
  ]);
  const again = await backend.importClaudeTranscript(s.filePath);
  assert.equal(again.session_id, imported.session_id);
  assert.equal(again.messages.length, 2);
  assert.deepEqual((await backend.getClaudeSession(imported.session_id)).messages, again.messages);
  await backend.close();
});

test('transcripts: paths outside claudeProjectsDir are E_INVALID_INPUT, missing inside E_NOT_FOUND', async () => {
  const { root, file } = projectsDir();
  const outsideFile = path.join(tempDir(), 'x.jsonl');
  fs.writeFileSync(outsideFile, fs.readFileSync(file));
  const { backend } = await open({ claudeProjectsDir: root });
  const invalid = (e) => e.code === 'E_INVALID_INPUT' && e.status === 400;
  await assert.rejects(backend.getClaudeTranscript(outsideFile), invalid);
  await assert.rejects(backend.getClaudeTranscript(path.join(root, '..', path.basename(path.dirname(outsideFile)), 'x.jsonl')), invalid);
  await assert.rejects(backend.getClaudeTranscript(path.join(root, '-home-dev-my-app', '..', '..', 'nope.jsonl')), invalid);
  await assert.rejects(backend.importClaudeTranscript(outsideFile), invalid);
  if (posix) {
    // A symlink inside that points outside is outside.
    const link = path.join(root, '-home-dev-my-app', 'link.jsonl');
    fs.symlinkSync(outsideFile, link);
    await assert.rejects(backend.getClaudeTranscript(link), invalid);
  }
  await assert.rejects(backend.getClaudeTranscript(path.join(root, '-home-dev-my-app', 'missing.jsonl')), (e) => e.code === 'E_NOT_FOUND' && e.status === 404);
  await backend.close();
});
