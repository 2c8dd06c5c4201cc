'use strict';
// Jira and Confluence accounts, sync jobs and the activity query through the JS API
// (CONTRACT.md §4.6–§4.8, §6.4, §9, §10), against a fake Atlassian Cloud on 127.0.0.1 that speaks
// the real REST wire format and checks what it receives.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { open, record, waitFor, waitForJob } = require('./helpers');

const EMAIL = 'me@example.com';
const TOKEN = 'atl-secret-token-123';
const ME = { accountId: 'me-1', displayName: 'Me Person', emailAddress: EMAIL, active: true };
const OTHER = { accountId: 'other-9', displayName: 'Other Person' };
const JQL = '(creator = currentUser() OR reporter = currentUser() OR assignee = currentUser() OR commenter = currentUser()) AND updated >= -7d ORDER BY updated DESC';
const FIELDS = ['summary', 'created', 'updated', 'status', 'creator', 'reporter', 'assignee', 'comment'];

const NOW = Math.floor(Date.now() / 1000);
/** Jira's time format (`+0000` offset, milliseconds) `minutes` ago. */
const jiraTime = (minutes) => new Date((NOW - minutes * 60) * 1000).toISOString().replace('Z', '+0000');
const isoTime = (minutes) => new Date((NOW - minutes * 60) * 1000).toISOString();
const eventTime = (minutes) => new Date((NOW - minutes * 60) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
const epoch = (minutes) => NOW - minutes * 60;

const ISSUE_1 = {
  id: '10001',
  key: 'ABC-1',
  fields: {
    summary: 'Fix login',
    created: jiraTime(60),
    updated: jiraTime(30),
    status: { name: 'In Progress' },
    creator: ME,
    reporter: ME,
    assignee: ME,
    comment: { comments: [{ id: 'c1', author: ME, body: 'on it', created: jiraTime(40) }], total: 1 },
  },
  changelog: {
    histories: [{
      id: 'h1', author: OTHER, created: jiraTime(35),
      items: [{ field: 'status', fromString: 'To Do', toString: 'In Progress', from: '1', to: '3' }],
    }],
  },
};
const ISSUE_2 = {
  id: '10002',
  key: 'ABC-2',
  fields: {
    summary: 'Old thing',
    created: jiraTime(60 * 24 * 30),
    updated: jiraTime(120),
    status: { name: 'Done' },
    creator: OTHER,
    reporter: OTHER,
    assignee: OTHER,
    comment: { comments: [{ id: 'c2', author: OTHER, body: 'x', created: jiraTime(125) }] },
  },
  changelog: { histories: [] },
};

const PAGE = { id: '900', type: 'page', title: 'Design doc', history: { createdDate: isoTime(120), createdBy: ME }, version: { number: 3, when: isoTime(60), by: ME }, _links: { webui: '/spaces/X/pages/900' } };
const BLOG = { id: '902', type: 'blogpost', title: 'News', history: { createdDate: isoTime(180), createdBy: ME }, version: { number: 1, when: isoTime(180), by: ME }, _links: { webui: '/spaces/X/blog/902' } };
const COMMENT = { id: '901', type: 'comment', title: 'Re: Design doc', history: { createdDate: isoTime(20), createdBy: ME }, container: { id: '900', title: 'Design doc' }, _links: { webui: '/spaces/X/pages/900?focusedCommentId=901' } };

/** The fake Atlassian site; `requests` records every request (method, path, query, body). */
async function fakeAtlassian() {
  const requests = [];
  const expected = `Basic ${Buffer.from(`${EMAIL}:${TOKEN}`).toString('base64')}`;
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => { raw += d; });
    req.on('end', () => {
      const url = new URL(req.url, 'http://x');
      const body = raw ? JSON.parse(raw) : null;
      requests.push({ method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), body, headers: req.headers });
      const send = (status, value) => {
        const text = typeof value === 'string' ? value : JSON.stringify(value);
        res.writeHead(status, { 'content-type': typeof value === 'string' ? 'text/plain' : 'application/json' });
        res.end(text);
      };
      if (req.headers.authorization !== expected) return send(401, 'Client must be authenticated to access this resource.');
      const route = `${req.method} ${url.pathname}`;
      if (route === 'GET /rest/api/3/myself') return send(200, ME);
      if (route === 'POST /rest/api/3/search/jql') {
        if (!body || body.nextPageToken === undefined) return send(200, { issues: [ISSUE_1], nextPageToken: 'tok-2', isLast: false });
        if (body.nextPageToken === 'tok-2') return send(200, { issues: [ISSUE_2], isLast: true });
        return send(400, { errorMessages: ['bad token'] });
      }
      if (route === 'GET /wiki/rest/api/user/current') return send(200, { type: 'known', ...ME });
      if (route === 'GET /wiki/rest/api/search') {
        const start = Number(url.searchParams.get('start'));
        const cql = url.searchParams.get('cql') || '';
        if (cql.startsWith('type = comment')) return send(200, { results: [{ content: COMMENT, title: COMMENT.title }], start, limit: 50, size: 1, totalSize: 1 });
        const all = [PAGE, BLOG];
        const results = all.slice(start, start + 1).map((content) => ({ content, title: content.title, entityType: 'content' }));
        return send(200, { results, start, limit: 50, size: results.length, totalSize: all.length });
      }
      return send(404, { errorMessages: ['not found'] });
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    server, base, requests,
    close: () => new Promise((r) => {
      server.close(() => r());
      server.closeAllConnections();
    }),
  };
}

const ACTIVITY_KEYS = ['id', 'source', 'event_type', 'title', 'description', 'url', 'actor', 'event_time'];
const ACCOUNT_KEYS = ['account_id', 'service', 'org', 'base_url', 'email', 'created_at', 'updated_at', 'last_sync_at', 'has_token'];

test('Jira: add (credentials checked), sync over two pages, activity rows, delete', async (t) => {
  const fake = await fakeAtlassian();
  const { backend } = await open({ endpoints: { atlassianBaseUrl: fake.base } });
  t.after(async () => { await backend.close(); await fake.close(); });
  const { events, off } = record(backend);

  await assert.rejects(backend.addJiraAccount({ org: 'acme', email: EMAIL, api_token: 'wrong' }), (e) => {
    assert.equal(e.status, 400);
    assert.equal(e.code, 'E_UPSTREAM');
    assert.equal(e.detail, 'Jira connection failed: Atlassian API error 401: Client must be authenticated to access this resource.');
    return true;
  });
  assert.deepEqual(await backend.listJiraAccounts(), []);
  await assert.rejects(backend.addJiraAccount({ org: 'acme', email: 'nope', api_token: TOKEN }), (e) => e.status === 422 && e.detail[0].loc.join() === 'body,email');
  await assert.rejects(backend.addJiraAccount({ org: '', email: EMAIL }), (e) => e.status === 422 && e.detail.length === 2);

  const account = await backend.addJiraAccount({ org: 'acme', email: EMAIL, api_token: TOKEN });
  assert.deepEqual(Object.keys(account), ACCOUNT_KEYS);
  assert.match(account.account_id, /^atl_[0-9a-f]{32}$/);
  assert.equal(account.service, 'jira');
  assert.equal(account.base_url, fake.base);
  assert.equal(account.has_token, true);
  assert.equal(account.last_sync_at, null);
  const check = fake.requests.at(-1);
  assert.equal(check.path, '/rest/api/3/myself');
  assert.deepEqual(check.query, { expand: 'groups,applicationRoles' });
  assert.deepEqual(await backend.listJiraAccounts(), [account]);
  assert.deepEqual(await backend.listConfluenceAccounts(), []);

  fake.requests.length = 0;
  const { job_id, status } = await backend.syncJiraAccount(account.account_id);
  assert.equal(status, 'queued');
  const job = await waitForJob(backend, job_id);
  assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
  assert.deepEqual(job.payload, { account_id: account.account_id, force: true });
  assert.deepEqual(job.result, { account_id: account.account_id, synced_events: 5 });
  assert.equal(job.message, 'Synced 5 Jira events');
  await waitFor(() => events.some((e) => e.type === 'job.status' && e.job_id === job_id && e.status === 'succeeded'));

  // What the fake saw: myself, then two search pages with the contract's body.
  const searches = fake.requests.filter((r) => r.path === '/rest/api/3/search/jql');
  assert.equal(searches.length, 2);
  assert.deepEqual(searches[0].query, { expand: 'changelog' });
  assert.deepEqual(searches[0].body, { jql: JQL, maxResults: 50, fieldsByKeys: false, fields: FIELDS });
  assert.deepEqual(searches[1].body, { jql: JQL, maxResults: 50, fieldsByKeys: false, fields: FIELDS, nextPageToken: 'tok-2' });
  assert.match(searches[0].headers.accept, /application\/json/);

  const sync = events.find((e) => e.type === 'activity.sync');
  assert.deepEqual(Object.keys(sync), ['type', 'source', 'account_id', 'synced_events', 'timestamp']);
  assert.equal(sync.source, 'jira');
  assert.equal(sync.account_id, account.account_id);
  assert.equal(sync.synced_events, 5);
  const mine = events.filter((e) => e.job_id === job_id || e.type === 'activity.sync');
  assert.deepEqual(mine.map((e) => e.type === 'job.status' ? e.status : e.type).slice(-2), ['activity.sync', 'succeeded']);

  const rows = await backend.listActivityEvents({ start: new Date((NOW - 86400) * 1000), end: new Date((NOW + 60) * 1000) });
  for (const row of rows) assert.deepEqual(Object.keys(row), ACTIVITY_KEYS);
  assert.deepEqual(rows, [
    { id: `jira:issue:updated:10001:${epoch(30)}`, source: 'jira', event_type: 'issue.updated', title: 'ABC-1: Fix login', description: 'Updated (status: In Progress)', url: `${fake.base}/browse/ABC-1`, actor: null, event_time: eventTime(30) },
    { id: 'jira:status:h1:10001:3', source: 'jira', event_type: 'issue.status.changed', title: 'ABC-1: Fix login', description: 'Status: To Do -> In Progress', url: `${fake.base}/browse/ABC-1`, actor: 'Other Person', event_time: eventTime(35) },
    { id: 'jira:comment:c1', source: 'jira', event_type: 'issue.commented', title: 'ABC-1: Fix login', description: 'Comment added', url: `${fake.base}/browse/ABC-1`, actor: 'Me Person', event_time: eventTime(40) },
    { id: 'jira:issue:created:10001', source: 'jira', event_type: 'issue.created', title: 'ABC-1: Fix login', description: 'Issue created', url: `${fake.base}/browse/ABC-1`, actor: 'Me Person', event_time: eventTime(60) },
    { id: `jira:issue:updated:10002:${epoch(120)}`, source: 'jira', event_type: 'issue.updated', title: 'ABC-2: Old thing', description: 'Updated (status: Done)', url: `${fake.base}/browse/ABC-2`, actor: null, event_time: eventTime(120) },
  ]);
  // The account now has its last sync; a second sync changes nothing (same ids).
  const [synced] = await backend.listJiraAccounts();
  assert.match(synced.last_sync_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  const again = await backend.syncJiraAccount(account.account_id, { force: false });
  const job2 = await waitForJob(backend, again.job_id);
  assert.equal(job2.status, 'succeeded');
  assert.deepEqual(job2.payload, { account_id: account.account_id, force: false });
  assert.deepEqual(await backend.listActivityEvents({ start: new Date((NOW - 86400) * 1000), end: new Date((NOW + 60) * 1000) }), rows);

  // The token never leaves the backend.
  off();
  assert.ok(!JSON.stringify(events).includes(TOKEN));
  assert.ok(!JSON.stringify(await backend.listJiraAccounts()).includes(TOKEN));
  assert.ok(!JSON.stringify(await backend.listJobs()).includes(TOKEN));

  await assert.rejects(backend.syncJiraAccount('atl_missing'), (e) => e.code === 'E_NOT_FOUND' && e.detail === 'jira account not found');
  await assert.rejects(backend.deleteConfluenceAccount(account.account_id), (e) => e.code === 'E_NOT_FOUND' && e.detail === 'confluence account not found');
  assert.deepEqual(await backend.deleteJiraAccount(account.account_id), { ok: true });
  assert.deepEqual(await backend.listJiraAccounts(), []);
  assert.deepEqual(await backend.listActivityEvents({ start: new Date((NOW - 86400) * 1000), end: new Date((NOW + 60) * 1000) }), []);
  await assert.rejects(backend.deleteJiraAccount(account.account_id), (e) => e.code === 'E_NOT_FOUND' && e.status === 404 && e.detail === 'jira account not found');
  await backend.close();
  await fake.close();
});

test('Confluence: add, sync with pagination and comments, activity rows, delete', async (t) => {
  const fake = await fakeAtlassian();
  const { backend } = await open({ endpoints: { atlassianBaseUrl: fake.base } });
  t.after(async () => { await backend.close(); await fake.close(); });
  const { events, off } = record(backend);
  await assert.rejects(backend.addConfluenceAccount({ org: 'acme', email: EMAIL, api_token: 'wrong' }),
    (e) => e.status === 400 && e.detail.startsWith('Confluence connection failed: Atlassian API error 401'));
  const account = await backend.addConfluenceAccount({ org: 'acme', email: EMAIL, api_token: TOKEN });
  assert.deepEqual(Object.keys(account), ACCOUNT_KEYS);
  assert.equal(account.service, 'confluence');
  assert.equal(account.has_token, true);
  assert.equal(fake.requests.at(-1).path, '/wiki/rest/api/user/current');
  assert.deepEqual(await backend.listConfluenceAccounts(), [account]);
  assert.deepEqual(await backend.listJiraAccounts(), []);
  await assert.rejects(backend.syncJiraAccount(account.account_id), (e) => e.code === 'E_NOT_FOUND');

  fake.requests.length = 0;
  const { job_id } = await backend.syncConfluenceAccount(account.account_id);
  const job = await waitForJob(backend, job_id);
  assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
  assert.deepEqual(job.payload, { account_id: account.account_id });
  assert.deepEqual(job.result, { account_id: account.account_id, synced_events: 4 });
  await waitFor(() => events.some((e) => e.type === 'activity.sync'));
  off();
  const sync = events.find((e) => e.type === 'activity.sync');
  assert.equal(sync.source, 'confluence');
  assert.equal(sync.synced_events, 4);

  const searches = fake.requests.filter((r) => r.path === '/wiki/rest/api/search');
  const content = searches.filter((r) => r.query.cql.startsWith('type in'));
  assert.deepEqual(content.map((r) => r.query.start), ['0', '1']);
  assert.equal(content[0].query.limit, '50');
  assert.equal(content[0].query.expand, 'content.history,content.version,content._links');
  assert.equal(content[0].query.cql, 'type in ("page","blogpost") AND (creator = currentUser() OR lastmodifiedby = currentUser()) AND lastmodified >= now("-7d") ORDER BY lastmodified DESC');
  const comments = searches.filter((r) => r.query.cql.startsWith('type = comment'));
  assert.equal(comments.length, 1);
  assert.equal(comments[0].query.expand, 'content.history,content.container,content._links');

  const rows = await backend.listActivityEvents({ start: isoTime(60 * 24), end: isoTime(-1), sources: 'confluence' });
  assert.deepEqual(rows, [
    { id: 'confluence:comment:901', source: 'confluence', event_type: 'comment.created', title: 'Re: Design doc', description: 'Commented on Design doc', url: `${fake.base}/spaces/X/pages/900?focusedCommentId=901`, actor: 'Me Person', event_time: eventTime(20) },
    { id: 'confluence:updated:900:3', source: 'confluence', event_type: 'page.updated', title: 'Design doc', description: 'Content updated', url: `${fake.base}/spaces/X/pages/900`, actor: 'Me Person', event_time: eventTime(60) },
    { id: 'confluence:created:900', source: 'confluence', event_type: 'page.created', title: 'Design doc', description: 'Content created', url: `${fake.base}/spaces/X/pages/900`, actor: 'Me Person', event_time: eventTime(120) },
    { id: 'confluence:created:902', source: 'confluence', event_type: 'blogpost.created', title: 'News', description: 'Content created', url: `${fake.base}/spaces/X/blog/902`, actor: 'Me Person', event_time: eventTime(180) },
  ]);
  assert.deepEqual(await backend.listActivityEvents({ start: isoTime(60 * 24), end: isoTime(-1), sources: ['jira'] }), []);
  assert.equal((await backend.listActivityEvents({ start: isoTime(60 * 24), end: isoTime(-1), sources: 'jira,confluence', limit: 2 })).length, 2);
  // Both bounds are inclusive.
  assert.deepEqual((await backend.listActivityEvents({ start: eventTime(60), end: eventTime(20) })).map((r) => r.id), ['confluence:comment:901', 'confluence:updated:900:3']);

  assert.deepEqual(await backend.deleteConfluenceAccount(account.account_id), { ok: true });
  assert.deepEqual(await backend.listConfluenceAccounts(), []);
  assert.deepEqual(await backend.listActivityEvents({ start: isoTime(60 * 24), end: isoTime(-1) }), []);
  await backend.close();
  await fake.close();
});

test('a sync whose account is unreachable fails with the upstream error text', async (t) => {
  const fake = await fakeAtlassian();
  const { backend } = await open({ endpoints: { atlassianBaseUrl: fake.base } });
  t.after(async () => { await backend.close(); await fake.close(); });
  const account = await backend.addJiraAccount({ org: 'acme', email: EMAIL, api_token: TOKEN });
  await fake.close();
  const { events, off } = record(backend);
  const { job_id } = await backend.syncJiraAccount(account.account_id);
  const job = await waitForJob(backend, job_id);
  // Answers and events travel separately: the final event may arrive after getJob sees the
  // final row (the event order itself is fixed, so the log is in by then).
  await waitFor(() => events.some((e) => e.type === 'job.status' && e.job_id === job_id && e.status === 'failed'));
  off();
  assert.equal(job.status, 'failed');
  assert.equal(typeof job.error.message, 'string');
  assert.ok(events.some((e) => e.type === 'log' && e.level === 'error' && e.message === `jira sync failed: ${job.error.message} (job_id=${job_id})`));
  assert.equal((await backend.listJiraAccounts())[0].last_sync_at, null, 'sync_state untouched by a failure');
  assert.ok(!JSON.stringify(job).includes(TOKEN));
  await backend.close();
});

test('listActivityEvents validates like GET /activity/events', async () => {
  const { backend } = await open();
  await assert.rejects(backend.listActivityEvents({ start: '2024-01-02', end: '2024-01-01' }), (e) => {
    assert.equal(e.code, 'E_INVALID_INPUT');
    assert.equal(e.status, 400);
    assert.equal(e.detail, 'start must be before end');
    return true;
  });
  await assert.rejects(backend.listActivityEvents({ start: 'nope', end: '2024-01-01' }), (e) => e.status === 400 && e.detail === "Invalid isoformat string: 'nope'");
  await assert.rejects(backend.listActivityEvents({ start: '2024-01-01', end: '2024-01-02', limit: 0 }), (e) => {
    assert.equal(e.status, 422);
    assert.equal(e.detail[0].type, 'greater_than_equal');
    assert.deepEqual(e.detail[0].loc, ['query', 'limit']);
    return true;
  });
  await assert.rejects(backend.listActivityEvents({ start: '2024-01-01', end: '2024-01-02', limit: 1001 }), (e) => e.status === 422 && e.detail[0].type === 'less_than_equal');
  await assert.rejects(backend.listActivityEvents({ end: '2024-01-02' }), (e) => e.status === 422 && e.detail[0].type === 'missing' && e.detail[0].loc.join() === 'query,start');
  assert.deepEqual(await backend.listActivityEvents({ start: '2024-01-01', end: '2024-01-01', limit: '5' }), []);
  await backend.close();
});
