'use strict';
// Issue 16 benchmarks from JS (build the addon in release first: `npm run build:release`).
// Figures only; nothing asserts on time.
//
//   node bench/vault.js [--notes=10000] [--runs=200]
//
// A generated vault: NOTES notes of ≈ 2 KB (Korean and English words, mixed case, CRLF in some),
// in 100 folders (10 top folders × 10 subfolders). Measured:
//   first_index_ms     first `searchNotes` on the new vault: registration, walk, read, SQLite
//                      commit (rows + FTS5 trigram), in-memory copy, and the search itself
//   rescan_ms          a `vault.scan` job with nothing changed (create → terminal job.status
//                      event), 5 times
//   reopen_first_ms    after close + reopen: the first `searchNotes` (index loaded from SQLite,
//                      vault re-stat'ed, watcher started)
//   edit_visible_ms    an external write (fs.writeFileSync) → the `vault.changed` event naming it
//                      (watcher debounce + index.update job + commit); p50 and max of 10
//   search p50/p95     `searchNotes` from JS (call, napi, JSON, parse) for one- and three-word
//                      queries; limit 200 (the app's). `_cold`: tokens never searched before;
//                      plain: RUNS calls over a rotation of 8 (or 4) queries, whose per-token
//                      counts the index keeps; `typing`: each prefix of the three-word queries
//   app p50            the app's brute-force algorithm (`__test__/app-search.js`) over the same
//                      files and queries (fewer runs: it reads every file each time)
//   db_mb, rss_mb      index.db (+ WAL) on disk after indexing; RSS growth of the process

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Backend } = require('..');
const { appSearchNotes } = require('../__test__/app-search');

const arg = (name, def) => {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit ? Number(hit.split('=')[1]) : def;
};
const NOTES = arg('notes', 10000);
const RUNS = arg('runs', 200);
const APP_RUNS = arg('app-runs', 5);

const EN = ['meeting', 'project', 'review', 'Design', 'deploy', 'release', 'Backend', 'search', 'index',
  'notes', 'daily', 'Calendar', 'sync', 'weekly', 'plan', 'budget', 'customer', 'feedback', 'bug', 'fix',
  'the', 'and', 'with', 'for', 'today', 'tomorrow', 'TODO', 'idea', 'draft', 'summary'];
const KO = ['회의', '프로젝트', '검토', '설계', '배포', '검색', '기능', '일정', '동기화', '주간', '계획', '예산',
  '고객', '피드백', '버그', '수정', '오늘', '내일', '아이디어', '요약', '노트', '정리', '공유', '확인'];

function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

// Two vocabularies: `dense` (the 54 words above: every query word is in every note, the worst
// case for counting, which must visit every match) and `zipf` (those 54 words plus 5,000
// generated Korean and English words drawn with a Zipf law, as real text: a query word is in
// some notes only).
function vocabulary(kind, r) {
  if (kind === 'dense') {
    return {
      pick: () => {
        const list = r() < 0.5 ? KO : EN;
        return list[Math.floor(r() * list.length)];
      },
    };
  }
  const words = [...EN, ...KO];
  const syllables = '가나다라마바사아자차카타파하거너더러머버서어저처커터퍼허고노도로모보소오조초코토포호구누두루무부수우주추쿠투푸후';
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  for (let i = 0; words.length < 5054; i += 1) {
    if (i % 2) {
      let w = '';
      for (let k = 0; k < 2 + (i % 3); k += 1) w += syllables[Math.floor(r() * syllables.length)];
      words.push(w);
    } else {
      let w = '';
      for (let k = 0; k < 4 + (i % 6); k += 1) w += letters[Math.floor(r() * 26)];
      words.push(w);
    }
  }
  // Zipf: weight 1/rank; a cumulative table searched by bisection.
  const cumulative = [];
  let total = 0;
  for (let i = 0; i < words.length; i += 1) {
    total += 1 / (i + 1);
    cumulative.push(total);
  }
  return {
    pick: () => {
      const x = r() * total;
      let lo = 0;
      let hi = cumulative.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (cumulative[mid] < x) lo = mid + 1;
        else hi = mid;
      }
      return words[lo];
    },
    words,
  };
}

function generate(root, kind) {
  const r = rng(7);
  const vocab = vocabulary(kind, r);
  for (let i = 0; i < NOTES; i += 1) {
    const dir = path.join(root, `area-${i % 10}`, `topic-${Math.floor(i / 10) % 10}`);
    fs.mkdirSync(dir, { recursive: true });
    const eol = i % 7 === 0 ? '\r\n' : '\n';
    let text = `# ${vocab.pick()} ${vocab.pick()} ${i}${eol}${eol}`;
    while (Buffer.byteLength(text) < 2000) {
      let line = '- ';
      for (let w = 0; w < 12; w += 1) line += `${vocab.pick()} `;
      text += line.trimEnd() + eol;
    }
    fs.writeFileSync(path.join(dir, `note-${i}.md`), text);
  }
  return vocab;
}

function pct(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
const round = (x) => Math.round(x * 100) / 100;

async function timeSearches(backend, root, queries, runs) {
  const times = [];
  let results = 0;
  for (let i = 0; i < runs; i += 1) {
    const query = queries[i % queries.length];
    const t0 = process.hrtime.bigint();
    const answer = await backend.searchNotes({ vault_path: root, query });
    times.push(ms(t0));
    results += answer.results.length;
  }
  return { p50: round(pct(times, 50)), p95: round(pct(times, 95)), avg_results: Math.round(results / runs) };
}

async function timeApp(root, queries, runs) {
  const times = [];
  for (let i = 0; i < runs; i += 1) {
    const t0 = process.hrtime.bigint();
    await appSearchNotes({ vaultPath: root, query: queries[i % queries.length] });
    times.push(ms(t0));
  }
  return round(pct(times, 50));
}

function dbSize(dataDir) {
  let total = 0;
  for (const name of ['index.db', 'index.db-wal']) {
    try {
      total += fs.statSync(path.join(dataDir, name)).size;
    } catch {
      // absent
    }
  }
  return total;
}

async function scenario(kind) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'enttok-bench-vault-'));
  const root = path.join(work, 'vault');
  const dataDir = path.join(work, 'data');
  const out = { vocabulary: kind, notes: NOTES };
  try {
    const vocab = generate(root, kind);
    if (global.gc) global.gc();
    const rss0 = process.memoryUsage().rss;
    let backend = await Backend.open({ dataDir, scheduler: false });
    let t0 = process.hrtime.bigint();
    await backend.searchNotes({ vault_path: root, query: 'warm' });
    out.first_index_ms = Math.round(ms(t0));
    out.rss_mb = Math.round((process.memoryUsage().rss - rss0) / 1e5) / 10;
    out.db_mb = Math.round(dbSize(dataDir) / 1e5) / 10;

    const events = [];
    backend.subscribe((e) => events.push(e));
    const waitEvent = async (pred, timeout = 10000) => {
      const deadline = Date.now() + timeout;
      for (;;) {
        const hit = events.find(pred);
        if (hit) return hit;
        if (Date.now() > deadline) throw new Error('timed out');
        await new Promise((r) => setTimeout(r, 1));
      }
    };

    const rescans = [];
    for (let i = 0; i < 5; i += 1) {
      t0 = process.hrtime.bigint();
      const { job_id } = await backend.createJob({ type: 'vault.scan', payload: { vault_path: root } });
      await waitEvent((e) => e.type === 'job.status' && e.job_id === job_id && e.status !== 'running');
      rescans.push(ms(t0));
    }
    out.rescan_ms = { p50: Math.round(pct(rescans, 50)), min: Math.round(Math.min(...rescans)) };

    const visible = [];
    for (let i = 0; i < 10; i += 1) {
      const rel = `area-${i}/topic-${i}/note-${i * 111}.md`;
      const marker = `edited${i}x`;
      const t = process.hrtime.bigint();
      fs.writeFileSync(path.join(root, rel), `# edit\n\n${marker}\n`);
      await waitEvent((e) => e.type === 'vault.changed' && e.changed.includes(rel));
      visible.push(ms(t));
      const found = await backend.searchNotes({ vault_path: root, query: marker });
      if (found.results.length !== 1) throw new Error(`edit ${i} not searchable`);
    }
    out.edit_visible_ms = { p50: Math.round(pct(visible, 50)), max: Math.round(Math.max(...visible)) };

    // Dense: the common words. Zipf: words of rank 30 to 3,200 (rank 1 is in every note, as
    // "the"; a search box gets rarer words), Korean and English.
    const ranked = (ranks) => ranks.map((k) => vocab.words[k]);
    const one = kind === 'dense'
      ? ['검색', 'meeting', '배포', 'deploy', 'customer', '피드백', 'todo', 'release']
      : ranked([30, 41, 60, 101, 200, 401, 800, 1601, 3200]);
    const three = kind === 'dense'
      ? ['검색 기능 회의', 'meeting review plan', '배포 deploy 고객', 'daily 노트 summary']
      : [ranked([30, 61, 400]), ranked([41, 200, 1601]), ranked([101, 800, 3200]), ranked([35, 45, 90])].map((w) => w.join(' '));
    out.queries = { one: one.slice(0, 3), three: three.slice(0, 2) };
    // Cold: tokens never searched before (each snapshot of the index keeps the per-note
    // counts of its last 16 tokens). Dense: distinct substrings of the common words (they
    // still occur in every note); zipf: distinct words of rank 30 and up.
    const fresh = [];
    if (kind === 'dense') {
      for (const w of [...EN, ...KO].map((x) => x.toLowerCase())) {
        for (let a = 0; a < w.length; a += 1) {
          for (let b = a + 2; b <= w.length; b += 1) fresh.push(w.slice(a, b));
        }
      }
    } else {
      for (let k = 30; fresh.length < 4 * RUNS; k += 1) fresh.push(vocab.words[k]);
    }
    const unique = [...new Set(fresh)].filter((t) => !one.includes(t) && !three.join(' ').split(' ').includes(t));
    const coldOne = unique.slice(0, Math.min(RUNS, Math.floor(unique.length / 4)));
    const rest = unique.slice(coldOne.length);
    const coldThree = [];
    for (let i = 0; i + 2 < rest.length && coldThree.length < coldOne.length; i += 3) coldThree.push(rest.slice(i, i + 3).join(' '));
    out.search_one_word_cold = await timeSearches(backend, root, coldOne, coldOne.length);
    out.search_three_words_cold = await timeSearches(backend, root, coldThree, coldThree.length);
    out.search_one_word = await timeSearches(backend, root, one, RUNS);
    out.search_three_words = await timeSearches(backend, root, three, RUNS);
    // Typing a three-word query, one search per keystroke (the app debounces 200 ms).
    const typed = [];
    for (const q of three) for (let i = 1; i <= q.length; i += 1) typed.push(q.slice(0, i));
    out.search_typing = await timeSearches(backend, root, typed, typed.length);
    out.search_absent_word = await timeSearches(backend, root, ['nothing-here', 'zzqqy'], RUNS);
    out.app_one_word_p50_ms = await timeApp(root, one, APP_RUNS);
    out.app_three_words_p50_ms = await timeApp(root, three, APP_RUNS);

    await backend.close();
    backend = await Backend.open({ dataDir, scheduler: false });
    t0 = process.hrtime.bigint();
    await backend.searchNotes({ vault_path: root, query: 'meeting' });
    out.reopen_first_ms = Math.round(ms(t0));
    await backend.close();
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return out;
}

async function main() {
  const keepAlive = setInterval(() => {}, 1000);
  try {
    const kinds = process.argv.includes('--dense-only') ? ['dense'] : ['zipf', 'dense'];
    for (const kind of kinds) console.log(JSON.stringify(await scenario(kind), null, 2));
    console.log(`load average: ${os.loadavg().map((x) => x.toFixed(1)).join(' ')} (${os.cpus().length} cores)`);
  } finally {
    clearInterval(keepAlive);
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
