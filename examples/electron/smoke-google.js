'use strict';
// For `--smoke` only: a tiny stand-in for Google Calendar on 127.0.0.1, so the smoke run has real
// calendar events to list (they reach JS as columns in typed arrays, copied, not external
// buffers: Electron's V8 memory cage refuses those, and this is where it would show).
const http = require('node:http');

const rfc = (d) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Starts the fake with `count` events in the middle of the current month. */
async function startFakeGoogle(count = 200) {
  const now = new Date();
  const mid = new Date(now.getFullYear(), now.getMonth(), 10);
  const titles = ['Standup', '주간 회의', 'Café ☕ "sync"', 'Review 🎉'];
  const items = [];
  for (let k = 0; k < count; k += 1) {
    const start = new Date(mid.getTime() + k * 3600 * 1000);
    items.push({
      kind: 'calendar#event', id: `smoke-${k}`, status: 'confirmed', summary: titles[k % titles.length],
      description: k % 3 === 0 ? `notes ${k} ${'가'.repeat(50)}` : undefined,
      created: '2024-01-01T00:00:00.000Z', updated: '2024-01-02T00:00:00.000Z',
      start: { dateTime: rfc(start) }, end: { dateTime: rfc(new Date(start.getTime() + 30 * 60000)) },
      attendees: k % 5 === 0 ? [{ email: 'a@example.com', responseStatus: 'accepted' }] : undefined,
    });
  }
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const send = (status, value) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    req.resume();
    req.on('end', () => {
      if (url.pathname === '/userinfo') return send(200, { id: '1', email: 'smoke@example.com' });
      if (url.pathname === '/calendar/v3/users/me/calendarList') {
        return send(200, { kind: 'calendar#calendarList', nextSyncToken: 'cl', items: [{ kind: 'calendar#calendarListEntry', id: 'smoke@example.com', summary: 'Me', timeZone: 'UTC', selected: true, accessRole: 'owner', primary: true }] });
      }
      if (/^\/calendar\/v3\/calendars\/[^/]+\/events$/.test(url.pathname)) {
        return send(200, { kind: 'calendar#events', timeZone: 'UTC', items, nextSyncToken: 'ev' });
      }
      return send(404, { error: { code: 404, message: 'Not Found' } });
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    count,
    endpoints: { googleAuthUrl: `${base}/auth`, googleTokenUrl: `${base}/token`, googleCalendarApi: `${base}/calendar/v3`, googleUserinfoUrl: `${base}/userinfo` },
    close: () => new Promise((r) => { server.close(r); server.closeAllConnections(); }),
  };
}

/** Creates a Google account on the fake and syncs it; resolves with the number of events listed in main. */
async function seedCalendar(backend) {
  const expires = new Date(Date.now() + 3600 * 1000).toISOString();
  const account = await backend.createCalendarAccount({
    provider: 'google', email: 'smoke@example.com',
    credentials: { access_token: 'smoke-token', refresh_token: 'smoke-refresh', expires_in: 3599, expires_at: expires },
  });
  const { job_id } = await backend.syncCalendarAccount(account.account_id, {});
  for (let i = 0; i < 600; i += 1) {
    const job = await backend.getJob(job_id);
    if (job.status === 'succeeded') break;
    if (job.status === 'failed' || job.status === 'canceled') throw new Error(`calendar sync ${job.status}: ${JSON.stringify(job.error)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const now = new Date();
  const list = await backend.listCalendarEvents({
    start: new Date(now.getFullYear(), now.getMonth(), 1), end: new Date(now.getFullYear(), now.getMonth() + 1, 1),
  });
  return list.length;
}

module.exports = { startFakeGoogle, seedCalendar };
