'use strict';
// Memory (CONTRACT.md §15): 100,000 observations of mixed Korean/English text.
//  - searchMemory p50/p95 from JS in `fts` and `hybrid` mode (384-dimension vectors);
//  - `memory.chroma_sync` overhead per observation, excluding the embedder's own time;
//  - `memory.process_events` capture of 10,000 activity rows (written with the sqlite3 CLI
//    while the backend is closed; skipped when the CLI is missing);
//  - the index size on disk.
// Figures only: nothing asserts on time.
//
//   node bench/memory.js [--n=100000] [--queries=200]

const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { Backend } = require('..');
const { tempDir, quantile, nowMs, Report, flag } = require('./lib');

const N = Number(flag('n', 100000));
const QUERIES = Number(flag('queries', 200));
const DIM = 384;

// A small deterministic generator (xorshift) so every run stores the same text.
let seed = 0x9e3779b9;
function rand() {
  seed ^= seed << 13; seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5; seed >>>= 0;
  return seed / 0x100000000;
}
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
// A vocabulary with a realistic shape: 6,000 words (half Korean, some with particles, half
// English-like), drawn with a Zipf law (a few very common words such as `the`, `회의`, a long
// tail of rare ones), like work notes.
const SYL = '회의록정리배포일정검토로그인버그수정주간보고서기획안디자인리뷰고객요청사항데이터베이스성능개선테스트추가팀결정'.split('');
const PARTICLES = ['', '', '', '을', '를', '이', '가', '은', '는', '에서', '으로', '했다'];
const EN_BASE = ['deploy', 'release', 'meeting', 'budget', 'review', 'kube', 'cluster', 'upgrade', 'login', 'bug', 'fix',
  'search', 'index', 'memory', 'latency', 'customer', 'request', 'design', 'sprint', 'plan', 'road', 'api', 'gate',
  'auth', 'token', 'factor', 'data', 'migrate', 'perf', 'cache', 'queue', 'worker', 'sync', 'note', 'page'];
const STOP = ['the', 'and', 'for', 'with', 'to', 'of', 'a', 'in', 'is', '및', '그리고', '위해'];
const VOCAB = [...STOP];
while (VOCAB.length < 6000) {
  if (VOCAB.length % 2 === 0) {
    const n = 2 + Math.floor(rand() * 3);
    let w = '';
    for (let i = 0; i < n; i += 1) w += pick(SYL);
    VOCAB.push(w + pick(PARTICLES));
  } else {
    VOCAB.push(pick(EN_BASE) + pick(['', 's', 'ing', 'ed', 'er', '-v2', '_id', 'ment', 'ops']) + (rand() < 0.3 ? String(Math.floor(rand() * 100)) : ''));
  }
}
const CUM = [];
{
  let total = 0;
  for (let r = 1; r <= VOCAB.length; r += 1) { total += 1 / r; CUM.push(total); }
  for (let i = 0; i < CUM.length; i += 1) CUM[i] /= total;
}
function word() {
  const x = rand();
  let lo = 0; let hi = CUM.length - 1;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (CUM[mid] < x) lo = mid + 1; else hi = mid; }
  return VOCAB[lo];
}
function sentence(words) {
  const out = [];
  for (let i = 0; i < words; i += 1) out.push(word());
  return out.join(' ');
}

/** A hashed bag of words, 384 dimensions: a stand-in for a real model (its time is measured apart). */
function embedOne(text) {
  const v = new Float32Array(DIM);
  let h = 5381;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 10) {
      v[h % DIM] += 1;
      h = 5381;
    } else {
      h = (Math.imul(h, 33) ^ c) >>> 0;
    }
  }
  v[h % DIM] += 1;
  return v;
}

async function main() {
  const report = new Report('memory');
  const dataDir = tempDir('memory');
  let backend = await Backend.open({ dataDir, scheduler: false });
  const dayMs = 86400000;
  const now = Date.now();

  // 1. 100,000 observations through the GitHub sync route (1,000 commits a request).
  let t0 = nowMs();
  for (let done = 0; done < N; done += 1000) {
    const commits = [];
    for (let i = 0; i < Math.min(1000, N - done); i += 1) {
      const k = done + i;
      commits.push({
        sha: k.toString(16).padStart(7, '0'),
        message: `${sentence(6)}\n\n${sentence(10 + Math.floor(rand() * 50))}`,
        repository: `acme/${pick(['web', 'api', 'infra', 'mobile'])}`,
        url: `https://github.com/acme/x/commit/${k}`,
        createdAt: new Date(now - Math.floor(rand() * 80 * dayMs)).toISOString(),
      });
    }
    await backend.syncGithubMemory({ commits });
  }
  const ingest = nowMs() - t0;
  report.add('ingest 100k observations (GitHub sync, 1,000 per call)', N / (ingest / 1000), 'obs/s', { digits: 0 });

  const queries = [];
  for (let i = 0; i < QUERIES; i += 1) queries.push(sentence(2 + Math.floor(rand() * 4)));
  const timed = async (mode, limit = 20) => {
    const times = [];
    for (const q of queries) {
      const s = nowMs();
      await backend.searchMemory({ query: q, search_mode: mode, limit });
      times.push(nowMs() - s);
    }
    times.sort((a, b) => a - b);
    return times;
  };
  await timed('fts'); // warm the page cache
  const fts = await timed('fts');
  report.add('searchMemory fts p50 (100k obs, prompts of 2-5 Zipf words)', quantile(fts, 0.5), 'ms', { better: 'lower', target: '< 5 ms', meets: (v) => v < 5, digits: 2 });
  report.add('searchMemory fts p95', quantile(fts, 0.95), 'ms', { better: 'lower', digits: 2 });
  // The app's assistant asks for 100 on every prompt: more prompts reach the short terms.
  const fts100 = await timed('fts', 100);
  report.add('searchMemory fts p50, limit 100 (the assistant\'s)', quantile(fts100, 0.5), 'ms', { better: 'lower', digits: 2 });
  report.add('searchMemory fts p95, limit 100', quantile(fts100, 0.95), 'ms', { better: 'lower', digits: 2 });
  const long = 'x'.repeat(1) + sentence(1500);
  let s = nowMs();
  await backend.searchMemory({ query: long, search_mode: 'fts', limit: 100 });
  report.add('searchMemory fts, a 1,500-word prompt, limit 100', nowMs() - s, 'ms', { better: 'lower', digits: 1 });

  // 2. Embeddings: chroma_sync of every observation; the embedder's own time is measured apart.
  let embedMs = 0;
  let embedded = 0;
  backend.registerEmbedder({
    model: 'bench-bag-384', dimensions: DIM, batchSize: 64,
    embed: (texts) => {
      const st = nowMs();
      const out = texts.map(embedOne);
      embedMs += nowMs() - st;
      embedded += texts.length;
      return out;
    },
  });
  t0 = nowMs();
  const { job_id } = await backend.syncMemoryVectors();
  for (;;) {
    const job = await backend.getJob(job_id);
    if (job.status !== 'queued' && job.status !== 'running') {
      if (job.status !== 'succeeded') throw new Error(`chroma_sync ${job.status}: ${JSON.stringify(job.error)}`);
      break;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const syncMs = nowMs() - t0;
  // The debounced job started at registration may have embedded part of them too.
  const overheadUs = ((syncMs - embedMs) * 1000) / N;
  report.add('memory.chroma_sync overhead per observation (excl. embedder)', overheadUs, 'µs', { better: 'lower', target: '< 50 µs', meets: (v) => v < 50, digits: 1, note: `${embedded} texts embedded, embedder ${Math.round(embedMs)} ms of ${Math.round(syncMs)} ms` });

  await backend.searchMemory({ query: 'warm', search_mode: 'hybrid' }); // loads the vectors
  const hybrid = await timed('hybrid');
  report.add('searchMemory hybrid p50 (100k × 384-d vectors)', quantile(hybrid, 0.5), 'ms', { better: 'lower', target: '< 15 ms', meets: (v) => v < 15, digits: 2 });
  report.add('searchMemory hybrid p95', quantile(hybrid, 0.95), 'ms', { better: 'lower', digits: 2 });
  await backend.close();

  const sizes = ['index.db', 'index.db-wal'].map((f) => {
    try { return fs.statSync(path.join(dataDir, f)).size; } catch { return 0; }
  });
  report.add('index.db size with 100k observations, FTS and 384-d vectors', (sizes[0] + sizes[1]) / 1048576, 'MiB', { better: 'lower', digits: 1 });

  // 3. process_events over 10,000 activity rows (inserted while the backend is closed).
  let haveCli = true;
  try { execFileSync('sqlite3', ['-version'], { stdio: 'ignore' }); } catch { haveCli = false; }
  if (haveCli) {
    const nowS = Math.floor(Date.now() / 1000);
    const rows = [];
    for (let i = 0; i < 10000; i += 1) {
      const title = `ABC-${i}: ${sentence(5)}`.replace(/'/g, "''");
      const desc = sentence(20).replace(/'/g, "''");
      const src = i % 3 === 0 ? 'confluence' : 'jira';
      const type = src === 'jira' ? pick(['issue.created', 'issue.updated', 'issue.commented']) : pick(['page.created', 'page.updated', 'comment.created']);
      rows.push(`('${src}:bench:${i}','${src}','atl_1','${type}','${title}','${desc}','https://x/${i}','Kim','2026-01-01T00:00:00Z',${nowS - (i % 3000)},'n','n',NULL)`);
    }
    const sql = `BEGIN;\nINSERT INTO activity_events VALUES\n${rows.join(',\n')};\nCOMMIT;\n`;
    execFileSync('sqlite3', [path.join(dataDir, 'index.db')], { input: sql });
    backend = await Backend.open({ dataDir, scheduler: false });
    t0 = nowMs();
    const p = await backend.processMemory({ window_minutes: 60 });
    let job;
    for (;;) {
      job = await backend.getJob(p.job_id);
      if (job.status !== 'queued' && job.status !== 'running') break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const captureMs = nowMs() - t0;
    report.add('memory.process_events: capture 10,000 activity rows', captureMs, 'ms', { better: 'lower', target: '< 2000 ms', meets: (v) => v < 2000, digits: 0, note: `${job.status} ${JSON.stringify(job.result)}` });
    await backend.close();
  } else {
    console.log('  (sqlite3 CLI not found: process_events capture not measured)');
  }
  report.finish();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
