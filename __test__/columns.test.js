'use strict';
// Issue 13 item 3: the calendar column layout is written once. `listCalendarEvents` crosses to
// JS as columns (`crates/core/src/calendar/event_columns.rs`, `FIELDS`), and `index.js`'s
// `eventsFromColumns` rebuilds the objects cell by cell. This test reads both files and fails
// when the decoder's field order, cell indexes, per-field reader or row width drift from
// `FIELDS`; the last test shows it failing on a drift.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const read = (file) => fs.readFileSync(path.join(ROOT, file), 'utf8');

/** The reader `eventsFromColumns` must use for each kind of `Field`. */
const READERS = { Text: 'str', Shared: 'sh', Json: 'val', Number: 'num', Bool: 'bool' };

/** `FIELDS` and `CELLS_PER_ROW` of event_columns.rs: `{ width, fields: [[name, kind], …] }`. */
function nativeLayout(rust) {
  const start = rust.indexOf('pub const FIELDS');
  assert.ok(start >= 0, 'event_columns.rs declares FIELDS');
  const body = rust.slice(start, rust.indexOf('];', start));
  const fields = [...body.matchAll(/\("([a-z_]+)",\s*Field::([A-Za-z]+)\)/g)].map((m) => [m[1], m[2]]);
  const width = rust.match(/pub const CELLS_PER_ROW: usize = (\d+);/);
  assert.ok(width, 'event_columns.rs declares CELLS_PER_ROW');
  return { width: Number(width[1]), fields };
}

/** What `eventsFromColumns` of index.js reads: `{ widths, fields: [[name, reader, cell], …] }`. */
function decoderLayout(js) {
  const start = js.indexOf('function eventsFromColumns(');
  assert.ok(start >= 0, 'index.js defines eventsFromColumns');
  const body = js.slice(start, js.indexOf('\n}\n', start));
  const widths = [...body.matchAll(/cells\.length \/ (\d+)|c \+= (\d+)/g)].map((m) => Number(m[1] || m[2]));
  const literal = body.slice(body.indexOf('events[r] = {'), body.indexOf('};', body.indexOf('events[r] = {')));
  const fields = [...literal.matchAll(/^\s*([a-z_]+): (?:([a-z]+)\(cells\[c(?: \+ (\d+))?\]\)|cells\[c(?: \+ (\d+))?\] === 1),?$/gm)]
    .map((m) => (m[2] ? [m[1], m[2], Number(m[3] || 0)] : [m[1], 'bool', Number(m[4] || 0)]));
  return { widths, fields };
}

/** The drift between the two, as readable lines (empty when they agree). */
function drift(native, decoder) {
  const out = [];
  if (decoder.widths.length === 0 || decoder.widths.some((w) => w !== native.width)) {
    out.push(`row width: FIELDS has ${native.width} cells, eventsFromColumns steps by ${decoder.widths.join(', ')}`);
  }
  if (native.fields.length !== native.width) out.push(`FIELDS has ${native.fields.length} entries for ${native.width} cells`);
  const n = Math.max(native.fields.length, decoder.fields.length);
  for (let i = 0; i < n; i += 1) {
    const [name, kind] = native.fields[i] || [];
    const [jsName, reader, cell] = decoder.fields[i] || [];
    if (name !== jsName) out.push(`field ${i}: FIELDS has ${name}, eventsFromColumns has ${jsName}`);
    else if (cell !== i) out.push(`${name}: read from cell ${cell}, FIELDS puts it at ${i}`);
    else if (READERS[kind] !== reader) out.push(`${name}: read with ${reader}, but it is Field::${kind} (${READERS[kind]})`);
  }
  return out;
}

const RUST = 'crates/core/src/calendar/event_columns.rs';

test('eventsFromColumns reads the cells in the order and the way FIELDS lays them out', () => {
  const native = nativeLayout(read(RUST));
  const decoder = decoderLayout(read('index.js'));
  assert.equal(native.fields.length, 22);
  assert.equal(decoder.fields.length, native.fields.length, 'every field of the literal was parsed');
  assert.deepEqual(drift(native, decoder), []);
});

test('the check fails on a drift (swapped fields, a wrong reader, another width)', () => {
  const rust = read(RUST);
  const js = read('index.js');
  const native = nativeLayout(rust);
  const swapped = rust.replace('("title", Field::Text),\n    ("description", Field::Text),', '("description", Field::Text),\n    ("title", Field::Text),');
  assert.notEqual(swapped, rust);
  assert.match(drift(nativeLayout(swapped), decoderLayout(js)).join('\n'), /field 3: FIELDS has description, eventsFromColumns has title/);
  const reader = js.replace('visibility: sh(cells[c + 12])', 'visibility: str(cells[c + 12])');
  assert.notEqual(reader, js);
  assert.match(drift(native, decoderLayout(reader)).join('\n'), /visibility: read with str, but it is Field::Shared/);
  const width = js.replace('c += 22', 'c += 23');
  assert.match(drift(native, decoderLayout(width)).join('\n'), /row width/);
});
