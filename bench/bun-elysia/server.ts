// Issue 3's comparison point: the Bun + Elysia server the seeds planned, doing what our adapter
// does for the measured routes — loopback Host check, constant-time `X-Backend-Token` check,
// the contract's security headers, JSON bodies; `/jobs/{id}` reads the row from SQLite (WAL,
// synchronous=NORMAL, bun:sqlite) and parses its JSON columns; `POST /jobs` validates and
// inserts a queued row durably. It runs no jobs (ours does: a `demo` job per POST), so POST
// favours it. Started by bench/http.js with PORT, TOKEN and DB in the environment; prints
// `PORT <n>` once listening.
import { Elysia } from 'elysia';
import { Database } from 'bun:sqlite';
import { timingSafeEqual, randomBytes } from 'node:crypto';

const token = Buffer.from(process.env.TOKEN ?? '');
const db = new Database(process.env.DB ?? ':memory:');
db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;');
db.exec(`CREATE TABLE IF NOT EXISTS jobs (job_id TEXT PRIMARY KEY, type TEXT NOT NULL, status TEXT NOT NULL,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, progress REAL, message TEXT, payload_json TEXT,
  result_json TEXT, error_json TEXT)`);
const getJob = db.query('SELECT * FROM jobs WHERE job_id = ?1');
const insertJob = db.query(`INSERT INTO jobs (job_id, type, status, created_at, updated_at, payload_json)
  VALUES (?1, ?2, 'queued', ?3, ?3, ?4)`);

const HEADERS = {
  'content-type': 'application/json',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
};
const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: HEADERS });
const now = () => new Date().toISOString().slice(0, 19) + 'Z';
let port = 0;

function authorized(req: Request): boolean {
  const given = req.headers.get('x-backend-token');
  if (given === null) return false;
  const b = Buffer.from(given);
  return b.length === token.length && timingSafeEqual(b, token);
}

function loopbackHost(req: Request): boolean {
  const host = req.headers.get('host') ?? '';
  return host === `127.0.0.1:${port}` || host === `localhost:${port}`;
}

const app = new Elysia()
  .onRequest(({ request }) => {
    if (!loopbackHost(request)) return json({ detail: 'invalid host' }, 403);
    if (!authorized(request)) return json({ detail: 'unauthorized' }, 401);
  })
  .get('/health', () => json({ status: 'ok', time: now() }))
  .get('/jobs/:id', ({ params }) => {
    const row = getJob.get(params.id) as Record<string, unknown> | null;
    if (!row) return json({ detail: 'job not found' }, 404);
    const parse = (v: unknown) => (typeof v === 'string' ? JSON.parse(v) : null);
    return json({
      job_id: row.job_id, type: row.type, status: row.status, created_at: row.created_at,
      updated_at: row.updated_at, progress: row.progress, message: row.message,
      payload: parse(row.payload_json), result: parse(row.result_json), error: parse(row.error_json),
    });
  })
  .post('/jobs', ({ body }) => {
    const b = body as { type?: unknown; payload?: unknown } | null;
    if (!b || typeof b.type !== 'string') {
      return json({ detail: [{ type: 'missing', loc: ['body', 'type'], msg: 'Field required', input: b }] }, 422);
    }
    const id = `job_${randomBytes(16).toString('hex')}`;
    insertJob.run(id, b.type, now(), JSON.stringify(b.payload ?? {}));
    return json({ job_id: id, status: 'queued' });
  })
  .listen({ port: Number(process.env.PORT ?? 0), hostname: '127.0.0.1' });

port = app.server?.port ?? 0;
// A job to read, like the adapter's benchmark reads one.
const seed = `job_${randomBytes(16).toString('hex')}`;
insertJob.run(seed, 'demo', now(), '{"simulate_ms":0}');
console.log(`PORT ${port} JOB ${seed}`);
