'use strict';
// The notes vault (CONTRACT.md §17) through the built addon: `searchNotes` compared with a
// brute-force copy of the app's algorithm (reference A.4) on generated vaults, the notes API,
// the same answers over HTTP, the watcher's `vault.changed`, and bad input.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { open, tempDir, waitFor, waitForJob, record } = require('./helpers');

// The app's searchNotes, brute force (reference A.4): see ./app-search.js (shared with
// bench/vault.js, which reports its p50 next to the index's).
const { appSearchNotes, listMarkdownFilesRecursive, DEFAULT_SEARCH_LIMIT } = require('./app-search');

/** The app's answer in the addon's shape (snake_case keys, absent snippet as null). */
function asContract(app) {
  return {
    query: app.query,
    results: app.results.map((r) => ({
      id: r.id,
      title: r.title,
      file_path: r.filePath,
      updated_at: r.updatedAt,
      score: r.score,
      snippet: r.snippet === undefined ? null : r.snippet,
      relative_path: r.relativePath,
    })),
  };
}

// ---------------------------------------------------------------------------------------------
// Generated vaults.

function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const WORDS = [
  'alpha', 'Alpha', 'ALPHA', 'beta', 'aa', 'aaaa', 'a', 'Foo', 'foo', 'bar', '검색', '기능', '검색기능',
  '한국어', '노트', '😀', '🎉party', 'İstanbul', 'straße', 'STRASSE', 'Σίσυφος', 'ΣΊΣΥΦΟΣ', 'café',
  'x', 'note', 'Note', 'daily', 'tie', 'needle', 'Ǆemal', 'ﬁle',
];
const SPACES = [' ', ' ', ' ', '\n', '\r\n', '\t', '\u00a0', '\u3000', '\ufeff', '\u2028', '  '];
const NAMES = ['note', 'Note', '검색', 'alpha', 'a b', 'x(1)', 'tie', 'tie-b', '😀', 'İ', 'ﬁ', 'Zeta', '10', '9', '_u'];
const DIRS = ['', '', '', 'sub', 'sub/deeper', 'Sub', '한글폴더', 'tie', 'a b', '10', '9', '…'];

function makeText(r, words) {
  let out = r() < 0.3 ? '# ' : '';
  for (let i = 0; i < words; i += 1) {
    out += WORDS[Math.floor(r() * WORDS.length)];
    out += SPACES[Math.floor(r() * SPACES.length)];
  }
  return out;
}

function generateVault(root, seed, count) {
  const r = rng(seed);
  const made = [];
  const sharedTime = new Date('2025-06-01T10:00:00.123Z');
  for (let i = 0; i < count; i += 1) {
    const dir = DIRS[Math.floor(r() * DIRS.length)];
    const base = NAMES[Math.floor(r() * NAMES.length)] + (r() < 0.5 ? String(i) : '');
    const ext = r() < 0.15 ? '.MD' : '.md';
    const rel = path.join(dir, base + ext);
    const file = path.join(root, rel);
    if (made.includes(file)) continue;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    // Long texts (snippet windows cut at both ends), short ones, some equal contents.
    let text = r() < 0.2 ? 'tie tie needle' : makeText(r, 1 + Math.floor(r() * (r() < 0.3 ? 200 : 20)));
    if (r() < 0.05) text = `\ufeff${text}`;
    // Emoji right at a snippet edge: 59 or 60 units before a needle.
    if (r() < 0.1) text = `${'x'.repeat(Math.floor(r() * 4))}😀${'y'.repeat(58 + Math.floor(r() * 3))}needle😀${'z'.repeat(78 + Math.floor(r() * 3))}😀tail`;
    if (r() < 0.05) {
      fs.writeFileSync(file, Buffer.concat([Buffer.from('needle '), Buffer.from([0xe9, 0xff, 0xc3]), Buffer.from(' café')]));
    } else {
      fs.writeFileSync(file, text);
    }
    // Equal mtimes for a third (ties broken by the walk order), sub-millisecond times for some.
    const roll = r();
    const when = roll < 0.33 ? sharedTime : new Date(sharedTime.getTime() - Math.floor(r() * 1e9));
    const seconds = when.getTime() / 1000 + (roll > 0.8 ? 0.0004 + r() * 0.0005 : 0);
    fs.utimesSync(file, seconds, seconds);
    made.push(file);
  }
  // What the app also walks past: other files, a folder named like a note.
  fs.writeFileSync(path.join(root, 'image.png'), 'needle');
  fs.mkdirSync(path.join(root, 'folder.md'), { recursive: true });
  fs.writeFileSync(path.join(root, 'folder.md', 'inside.md'), 'needle inside');
  return made;
}

const QUERIES = [
  'alpha', 'ALPHA beta', 'aa', 'a', 'foo foo', 'Foo\u3000bar', '검색', '검색 기능', '기', '😀', 'needle',
  '  tie  ', 'tie tie tie', 'i̇', 'istanbul', 'straße', 'ss', 'σίσυφος', 'ς', 'café', '\ufeffnote', 'x y',
  'ǆ', 'fi', 'zzz-nothing', 'note\u00a0daily', '(1)', 'sub', 'tail', 'NOTE',
];

test('searchNotes returns exactly the app\'s results on generated vaults', async () => {
  const { backend } = await open();
  const { events, off } = record(backend);
  // The generated vaults must exercise what the comparison is about.
  const seen = { ties: 0, cutBoth: 0, titleOnly: 0, korean: 0, emojiEdge: 0, nested: 0 };
  try {
    for (const seed of [1, 2]) {
      const root = tempDir(`enttok-vault-${seed}-`);
      generateVault(root, seed, 140);
      for (const query of QUERIES) {
        // The reference walks and reads every file per call: run it once, unlimited, and
        // apply the app's limit rule (limit > 0 && length > limit) to its list.
        const all = asContract(await appSearchNotes({ vaultPath: root, query, limit: 0 }));
        all.results.forEach((r, i) => {
          const next = all.results[i + 1];
          if (next && next.score === r.score && next.updated_at === r.updated_at) seen.ties += 1;
          if (r.snippet && r.snippet.startsWith('...') && r.snippet.endsWith('...')) seen.cutBoth += 1;
          if (r.snippet === null) seen.titleOnly += 1;
          if (/[가-힣]/.test(r.snippet || '')) seen.korean += 1;
          if (r.relative_path.includes('/')) seen.nested += 1;
          if (query === 'needle' && /^\.\.\.y/.test(r.snippet || '')) seen.emojiEdge += 1;
        });
        for (const limit of [undefined, null, 7, 0, -1]) {
          const n = limit ?? DEFAULT_SEARCH_LIMIT;
          const expected = { ...all, results: n > 0 ? all.results.slice(0, n) : all.results };
          const actual = await backend.searchNotes({ vault_path: root, query, limit });
          assert.deepEqual(actual, expected, `seed ${seed}, query ${JSON.stringify(query)}, limit ${limit}`);
        }
      }
      // Rooted at a subfolder: ids and relative paths relative to it, from the same index.
      for (const sub of ['sub', 'tie', '한글폴더']) {
        const folder = path.join(root, sub);
        if (!fs.existsSync(folder)) continue;
        for (const query of ['needle', 'a', '검색']) {
          const expected = asContract(await appSearchNotes({ vaultPath: folder, query }));
          assert.deepEqual(await backend.searchNotes({ vault_path: folder, query }), expected, `${sub} ${query}`);
        }
      }
      // After edits through the addon and outside it, still identical.
      // (An own write is indexed before it resolves; an outside change once the watcher's
      // `vault.changed` names it.)
      const files = (await listMarkdownFilesRecursive(root)).slice(0, 5);
      await backend.writeNote(files[0], 'needle NEEDLE 검색 edited');
      const gone = path.relative(fs.realpathSync(root), fs.realpathSync(files[1])).split(path.sep).join('/');
      fs.rmSync(files[1]);
      await waitFor(() => events.some((e) => e.type === 'vault.changed' && e.deleted.includes(gone)),
        { timeout: 3000, what: `vault.changed deleting ${gone}` });
      for (const query of ['needle', '검색', 'edited']) {
        const expected = asContract(await appSearchNotes({ vaultPath: root, query }));
        assert.deepEqual(await backend.searchNotes({ vault_path: root, query }), expected, `after edits: ${query}`);
      }
    }
    for (const [what, n] of Object.entries(seen)) assert.ok(n > 0, `generated vaults exercise ${what}`);
  } finally {
    off();
    await backend.close();
  }
});

test('searchNotes: empty query, missing vault, the app\'s worked examples', async () => {
  const { backend } = await open();
  try {
    const root = tempDir('enttok-vault-ex-');
    fs.mkdirSync(path.join(root, 'sub'));
    fs.writeFileSync(path.join(root, 'sub', 'Foo.MD'), '# foo\n');
    fs.writeFileSync(path.join(root, 'aa.md'), 'aaaa');
    assert.deepEqual(await backend.searchNotes({ vault_path: root, query: ' FOO ' }), {
      query: 'FOO',
      results: [{
        id: 'sub%2FFoo', title: 'Foo', file_path: path.join(root, 'sub', 'Foo.MD'),
        updated_at: fs.statSync(path.join(root, 'sub', 'Foo.MD')).mtime.toISOString(),
        score: 6, snippet: '# foo', relative_path: 'sub/Foo',
      }],
    });
    assert.equal((await backend.searchNotes({ vault_path: root, query: 'aa' })).results[0].score, 7);
    assert.deepEqual(await backend.searchNotes({ vault_path: root, query: '   ' }), { query: '', results: [] });
    assert.deepEqual(await backend.searchNotes({ vault_path: path.join(root, 'nope'), query: 'x' }), { query: 'x', results: [] });
    await assert.rejects(backend.searchNotes({ vault_path: '', query: 'x' }), { code: 'E_INVALID_INPUT', message: 'Missing vault path' });
    await assert.rejects(backend.searchNotes({ vault_path: path.join(root, 'aa.md'), query: 'x' }), (e) => e.code === 'E_INVALID_INPUT' && e.message.startsWith('ENOTDIR'));
  } finally {
    await backend.close();
  }
});

test('documented differences: dot-folders and node_modules are skipped, "..name" notes found', async () => {
  const { backend } = await open();
  try {
    const root = tempDir('enttok-vault-diff-');
    for (const rel of ['.git/a.md', '.obsidian/b.md', 'deep/node_modules/c.md', '..dots.md', '.dotfile.md']) {
      fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
      fs.writeFileSync(path.join(root, rel), 'needle');
      fs.utimesSync(path.join(root, rel), 1e9, 1e9); // equal mtimes: walk order decides
    }
    const answer = await backend.searchNotes({ vault_path: root, query: 'needle' });
    assert.deepEqual(answer.results.map((r) => r.relative_path), ['..dots', '.dotfile']);
  } finally {
    await backend.close();
  }
});

test('notes API: list, create (no overwrite), note path, read/write, daily notes', async () => {
  const { backend } = await open();
  try {
    const root = tempDir('enttok-vault-api-');
    const note = await backend.createNote(root, 'Hello 세계');
    assert.equal(note.id, encodeURIComponent('Hello 세계'));
    assert.equal(note.file_path, path.join(root, 'Hello 세계.md'));
    assert.equal(fs.readFileSync(note.file_path, 'utf8'), '# Hello 세계\n\n');
    assert.match(note.updated_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    fs.writeFileSync(note.file_path, 'precious');
    await assert.rejects(backend.createNote(root, 'Hello 세계'), { code: 'E_CONFLICT' });
    assert.equal(fs.readFileSync(note.file_path, 'utf8'), 'precious');
    await backend.createNote(root, 'Hello 세계', { overwrite: true });
    assert.equal(fs.readFileSync(note.file_path, 'utf8'), '# Hello 세계\n\n');

    fs.writeFileSync(path.join(root, 'old.md'), 'x');
    fs.utimesSync(path.join(root, 'old.md'), 1e9, 1e9);
    fs.writeFileSync(path.join(root, 'skip.MD'), 'x');
    const listed = await backend.listNotes(root);
    assert.deepEqual(listed.map((n) => n.title), ['Hello 세계', 'old']);
    assert.equal(listed[1].updated_at, new Date(1e12).toISOString());

    assert.equal(await backend.getNotePath(root, note.id), note.file_path);
    assert.equal(await backend.getNotePath(root, '%E0%A4%A'), null);
    assert.equal(await backend.getNotePath(root, '..%2F..%2Fetc%2Fpasswd'), null);

    // Registered by the search; then read/write work inside it.
    await backend.searchNotes({ vault_path: root, query: 'x' });
    const written = await backend.writeNote(path.join(root, 'old.md'), 'new 😀 text');
    assert.equal(written.path, path.join(root, 'old.md'));
    const read = await backend.readNote(path.join(root, 'old.md'));
    assert.equal(read.content, 'new 😀 text');
    assert.equal(read.updated_at, fs.statSync(path.join(root, 'old.md')).mtime.toISOString());
    assert.equal((await backend.searchNotes({ vault_path: root, query: '😀' })).results[0].title, 'old');
    assert.deepEqual(fs.readdirSync(root).filter((n) => n.includes('tmp')), []);

    const date = '2026-01-13';
    assert.equal(await backend.dailyNotePath(root, date), path.join(root, 'daily', `${date}.md`));
    assert.deepEqual(await backend.createDailyNote(root, date), { file_path: path.join(root, 'daily', `${date}.md`), created: true });
    assert.equal(fs.readFileSync(path.join(root, 'daily', `${date}.md`), 'utf8'),
      `---\ndate: ${date}\ntags: [daily]\n---\n\n# ${date}\n\n## Today's Tasks\n\n-\n\n## Tomorrow's Plan\n\n-\n\n## Notes\n`);
    assert.deepEqual(await backend.createDailyNote(root, date), { file_path: path.join(root, 'daily', `${date}.md`), created: false });
    fs.writeFileSync(path.join(root, 'daily', '2026-1-3.md'), '');
    fs.writeFileSync(path.join(root, 'daily', '2025-12-31.md'), '');
    assert.deepEqual(await backend.listDailyNoteDates(root), ['2025-12-31', date]);
    const settings = await backend.updateSettings({ daily_notes_folder: 'journal/days', daily_note_template: '# {{ date }}' });
    assert.equal(settings.daily_notes_folder, 'journal/days');
    await backend.createDailyNote(root, date);
    assert.equal(fs.readFileSync(path.join(root, 'journal', 'days', `${date}.md`), 'utf8'), `# ${date}`);
    assert.equal((await backend.searchNotes({ vault_path: root, query: 'tomorrow' })).results.length, 1);
  } finally {
    await backend.close();
  }
});

test('bad input: relative paths, "..", links out of the vault, NUL, huge queries', async () => {
  const { backend } = await open();
  try {
    const root = tempDir('enttok-vault-bad-');
    const outside = tempDir('enttok-vault-out-');
    fs.writeFileSync(path.join(outside, 'secret.md'), 'secret');
    fs.writeFileSync(path.join(root, 'in.md'), 'in');
    fs.symlinkSync(path.join(outside, 'secret.md'), path.join(root, 'link.md'));
    fs.symlinkSync(outside, path.join(root, 'linkdir'));
    await backend.searchNotes({ vault_path: root, query: 'x' });
    const bad = [
      'relative/in.md',
      `${root}/../${path.basename(outside)}/secret.md`,
      path.join(root, 'link.md'),
      path.join(root, 'linkdir', 'secret.md'),
      path.join(root, 'linkdir', 'new.md'),
      `${root}/in\u0000.md`,
      path.join(outside, 'secret.md'),
    ];
    for (const p of bad) {
      await assert.rejects(backend.readNote(p), { code: 'E_INVALID_INPUT' }, p);
      await assert.rejects(backend.writeNote(p, 'pwned'), { code: 'E_INVALID_INPUT' }, p);
    }
    assert.equal(fs.readFileSync(path.join(outside, 'secret.md'), 'utf8'), 'secret');
    assert.deepEqual(fs.readdirSync(outside), ['secret.md']);
    // Links are skipped by the index (as the app's walk).
    assert.deepEqual((await backend.searchNotes({ vault_path: root, query: 'secret' })).results, []);

    await assert.rejects(backend.searchNotes({ vault_path: 'rel', query: 'x' }), { code: 'E_INVALID_INPUT' });
    await assert.rejects(backend.searchNotes({ vault_path: `${root}\u0000`, query: 'x' }), { code: 'E_INVALID_INPUT' });
    await assert.rejects(backend.searchNotes({ vault_path: 42, query: 'x' }), (e) => e.code === 'E_INVALID_INPUT' && e.status === 422);
    await assert.rejects(backend.searchNotes({ vault_path: root, query: 'a '.repeat(5 * 1024 * 1024) }),
      (e) => e.code === 'E_INVALID_INPUT' && e.detail[0].type === 'string_too_long' && e.detail[0].loc.join('.') === 'body.query');
    await assert.rejects(backend.createNote(root, '../escape'), { code: 'E_INVALID_INPUT' });
    await assert.rejects(backend.createNote('rel', 'x'), { code: 'E_INVALID_INPUT' });
    await assert.rejects(backend.createDailyNote(root, '../../x'), { code: 'E_INVALID_INPUT' });
    await assert.rejects(backend.listNotes(path.join(root, 'missing')), { code: 'E_NOT_FOUND' });
    await assert.rejects(backend.listNotes(undefined), (e) => e.status === 422);
    await assert.rejects(backend.writeNote(path.join(root, 'in.md'), 42), (e) => e.status === 422);
  } finally {
    await backend.close();
  }
});

test('the watcher keeps the index current and announces vault.changed; jobs run', async () => {
  const { backend } = await open();
  const { events, off } = record(backend);
  try {
    const root = tempDir('enttok-vault-watch-');
    fs.writeFileSync(path.join(root, 'a.md'), 'first');
    await backend.searchNotes({ vault_path: root, query: 'first' });
    const real = fs.realpathSync(root);
    fs.mkdirSync(path.join(root, 'sub'));
    fs.writeFileSync(path.join(root, 'sub', 'b.md'), 'outside edit');
    const changed = await waitFor(() => events.find((e) => e.type === 'vault.changed' && e.changed.includes('sub/b.md')),
      { timeout: 2000, what: 'vault.changed' });
    assert.equal(changed.vault_path, real);
    assert.equal((await backend.searchNotes({ vault_path: root, query: 'outside' })).results[0].relative_path, 'sub/b');
    fs.rmSync(path.join(root, 'a.md'));
    await waitFor(() => events.find((e) => e.type === 'vault.changed' && e.deleted.includes('a.md')), { timeout: 2000, what: 'deletion' });
    assert.deepEqual((await backend.searchNotes({ vault_path: root, query: 'first' })).results, []);

    const { job_id } = await backend.createJob({ type: 'vault.scan', payload: { vault_path: root, force_full: true } });
    const job = await waitForJob(backend, job_id);
    assert.equal(job.status, 'succeeded');
    assert.equal(job.result.scanned, 1);
    await waitFor(() => events.some((e) => e.type === 'job.progress' && e.job_id === job_id && e.stage === 'reading'),
      { timeout: 2000, what: 'progress events' });
    const rebuild = await waitForJob(backend, (await backend.createJob({ type: 'index.rebuild', payload: { vault_path: root } })).job_id);
    assert.equal(rebuild.status, 'succeeded');
  } finally {
    off();
    await backend.close();
  }
});

test('HTTP routes answer the same objects as the JS methods', async () => {
  const { backend } = await open();
  try {
    const root = tempDir('enttok-vault-http-');
    generateVault(root, 9, 40);
    const { url, token } = await backend.startHttp();
    const call = async (method, route, body) => {
      const res = await fetch(`${url}${route}`, {
        method,
        headers: { 'X-Backend-Token': token, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: await res.json() };
    };
    const q = (o) => new URLSearchParams(o).toString();
    for (const query of ['needle', '검색 기능', 'a']) {
      const viaHttp = await call('POST', '/vault/search', { vault_path: root, query });
      assert.equal(viaHttp.status, 200);
      assert.deepEqual(viaHttp.body, await backend.searchNotes({ vault_path: root, query }));
    }
    const created = await call('POST', '/vault/notes', { folder_path: root, title: 'via http' });
    assert.equal(created.status, 200);
    assert.equal((await call('POST', '/vault/notes', { folder_path: root, title: 'via http' })).status, 409);
    assert.deepEqual((await call('GET', `/vault/notes?${q({ folder_path: root })}`)).body, { notes: await backend.listNotes(root) });
    assert.equal((await call('GET', `/vault/note-path?${q({ folder_path: root, note_id: 'via%20http' })}`)).body, created.body.file_path);
    assert.equal((await call('GET', `/vault/note-path?${q({ folder_path: root, note_id: 'nope' })}`)).body, null);
    const put = await call('PUT', '/vault/file', { path: created.body.file_path, content: 'put body' });
    assert.equal(put.status, 200);
    assert.deepEqual((await call('GET', `/vault/file?${q({ path: created.body.file_path })}`)).body, await backend.readNote(created.body.file_path));
    assert.equal((await call('GET', `/vault/file?${q({ path: 'relative.md' })}`)).status, 400);
    assert.deepEqual((await call('POST', '/vault/daily', { vault_path: root, date: '2026-02-02' })).body,
      { file_path: path.join(root, 'daily', '2026-02-02.md'), created: true });
    assert.deepEqual((await call('GET', `/vault/daily/dates?${q({ vault_path: root })}`)).body, { dates: ['2026-02-02'] });
    assert.equal((await call('GET', `/vault/daily/path?${q({ vault_path: root, date: 'x' })}`)).body, path.join(root, 'daily', 'x.md'));
    const missing = await call('POST', '/vault/search', { query: 'x' });
    assert.equal(missing.status, 422);
    assert.deepEqual(missing.body.detail[0].loc, ['body', 'vault_path']);
  } finally {
    await backend.close();
  }
});

test('a watched vault keeps nothing alive: a script that never closes exits, close() is prompt', async () => {
  const { spawnSync } = require('node:child_process');
  const root = tempDir('enttok-vault-exit-');
  fs.writeFileSync(path.join(root, 'a.md'), 'alive');
  const child = spawnSync(process.execPath, ['-e', `
    const { Backend } = require(${JSON.stringify(path.resolve(__dirname, '..'))});
    (async () => {
      const b = await Backend.open({ dataDir: ${JSON.stringify(tempDir())}, scheduler: false });
      const found = await b.searchNotes({ vault_path: ${JSON.stringify(root)}, query: 'alive' });
      console.log(found.results.length);
    })();
  `], { encoding: 'utf8', timeout: 20000 });
  assert.equal(child.error, undefined, 'the child exited by itself');
  assert.equal(child.stdout.trim(), '1');

  const { backend } = await open();
  await backend.searchNotes({ vault_path: root, query: 'alive' });
  const t0 = Date.now();
  await backend.close();
  assert.ok(Date.now() - t0 < 2000, 'close stops the watcher promptly');
  await assert.rejects(backend.searchNotes({ vault_path: root, query: 'alive' }), { code: 'E_CLOSED' });
});
