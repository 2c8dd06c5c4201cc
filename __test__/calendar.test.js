'use strict';
// Google Calendar through the JS API (CONTRACT.md §4.4, §4.5, §8): the OAuth PKCE round trip
// through the loopback callback (the test plays the browser), then a sync against a fake Google
// on 127.0.0.1 that speaks Calendar API v3 and checks what it receives.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const http = require('node:http');
const { open, record, waitFor, waitForJob } = require('./helpers');

const CLIENT_ID = 'test-client.apps.googleusercontent.com';
const CLIENT_SECRET = 'GOCSPX-test-secret';
const ACCESS = 'ya29.fake-access-token';
const REFRESH = '1//fake-refresh-token';
const EMAIL = 'someone@example.com';
const PRIMARY = EMAIL;
const HOLIDAYS = 'en.japanese#holiday@group.v.calendar.google.com';

const b64url = (buf) => buf.toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const inHours = (h) => new Date(Date.now() + h * 3600 * 1000);
const rfc = (d) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The fake Google: OAuth token endpoint, userinfo, Calendar API v3. */
async function fakeGoogle() {
  const requests = [];
  const flows = new Map(); // state -> code_challenge, filled by the test from auth_url
  const tomorrow = inHours(24);
  const events = {
    [PRIMARY]: [
      {
        kind: 'calendar#event', id: 'evt-timed', status: 'confirmed', summary: 'Standup', description: 'Daily',
        location: 'Room 1', htmlLink: 'https://www.google.com/calendar/event?eid=x', created: '2024-01-01T00:00:00.000Z',
        updated: '2024-01-02T00:00:00.000Z', start: { dateTime: rfc(tomorrow), timeZone: 'Asia/Seoul' },
        end: { dateTime: rfc(new Date(tomorrow.getTime() + 30 * 60000)), timeZone: 'Asia/Seoul' },
        organizer: { email: EMAIL, self: true }, attendees: [{ email: 'a@example.com', responseStatus: 'accepted' }],
        conferenceData: { entryPoints: [{ entryPointType: 'video', uri: 'https://meet.google.com/abc-defg-hij' }] },
      },
      { kind: 'calendar#event', id: 'evt-gone', status: 'cancelled' },
      { kind: 'calendar#event', id: 'evt-nostart', status: 'confirmed', summary: 'No times' },
    ],
    [HOLIDAYS]: [
      { kind: 'calendar#event', id: 'evt-allday', status: 'confirmed', summary: 'Holiday', start: { date: '2024-03-10' }, end: { date: '2024-03-11' }, visibility: 'public' },
    ],
  };
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => { raw += d; });
    req.on('end', () => {
      const url = new URL(req.url, 'http://x');
      const entry = { method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), form: null, headers: req.headers };
      requests.push(entry);
      const send = (status, value) => {
        res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
        res.end(JSON.stringify(value));
      };
      if (req.method === 'POST' && url.pathname === '/token') {
        const form = Object.fromEntries(new URLSearchParams(raw));
        entry.form = form;
        if (form.client_id !== CLIENT_ID || form.client_secret !== CLIENT_SECRET) return send(401, { error: 'invalid_client', error_description: 'The OAuth client was not found.' });
        if (form.grant_type !== 'authorization_code' || form.code !== 'abc') return send(400, { error: 'invalid_grant', error_description: 'Bad Request' });
        // PKCE: the verifier must hash to the challenge the auth URL carried.
        const challenge = b64url(crypto.createHash('sha256').update(form.code_verifier || '').digest());
        if (![...flows.values()].includes(challenge)) return send(400, { error: 'invalid_grant', error_description: 'Invalid code verifier.' });
        return send(200, { access_token: ACCESS, refresh_token: REFRESH, expires_in: 3599, scope: 'https://www.googleapis.com/auth/calendar.readonly', token_type: 'Bearer' });
      }
      if (req.headers.authorization !== `Bearer ${ACCESS}`) return send(401, { error: { code: 401, message: 'Request had invalid authentication credentials.', status: 'UNAUTHENTICATED' } });
      if (url.pathname === '/userinfo') return send(200, { id: '1', email: EMAIL, verified_email: true });
      if (url.pathname === '/calendar/v3/users/me/calendarList') {
        const first = { kind: 'calendar#calendarListEntry', id: PRIMARY, summary: 'Me', timeZone: 'Asia/Seoul', backgroundColor: '#9fe1e7', foregroundColor: '#000000', selected: true, accessRole: 'owner', primary: true };
        const second = { kind: 'calendar#calendarListEntry', id: HOLIDAYS, summary: 'Holidays in Japan', description: 'Holidays', timeZone: 'Asia/Seoul', backgroundColor: '#16a765', foregroundColor: '#000000', accessRole: 'reader' };
        if (!url.searchParams.get('pageToken')) return send(200, { kind: 'calendar#calendarList', etag: '"p1"', nextPageToken: 'list-2', items: [first] });
        if (url.searchParams.get('pageToken') === 'list-2') return send(200, { kind: 'calendar#calendarList', etag: '"p2"', nextSyncToken: 'cl-sync', items: [second] });
        return send(400, { error: { code: 400, message: 'bad page token' } });
      }
      const m = url.pathname.match(/^\/calendar\/v3\/calendars\/([^/]+)\/events$/);
      if (m) {
        const id = decodeURIComponent(m[1]);
        if (!events[id]) return send(404, { error: { code: 404, message: 'Not Found' } });
        return send(200, { kind: 'calendar#events', summary: id, timeZone: 'Asia/Seoul', items: events[id], nextSyncToken: `sync-${id}` });
      }
      return send(404, { error: { code: 404, message: 'Not Found' } });
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    base, requests, flows, tomorrow, events,
    endpoints: {
      googleAuthUrl: `${base}/auth`,
      googleTokenUrl: `${base}/token`,
      googleCalendarApi: `${base}/calendar/v3`,
      googleUserinfoUrl: `${base}/userinfo`,
    },
    close: () => new Promise((r) => {
      server.close(r);
      server.closeAllConnections();
    }),
  };
}

/** Opens a backend on the fake; both are closed after the test, even when it fails. */
async function openGoogle(t, fake) {
  const opened = await open({ googleClientId: CLIENT_ID, googleClientSecret: CLIENT_SECRET, endpoints: fake.endpoints });
  t.after(async () => {
    await opened.backend.close();
    await fake.close();
  });
  return opened;
}

/** startGoogleOAuth, with the challenge handed to the fake (as the real auth page would keep it). */
async function start(backend, fake) {
  const flow = await backend.startGoogleOAuth();
  const auth = new URL(flow.auth_url);
  fake.flows.set(flow.state, auth.searchParams.get('code_challenge'));
  return { flow, auth };
}

const ACCOUNT_KEYS = ['account_id', 'provider', 'display_name', 'email', 'connected', 'created_at', 'updated_at', 'last_sync_at', 'sync_cursor'];

test('OAuth round trip through the loopback callback, sync, queries, delete', async (t) => {
  const fake = await fakeGoogle();
  const { backend } = await openGoogle(t, fake);
  const { events, off } = record(backend);

  const { flow, auth } = await start(backend, fake);
  const other = await start(backend, fake); // a second pending flow keeps the listener up
  assert.deepEqual(Object.keys(flow).sort(), ['auth_url', 'port', 'redirect_uri', 'state']);
  assert.match(flow.state, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(flow.redirect_uri, `http://127.0.0.1:${flow.port}/calendar/oauth/google/callback`);
  assert.equal(other.flow.port, flow.port);
  assert.equal(`${auth.origin}${auth.pathname}`, fake.endpoints.googleAuthUrl);
  assert.deepEqual([...auth.searchParams.keys()], ['client_id', 'redirect_uri', 'response_type', 'scope', 'state', 'code_challenge', 'code_challenge_method', 'access_type', 'prompt']);
  assert.equal(auth.searchParams.get('client_id'), CLIENT_ID);
  assert.equal(auth.searchParams.get('redirect_uri'), flow.redirect_uri);
  assert.equal(auth.searchParams.get('scope'), 'https://www.googleapis.com/auth/calendar.readonly');
  assert.equal(auth.searchParams.get('state'), flow.state);
  assert.equal(auth.searchParams.get('code_challenge_method'), 'S256');
  assert.match(auth.searchParams.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/);

  // The browser comes back.
  const page = await fetch(`${flow.redirect_uri}?code=abc&state=${encodeURIComponent(flow.state)}&scope=x`);
  const html = await page.text();
  assert.equal(page.status, 200, html);
  assert.match(page.headers.get('content-type'), /^text\/html/);
  assert.ok(html.includes('Authorization Successful!'));
  assert.ok(html.includes(EMAIL));
  const exchange = fake.requests.find((r) => r.path === '/token');
  assert.equal(exchange.form.redirect_uri, flow.redirect_uri);
  assert.equal(exchange.form.code_verifier.length, 86);

  await waitFor(() => events.some((e) => e.type === 'oauth.completed'), { what: 'oauth.completed' });
  const done = events.find((e) => e.type === 'oauth.completed');
  assert.deepEqual(Object.keys(done), ['type', 'provider', 'state', 'ok', 'account_id', 'email', 'error', 'timestamp']);
  assert.equal(done.ok, true);
  assert.equal(done.provider, 'google');
  assert.equal(done.state, flow.state);
  assert.equal(done.email, EMAIL);
  assert.equal(done.error, null);

  const accounts = await backend.listCalendarAccounts();
  assert.equal(accounts.length, 1);
  const account = accounts[0];
  assert.deepEqual(Object.keys(account), ACCOUNT_KEYS);
  assert.equal(account.account_id, done.account_id);
  assert.match(account.account_id, /^cal_[0-9a-f]{32}$/);
  assert.equal(account.provider, 'google');
  assert.equal(account.email, EMAIL);
  assert.equal(account.display_name, EMAIL);
  assert.equal(account.connected, true);
  assert.equal(account.last_sync_at, null);
  assert.deepEqual(await backend.getCalendarAccount(account.account_id), account);

  // A replayed state is refused (the other flow keeps the listener up).
  const replay = await fetch(`${flow.redirect_uri}?code=abc&state=${encodeURIComponent(flow.state)}`);
  assert.equal(replay.status, 400);
  assert.ok((await replay.text()).includes('Authorization Failed'));
  assert.equal((await backend.listCalendarAccounts()).length, 1);
  const missing = await fetch(`${flow.redirect_uri}?state=${encodeURIComponent(other.flow.state)}`);
  assert.equal(missing.status, 400);
  // Only the callback path is served there.
  assert.equal((await fetch(`http://127.0.0.1:${flow.port}/health`)).status, 404);

  // completeGoogleOAuth: a bad code fails the exchange and consumes the state.
  await assert.rejects(backend.completeGoogleOAuth({ code: 'bad', state: other.flow.state }), (e) => {
    assert.equal(e.status, 400);
    assert.equal(e.detail, 'Token exchange failed: Token exchange failed: Bad Request');
    return true;
  });
  await assert.rejects(backend.completeGoogleOAuth({ code: 'abc', state: other.flow.state }), (e) => e.status === 400 && e.detail === 'Invalid or expired OAuth state');
  await waitFor(() => events.some((e) => e.type === 'oauth.completed' && e.state === other.flow.state));
  const failed = events.find((e) => e.type === 'oauth.completed' && e.state === other.flow.state);
  assert.equal(failed.ok, false);
  assert.equal(failed.account_id, null);

  // Sync.
  fake.requests.length = 0;
  const { job_id, status } = await backend.syncCalendarAccount(account.account_id);
  assert.equal(status, 'queued');
  const job = await waitForJob(backend, job_id);
  assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
  assert.deepEqual(job.result, { account_id: account.account_id, provider: 'google', synced_events: 2, synced_calendars: 2 });
  assert.equal(job.message, 'Synced 2 events across 2 calendars');
  await waitFor(() => events.some((e) => e.type === 'job.status' && e.job_id === job_id && e.status === 'succeeded'));
  const progress = events.filter((e) => e.type === 'job.progress' && e.job_id === job_id);
  assert.deepEqual(progress, [
    { type: 'job.progress', job_id, progress: 0.15, stage: 'fetching_calendars' },
    { type: 'job.progress', job_id, progress: 0.2, stage: 'fetching_events' },
    { type: 'job.progress', job_id, progress: 0.5, stage: 'fetching_events' },
  ]);
  const perCalendar = events.filter((e) => e.type === 'calendar.sync' && e.job_id === job_id);
  assert.deepEqual(perCalendar.map((e) => [e.calendar_id, e.synced_events, e.full_sync]), [[PRIMARY, 1, true], [HOLIDAYS, 1, true]]);

  // What the fake saw: a full sync per calendar, ids percent-encoded.
  const eventCalls = fake.requests.filter((r) => r.path.endsWith('/events'));
  assert.deepEqual(eventCalls.map((r) => r.path), [
    `/calendar/v3/calendars/${encodeURIComponent(PRIMARY)}/events`,
    `/calendar/v3/calendars/${encodeURIComponent(HOLIDAYS)}/events`,
  ]);
  for (const call of eventCalls) {
    assert.equal(call.query.singleEvents, 'true');
    assert.equal(call.query.showDeleted, 'true');
    assert.equal(call.query.maxResults, '250');
    assert.equal(call.query.orderBy, 'startTime');
    assert.ok(call.query.timeMin && call.query.timeMax);
    assert.equal(call.query.syncToken, undefined);
  }
  assert.deepEqual(fake.requests.filter((r) => r.path.endsWith('calendarList')).map((r) => r.query.pageToken), [undefined, 'list-2']);

  const calendars = await backend.listCalendars({ account_id: account.account_id });
  assert.deepEqual(calendars.map((c) => [c.calendar_id, c.name, c.is_primary, c.selected]), [[PRIMARY, 'Me', true, true], [HOLIDAYS, 'Holidays in Japan', false, true]]);
  assert.deepEqual(Object.keys(calendars[0]), ['account_id', 'calendar_id', 'provider', 'name', 'description', 'is_primary', 'access_role', 'background_color', 'foreground_color', 'time_zone', 'selected', 'created_at', 'updated_at']);

  const soon = await backend.listCalendarEvents({ start: new Date(), end: inHours(48) });
  assert.equal(soon.length, 1);
  const standup = soon[0];
  assert.deepEqual(Object.keys(standup), ['account_id', 'event_id', 'calendar_id', 'title', 'description', 'start_time', 'end_time', 'start_ts', 'end_ts', 'all_day', 'location', 'conference_url', 'visibility', 'status', 'organizer', 'attendees', 'html_link', 'time_zone', 'created_at', 'updated_at', 'calendar_color', 'calendar_name']);
  assert.equal(standup.event_id, 'evt-timed');
  assert.equal(standup.title, 'Standup');
  assert.equal(standup.all_day, false);
  assert.equal(standup.start_ts, Math.floor(fake.tomorrow.getTime() / 1000));
  assert.equal(standup.start_time, rfc(fake.tomorrow));
  assert.equal(standup.end_ts - standup.start_ts, 1800);
  assert.equal(standup.conference_url, 'https://meet.google.com/abc-defg-hij');
  assert.equal(standup.time_zone, 'Asia/Seoul');
  assert.equal(standup.calendar_name, 'Me');
  assert.equal(standup.calendar_color, '#9fe1e7');
  assert.deepEqual(standup.organizer, { email: EMAIL, self: true });
  assert.equal(standup.attendees.length, 1);

  // The all-day event: midnight in Asia/Seoul.
  const holiday = await backend.listCalendarEvents({ start: new Date('2024-03-09T00:00:00Z'), end: new Date('2024-03-12T00:00:00Z'), calendar_ids: [HOLIDAYS] });
  assert.deepEqual(holiday.map((e) => [e.event_id, e.all_day, e.start_ts, e.end_ts, e.start_time]), [['evt-allday', true, 1709996400, 1710082800, '2024-03-10']]);
  assert.deepEqual(await backend.listCalendarEvents({ start: '2024-03-09', end: '2024-03-12', calendar_ids: PRIMARY }), []);

  // selected_only filters; updateCalendar toggles.
  assert.deepEqual(await backend.updateCalendar(account.account_id, HOLIDAYS, { selected: false }), { ok: true });
  assert.deepEqual((await backend.listCalendars()).map((c) => c.calendar_id), [PRIMARY]);
  assert.equal((await backend.listCalendars({ selected_only: false })).length, 2);
  assert.deepEqual(await backend.listCalendarEvents({ start: '2024-03-09', end: '2024-03-12' }), []);
  assert.equal((await backend.listCalendarEvents({ start: '2024-03-09', end: '2024-03-12', selected_only: 'false' })).length, 1);
  await assert.rejects(backend.listCalendarEvents({ start: '2024-03-12', end: '2024-03-09' }), (e) => e.status === 400 && e.detail === 'start must be before end');
  await assert.rejects(backend.listCalendarEvents({ end: '2024-03-09' }), (e) => {
    assert.equal(e.status, 422);
    // A missing query parameter's input is null (not the query object), as FastAPI answers.
    assert.deepEqual(e.detail, [{ type: 'missing', loc: ['query', 'start'], msg: 'Field required', input: null }]);
    return true;
  });
  for (const [start, detail] of [['2024-13-01', 'month must be in 1..12'], ['2024-04-31', 'day is out of range for month'], ['2024-03-09T24:00', 'hour must be in 0..23']]) {
    await assert.rejects(backend.listCalendarEvents({ start, end: '2025-01-01' }), (e) => e.status === 400 && e.detail === detail);
  }

  assert.match((await backend.getCalendarAccount(account.account_id)).last_sync_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

  // No token ever leaves the backend.
  off();
  const everything = JSON.stringify([events, await backend.listCalendarAccounts(), await backend.listJobs(), await backend.listJobEvents(job_id)]);
  assert.ok(!everything.includes(ACCESS) && !everything.includes(REFRESH));

  assert.deepEqual(await backend.deleteCalendarAccount(account.account_id), { ok: true });
  assert.deepEqual(await backend.listCalendarAccounts(), []);
  assert.deepEqual(await backend.listCalendars({ selected_only: false }), []);
  assert.deepEqual(await backend.listCalendarEvents({ start: '2024-01-01', end: inHours(100) , selected_only: false }), []);
  await assert.rejects(backend.getCalendarAccount(account.account_id), (e) => e.code === 'E_NOT_FOUND' && e.detail === 'calendar account not found');
  await assert.rejects(backend.deleteCalendarAccount(account.account_id), (e) => e.code === 'E_NOT_FOUND');
});

test('completeGoogleOAuth creates the account without the browser', async (t) => {
  const fake = await fakeGoogle();
  const { backend } = await openGoogle(t, fake);
  const { flow } = await start(backend, fake);
  const out = await backend.completeGoogleOAuth({ code: 'abc', state: flow.state });
  assert.deepEqual(Object.keys(out), ['account', 'success', 'message']);
  assert.equal(out.success, true);
  assert.equal(out.message, 'Google Calendar connected successfully');
  assert.deepEqual(Object.keys(out.account), ACCOUNT_KEYS);
  assert.equal(out.account.email, EMAIL);
  assert.ok(!JSON.stringify(out).includes(ACCESS));
  // The state is single-use over the callback too.
  const replay = await fetch(`${flow.redirect_uri}?code=abc&state=${encodeURIComponent(flow.state)}`).catch(() => null);
  assert.ok(replay === null || replay.status === 400, 'a used state must not succeed again');
  assert.equal((await backend.listCalendarAccounts()).length, 1);
});

test('Google OAuth not configured is E_INTERNAL 500 with the contract text', async () => {
  const { backend } = await open();
  await assert.rejects(backend.startGoogleOAuth(), (e) => {
    assert.equal(e.code, 'E_INTERNAL');
    assert.equal(e.status, 500);
    assert.equal(e.detail, 'Google OAuth not configured. Set GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET.');
    return true;
  });
  const apple = await backend.createCalendarAccount({ provider: 'apple', display_name: 'Apple Calendar (CalDAV/iCloud)' });
  assert.equal(apple.connected, false);
  const { job_id } = await backend.syncCalendarAccount(apple.account_id);
  const job = await waitForJob(backend, job_id);
  assert.equal(job.status, 'failed');
  assert.equal(job.error.message, 'Apple Calendar sync not yet implemented');
  await assert.rejects(backend.createCalendarAccount({ provider: 'outlook' }), (e) => e.status === 422 && e.detail[0].type === 'enum');
  assert.deepEqual((await backend.listCalendarProviders()).map((p) => p.id), ['google', 'apple']);
  await backend.close();
});

test('accounts of the same second list in insertion order, newer seconds first (JS and HTTP)', async () => {
  const { backend } = await open();
  // Three creations take milliseconds: they cross at most one second boundary, so at least two
  // share a second.
  const created = [];
  for (const name of ['a', 'b', 'c']) {
    created.push(await backend.createCalendarAccount({ provider: 'apple', display_name: name }));
  }
  const seconds = [...new Set(created.map((a) => a.created_at))].sort().reverse();
  assert.ok(seconds.length < created.length, 'two accounts share a second');
  const want = seconds.flatMap((at) => created.filter((a) => a.created_at === at).map((a) => a.display_name));
  assert.deepEqual((await backend.listCalendarAccounts()).map((a) => a.display_name), want);
  const { port, token } = await backend.startHttp();
  const r = await fetch(`http://127.0.0.1:${port}/calendar/accounts`, { headers: { 'X-Backend-Token': token } });
  assert.deepEqual((await r.json()).accounts.map((a) => a.display_name), want);
  await backend.close();
});

test('with the HTTP adapter running, the OAuth redirect uses its port and it serves the callback', async (t) => {
  const fake = await fakeGoogle();
  const { backend } = await openGoogle(t, fake);
  {
    const { port } = await backend.startHttp();
    const { flow } = await start(backend, fake);
    assert.equal(flow.port, port);
    const page = await fetch(`${flow.redirect_uri}?code=abc&state=${encodeURIComponent(flow.state)}`);
    assert.equal(page.status, 200);
    assert.ok((await page.text()).includes('Authorization Successful!'));
  }
});

test('listCalendarEvents from JS equals GET /calendar/events: every field, text in any script, nulls', async (t) => {
  const fake = await fakeGoogle();
  // Many events of every shape, so the columns the JS side rebuilds from are exercised:
  // non-ASCII text (UTF-16 offsets), quotes and newlines, missing fields, all-day, attendees.
  const base = Date.parse('2030-01-01T00:00:00Z');
  const titles = ['주간 회의', 'Café ☕ "sync"', 'emoji 🎉🎉 party', 'line\nbreak\ttab', 'x', '', 'ASCII only title here'];
  for (let k = 0; k < 120; k += 1) {
    const start = new Date(base + k * 3600 * 1000);
    const e = {
      kind: 'calendar#event', id: `bulk-${k}`, status: k % 11 === 0 ? 'tentative' : 'confirmed', summary: titles[k % titles.length],
      htmlLink: `https://www.google.com/calendar/event?eid=bulk${k}`, created: '2024-01-01T00:00:00.000Z', updated: `2024-01-0${1 + (k % 9)}T00:00:00.000Z`,
    };
    if (k % 5 === 0) {
      e.start = { date: rfc(start).slice(0, 10) };
      e.end = { date: rfc(new Date(start.getTime() + 86400000)).slice(0, 10) };
    } else {
      e.start = { dateTime: rfc(start), timeZone: k % 2 ? 'Asia/Seoul' : 'America/Los_Angeles' };
      e.end = { dateTime: rfc(new Date(start.getTime() + 45 * 60000)) };
    }
    // Long enough, in all, that the text crosses in several chunks (event_columns.rs).
    if (k % 3 === 0) e.description = `설명 ${k} — «notes» \\ backslash ${'가'.repeat(400 + k)}`;
    if (k % 4 === 0) e.location = 'Room 😀';
    if (k % 6 === 0) e.organizer = { email: `o${k}@example.com`, displayName: '주최자' };
    if (k % 7 === 0) e.attendees = [{ email: 'a@example.com', responseStatus: 'accepted' }, { email: 'ü@example.com', optional: true }];
    if (k % 8 === 0) e.visibility = 'private';
    if (k % 9 === 0) e.hangoutLink = `https://meet.google.com/aaa-${k}`;
    fake.events[k % 2 ? PRIMARY : HOLIDAYS].push(e);
  }
  const { backend } = await openGoogle(t, fake);
  const expires = new Date(Date.now() + 3600 * 1000).toISOString();
  const account = await backend.createCalendarAccount({
    provider: 'google', email: EMAIL, credentials: { access_token: ACCESS, refresh_token: REFRESH, expires_in: 3599, expires_at: expires },
  });
  const { job_id } = await backend.syncCalendarAccount(account.account_id, {});
  assert.equal((await waitForJob(backend, job_id)).status, 'succeeded');
  const { port, token } = await backend.startHttp();
  const query = { start: '2020-01-01T00:00:00Z', end: '2031-01-01T00:00:00Z', selected_only: false };
  const fromJs = await backend.listCalendarEvents(query);
  const res = await fetch(`http://127.0.0.1:${port}/calendar/events?${new URLSearchParams(query)}`, { headers: { 'X-Backend-Token': token } });
  assert.equal(res.status, 200);
  const fromHttp = (await res.json()).events;
  assert.ok(fromJs.length >= 120, `${fromJs.length} events`);
  assert.deepEqual(fromJs, fromHttp);
  for (const e of fromJs) assert.deepEqual(Object.keys(e), Object.keys(fromHttp[0]));
  assert.ok(fromJs.some((e) => e.title === '주간 회의') && fromJs.some((e) => e.location === 'Room 😀'));
  assert.ok(fromJs.some((e) => e.organizer === null) && fromJs.some((e) => e.organizer && e.organizer.displayName === '주최자'));
  assert.ok(fromJs.some((e) => e.all_day) && fromJs.some((e) => e.description === null));
  // The objects are plain data: each its own, safe to change and to clone (Electron IPC).
  fromJs[0].title = 'changed';
  fromJs[0].attendees = 'changed';
  const again = await backend.listCalendarEvents(query);
  assert.deepEqual(again, fromHttp);
  assert.deepEqual(structuredClone(again), fromHttp);
  const withOrganizer = again.filter((e) => e.organizer);
  assert.notEqual(withOrganizer[0].organizer, withOrganizer[1].organizer);
  // Rows with the same attendees (one value in the columns) still own their arrays and objects.
  const withAttendees = again.filter((e) => e.event_id.startsWith('bulk-') && e.attendees);
  assert.ok(withAttendees.length >= 3);
  assert.deepEqual(withAttendees[1].attendees, withAttendees[0].attendees);
  assert.notEqual(withAttendees[0].attendees, withAttendees[1].attendees);
  assert.notEqual(withAttendees[0].attendees[0], withAttendees[1].attendees[0]);
  withAttendees[0].attendees[0].email = 'mutated';
  withAttendees[1].attendees.push('extra');
  assert.equal(withAttendees[2].attendees[0].email, 'a@example.com');
  assert.equal(withAttendees[2].attendees.length, 2);
});
