'use strict';
const fsp = require('node:fs/promises');
const path = require('node:path');

// The app's searchNotes (electron/file-handlers.ts:195-390 at e54680a), written from the
// reference's description. One documented deviation is applied (CONTRACT.md §17.1): a snippet
// window edge that splits a surrogate pair drops the half character.

const DEFAULT_SEARCH_LIMIT = 200;
const TITLE_MATCH_WEIGHT = 5;
const SNIPPET_PADDING_BEFORE = 60;
const SNIPPET_PADDING_AFTER = 80;

async function listMarkdownFilesRecursive(dir) {
  const entries = await fsp.readdir(dir, { withFileTypes: true });
  const files = [];
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      files.push(...(await listMarkdownFilesRecursive(full)));
    } else if (entry.isFile() && entry.name.toLowerCase().endsWith('.md')) {
      files.push(full);
    }
  }
  return files;
}

function countMatches(haystack, token) {
  let count = 0;
  let index = 0;
  for (;;) {
    const found = haystack.indexOf(token, index);
    if (found === -1) break;
    count += 1;
    index = found + token.length;
  }
  return count;
}

function dropSplitHalves(s) {
  let out = s;
  if (out.length && out.charCodeAt(0) >= 0xdc00 && out.charCodeAt(0) <= 0xdfff) out = out.slice(1);
  const last = out.length - 1;
  if (last >= 0 && out.charCodeAt(last) >= 0xd800 && out.charCodeAt(last) <= 0xdbff) out = out.slice(0, last);
  return out;
}

function buildSnippet(content, lowerContent, tokens) {
  let bestIndex = -1;
  let bestToken = '';
  for (const token of tokens) {
    const idx = lowerContent.indexOf(token);
    if (idx !== -1 && (bestIndex === -1 || idx < bestIndex)) {
      bestIndex = idx;
      bestToken = token;
    }
  }
  if (bestIndex === -1) return undefined;
  const start = Math.max(0, bestIndex - SNIPPET_PADDING_BEFORE);
  const end = Math.min(content.length, bestIndex + bestToken.length + SNIPPET_PADDING_AFTER);
  const excerpt = dropSplitHalves(content.slice(start, end)).replace(/\s+/g, ' ').trim();
  return `${start > 0 ? '...' : ''}${excerpt}${end < content.length ? '...' : ''}`;
}

async function appSearchNotes(payload) {
  const query = payload.query?.trim() ?? '';
  if (!payload.vaultPath) return { success: false, query, error: 'Missing vault path' };
  if (!query) return { success: true, query, results: [] };
  const tokens = query.trim().toLowerCase().split(/\s+/).filter(Boolean);
  const root = payload.vaultPath;
  try {
    const files = await listMarkdownFilesRecursive(root);
    const results = [];
    for (const file of files) {
      let stat;
      let content;
      try {
        [stat, content] = await Promise.all([fsp.stat(file), fsp.readFile(file, 'utf-8')]);
      } catch {
        continue;
      }
      const relativePath = path.relative(root, file).replace(/\\/g, '/');
      if (relativePath.startsWith('..')) continue;
      const relativeId = relativePath.replace(/\.md$/i, '');
      const title = path.basename(relativeId);
      const lowerTitle = title.toLowerCase();
      const lowerContent = content.toLowerCase();
      let titleMatches = 0;
      let contentMatches = 0;
      for (const token of tokens) {
        titleMatches += countMatches(lowerTitle, token);
        contentMatches += countMatches(lowerContent, token);
      }
      const score = titleMatches * TITLE_MATCH_WEIGHT + contentMatches;
      if (score <= 0) continue;
      results.push({
        id: encodeURIComponent(relativeId),
        title,
        filePath: path.join(root, relativePath),
        updatedAt: stat.mtime.toISOString(),
        score,
        snippet: buildSnippet(content, lowerContent, tokens),
        relativePath: relativeId,
      });
    }
    results.sort((a, b) => {
      if (b.score !== a.score) return b.score - a.score;
      return new Date(b.updatedAt).getTime() - new Date(a.updatedAt).getTime();
    });
    const limit = payload.limit ?? DEFAULT_SEARCH_LIMIT;
    const limited = limit > 0 && results.length > limit ? results.slice(0, limit) : results;
    return { success: true, query, results: limited };
  } catch (error) {
    if (error && error.code === 'ENOENT') return { success: true, query, results: [] };
    return { success: false, query, error: error.message };
  }
}

module.exports = { appSearchNotes, listMarkdownFilesRecursive, DEFAULT_SEARCH_LIMIT };
