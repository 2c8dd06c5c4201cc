'use strict';
// The MCP server (CONTRACT.md §16) through a real MCP client nobody here wrote: the official
// TypeScript SDK over Streamable HTTP.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Client } = require('@modelcontextprotocol/sdk/client/index.js');
const { StreamableHTTPClientTransport } = require('@modelcontextprotocol/sdk/client/streamableHttp.js');
const { open } = require('./helpers');

function client(url, headers) {
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  return { c: new Client({ name: 'enttok-test', version: '1.0.0' }), transport };
}

test('the official MCP client lists and calls the four tools', async () => {
  const { backend } = await open();
  try {
    const { observation_id: id } = await backend.createObservation({
      title: '회의록', narrative: '회의록을 정리했다: deploy plan', type: 'meeting', source: 'manual',
      event_time: new Date(Date.now() - 60_000).toISOString(),
    });
    await backend.startHttp();
    const config = await backend.mcpConfig();
    const server = config.mcpServers['enttok-memory'];
    assert.equal(server.type, 'http');
    const { c, transport } = client(server.url, server.headers);
    await c.connect(transport);
    assert.equal(c.getServerVersion().name, 'enttok-memory');
    assert.match(c.getInstructions(), /# Enttok Memory System/);
    const { tools } = await c.listTools();
    assert.deepEqual(tools.map((t) => t.name), ['search_memory_tool', 'get_observations_tool', 'timeline_tool', 'memory_stats_tool']);
    assert.deepEqual(tools[0].inputSchema.required, ['query']);

    const text = (r) => { assert.equal(r.isError, false, r.content[0].text); return JSON.parse(r.content[0].text); };
    const found = text(await c.callTool({ name: 'search_memory_tool', arguments: { query: '회의 deploy?', limit: 500 } }));
    assert.equal(found.results[0].observation_id, id);
    assert.equal(found.mode, 'hybrid');
    const got = text(await c.callTool({ name: 'get_observations_tool', arguments: { ids: [id, 'obs_none'] } }));
    assert.equal(got.count, 1);
    assert.equal(got.observations[0].narrative, '회의록을 정리했다: deploy plan');
    assert.ok('embedding_version' in got.observations[0]);
    const tl = text(await c.callTool({ name: 'timeline_tool', arguments: { anchor_id: id, depth_before: 0, depth_after: 0 } }));
    assert.deepEqual(tl.observations.map((o) => o.observation_id), [id]);
    assert.ok(!('relevance_score' in tl.observations[0]));
    const stats = text(await c.callTool({ name: 'memory_stats_tool', arguments: {} }));
    assert.equal(stats.total_observations, 1);
    assert.deepEqual(stats.by_type, { meeting: 1 });
    const bad = await c.callTool({ name: 'search_memory_tool', arguments: { query: 'x', limit: -1 } });
    assert.equal(bad.isError, true);
    assert.match(bad.content[0].text, /^Error executing tool search_memory_tool: /);
    await c.close();

    // A Bearer token works too; a wrong token is refused.
    const bearer = client(server.url, { Authorization: `Bearer ${server.headers['X-Backend-Token']}` });
    await bearer.c.connect(bearer.transport);
    assert.equal((await bearer.c.listTools()).tools.length, 4);
    await bearer.c.close();
    const wrong = client(server.url, { 'X-Backend-Token': 'wrong' });
    await assert.rejects(wrong.c.connect(wrong.transport), /401|nauthorized/);
  } finally {
    await backend.close();
  }
});
