'use strict';
// The public JS API of @enttok/backend (CONTRACT.md §1). A thin layer over the generated
// binding (`binding.js`): it holds no rules of its own. It only
//  - turns arguments into JSON (a `Date` becomes its ISO string) and results back into objects,
//  - turns native failures into `Error`s with `code`, `status`, `detail` (CONTRACT.md §1.3),
//  - gives JS job handlers their `AbortSignal` and `ctx` helpers,
//  - calls each event listener in isolation (a throwing listener never affects the others).
// Why not expose the generated binding directly: an `AbortSignal`, `Date` input and errors with
// extra properties are simpler here than through Node-API (see DESIGN.md, "thin JS layer").

const native = require('./loader.js'); // binding.js, with a clear error when no binary fits

/** Builds the `Error` of CONTRACT.md §1.3 from its parts. */
function backendError(code, status, detail, message) {
  const err = new Error(message);
  err.code = code;
  err.status = status;
  err.detail = detail;
  return err;
}

/** The `Error` of an error object `{code, status, detail, message}` of the native side. */
function errorFromInfo(info) {
  if (info && typeof info.code === 'string') {
    return backendError(info.code, info.status, info.detail, info.message);
  }
  const text = JSON.stringify(info);
  return backendError('E_INTERNAL', 500, text, text);
}

/** Rebuilds an `Error` from a native failure (whose message is the JSON of the error). */
function toError(nativeErr) {
  const text = nativeErr && typeof nativeErr.message === 'string' ? nativeErr.message : String(nativeErr);
  try {
    const info = JSON.parse(text);
    if (info && typeof info.code === 'string') {
      return errorFromInfo(info);
    }
  } catch {
    // Not one of ours: fall through.
  }
  return backendError('E_INTERNAL', 500, text, text);
}

function invalidInput(message, loc = ['args']) {
  const detail = [{ type: 'value_error', loc, msg: message, input: null }];
  return backendError('E_INVALID_INPUT', 422, detail, `${loc.join('.')}: ${message}`);
}

/** Deepest nesting of JSON values that a call accepts (as serde_json's parser does). */
const MAX_DEPTH = 128;

/**
 * Key of the marker object that stands for a value JSON cannot carry (`NaN`, `±Infinity`, a
 * Symbol, a function, a BigInt, an Invalid Date). `JSON.stringify` would silently make them
 * `null` or drop them, turning a bad value into "absent"; the marker instead reaches the core's
 * validator, which answers the 422 item of the field it sits in (`validate::NOT_JSON`).
 */
const NOT_JSON = '\u0000enttok:not-json';

/** A short text for any thrown or returned value; never throws (a Proxy's traps may). */
function describe(value) {
  try {
    if (value !== null && (typeof value === 'object' || typeof value === 'function')) {
      const message = value.message;
      if (message !== undefined && message !== null) return String(message);
    }
    return String(value);
  } catch {
    try {
      return `a value that cannot be converted to text (${Object.prototype.toString.call(value)})`;
    } catch {
      return `a value that cannot be converted to text (${typeof value})`;
    }
  }
}

/** `replacer` of `JSON.stringify`: values JSON cannot carry become the `NOT_JSON` marker. */
function markUnrepresentable(key, value) {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) ? value : { [NOT_JSON]: String(value) };
    case 'symbol':
      return { [NOT_JSON]: value.toString() };
    case 'function':
      return { [NOT_JSON]: 'function' };
    case 'bigint':
      return { [NOT_JSON]: `${value}n` };
    case 'object':
      // `Date#toJSON` answers null for an Invalid Date; the holder still has the Date.
      if (value === null && this[key] instanceof Date) return { [NOT_JSON]: 'Invalid Date' };
      return value;
    default:
      return value;
  }
}

/** JSON of `value`, or an `E_INVALID_INPUT` at `loc` naming why it cannot be sent. */
function encodeValue(value, loc) {
  try {
    return JSON.stringify(value, markUnrepresentable);
  } catch (e) {
    const why = e instanceof RangeError
      ? `nested too deeply (limit ${MAX_DEPTH})`
      : `not JSON-serialisable (${describe(e)})`;
    throw invalidInput(why, loc);
  }
}

/** JSON of the argument list; `undefined` becomes null, a `Date` its ISO text. */
function encode(args) {
  // Ids only (`getJob(id)`, the most frequent calls): the replacer cannot change a string, and
  // calling it per value is a visible share of a short call.
  if (args.every(isString)) return JSON.stringify(args);
  return encodeValue(args, ['args']);
}

function isString(value) {
  return typeof value === 'string';
}

/** Deepest nesting of arrays and objects in JSON text (strings skipped). */
function jsonDepth(text) {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c === 34) { // a string: skip to its closing quote
      for (i += 1; i < text.length; i += 1) {
        const d = text.charCodeAt(i);
        if (d === 92) i += 1;
        else if (d === 34) break;
      }
    } else if (c === 123 || c === 91) {
      depth += 1;
      if (depth > max) max = depth;
    } else if (c === 125 || c === 93) {
      depth -= 1;
    }
  }
  return max;
}

/**
 * JSON of the `Backend.open` options, each read and encoded on its own so that whatever is
 * wrong (a throwing getter or `toJSON`, a cycle, a Proxy, too deep) is named by its option.
 */
function encodeOptions(options) {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw invalidInput('options must be an object with at least dataDir', ['options']);
  }
  let keys;
  try {
    keys = Object.keys(options);
  } catch (e) {
    throw invalidInput(`options cannot be read (${describe(e)})`, ['options']);
  }
  const parts = [];
  for (const key of keys) {
    const loc = ['options', key];
    let value;
    try {
      value = options[key];
    } catch (e) {
      throw invalidInput(`the option cannot be read (${describe(e)})`, loc);
    }
    if (value === undefined) continue;
    if (key === 'secretKey' && value !== null) value = secretKeyHex(value);
    const json = encodeValue(value, loc);
    if (json === undefined) continue;
    // The options object itself is one level.
    if (jsonDepth(json) >= MAX_DEPTH) {
      throw invalidInput(`nested too deeply (limit ${MAX_DEPTH})`, loc);
    }
    parts.push(`${JSON.stringify(key)}:${json}`);
  }
  return `{${parts.join(',')}}`;
}

/** `secretKey` (a `Buffer`/`Uint8Array`) as the hex text the native side takes. */
function secretKeyHex(key) {
  if (!(key instanceof Uint8Array)) {
    throw backendError('E_INVALID_INPUT', 422,
      [{ type: 'value_error', loc: ['options', 'secretKey'], msg: 'secretKey must be a Buffer of exactly 32 bytes', input: null }],
      'options.secretKey: secretKey must be a Buffer of exactly 32 bytes');
  }
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex');
}

/**
 * The outcome message of a JS job handler (CONTRACT.md §1.5), as JSON for `settleJob`. Never
 * throws, whatever the handler produced: a null-prototype object, a Proxy whose traps throw,
 * getters that throw, Symbols, cycles, BigInts.
 */
function jobOutcome(ok, value) {
  if (ok) {
    let text;
    try {
      text = JSON.stringify(value === undefined ? null : value);
    } catch (e) {
      const why = e instanceof RangeError ? `nested too deeply (limit ${MAX_DEPTH})` : 'not JSON-serialisable';
      return JSON.stringify({ ok: false, message: `result is ${why}` });
    }
    if (text === undefined) return JSON.stringify({ ok: false, message: 'result is not JSON-serialisable' });
    return `{"ok":true,"result":${text}}`;
  }
  let code;
  try {
    const c = value !== null && (typeof value === 'object' || typeof value === 'function') ? value.code : undefined;
    if (typeof c === 'string') code = c;
  } catch {
    code = undefined;
  }
  return JSON.stringify({ ok: false, message: describe(value), code });
}

/** A deep copy of a JSON value (several times faster than parsing it again). */
function copyJson(v) {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) {
    const a = new Array(v.length);
    for (let i = 0; i < v.length; i += 1) a[i] = copyJson(v[i]);
    return a;
  }
  const o = { ...v };
  for (const k in o) {
    const x = o[k];
    if (typeof x === 'object' && x !== null) o[k] = copyJson(x);
  }
  return o;
}

/**
 * `CalendarEvent[]` from the columns of `listCalendarEvents` (shape documented in
 * `crates/core/src/calendar/event_columns.rs`; the field order and kinds are that file's
 * `FIELDS`, pinned by `__test__/columns.test.js`). Why columns: for a month of thousands of events, `JSON.parse` of one JSON text
 * cost more than the whole listing; one object literal per row from numbers and slices of one
 * string is several times cheaper. The objects are plain data, equal to the HTTP answer's.
 */
function eventsFromColumns({ texts, ends, spans, json, cells }) {
  const [shared, values] = JSON.parse(json);
  const n = cells.length / 22;
  const events = new Array(n);
  let text = ''; // the chunk of `texts` holding the current row's text
  const str = (k) => (k < 0 ? null : text.slice(spans[2 * k], spans[2 * k + 1]));
  const sh = (k) => (k < 0 ? null : shared[k]);
  // A value shared by several rows is parsed once; the first row takes it, the others a copy.
  const taken = new Uint8Array(values.length);
  const val = (k) => {
    if (k < 0) return null;
    if (taken[k] === 0) {
      taken[k] = 1;
      return values[k];
    }
    return copyJson(values[k]);
  };
  const num = (x) => (x === x ? x : null); // NaN carries null
  for (let chunk = 0, r = 0, c = 0; chunk < texts.length; chunk += 1) {
    text = texts[chunk];
    for (const end = ends[chunk]; r < end; r += 1, c += 22) {
      events[r] = {
        account_id: sh(cells[c]),
        event_id: str(cells[c + 1]),
        calendar_id: sh(cells[c + 2]),
        title: str(cells[c + 3]),
        description: str(cells[c + 4]),
        start_time: str(cells[c + 5]),
        end_time: str(cells[c + 6]),
        start_ts: num(cells[c + 7]),
        end_ts: num(cells[c + 8]),
        all_day: cells[c + 9] === 1,
        location: str(cells[c + 10]),
        conference_url: str(cells[c + 11]),
        visibility: sh(cells[c + 12]),
        status: sh(cells[c + 13]),
        organizer: val(cells[c + 14]),
        attendees: val(cells[c + 15]),
        html_link: str(cells[c + 16]),
        time_zone: sh(cells[c + 17]),
        created_at: str(cells[c + 18]),
        updated_at: str(cells[c + 19]),
        calendar_color: sh(cells[c + 20]),
        calendar_name: sh(cells[c + 21]),
      };
    }
  }
  return events;
}

/**
 * The vectors an embedder returned, checked and copied into one Buffer of little-endian
 * float32s (`count × dimensions`). Throws an Error with a clear message on anything else.
 */
function packVectors(result, count, dimensions) {
  if (!Array.isArray(result)) {
    throw new Error(`expected an array of ${count} vectors, got ${result === null ? 'null' : typeof result}`);
  }
  const n = result.length;
  if (n !== count) throw new Error(`expected ${count} vectors, got ${n}`);
  const out = new Float32Array(count * dimensions);
  for (let i = 0; i < count; i += 1) {
    const v = result[i];
    if (!(Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView)))) {
      throw new Error(`vector ${i} is not an array or a typed array`);
    }
    const len = v.length;
    if (len !== dimensions) throw new Error(`vector ${i} has ${len} dimensions, expected ${dimensions}`);
    for (let j = 0; j < dimensions; j += 1) {
      const x = v[j];
      if (typeof x !== 'number' || !Number.isFinite(x)) {
        throw new Error(`vector ${i} holds a non-finite or non-number value at ${j}`);
      }
      out[i * dimensions + j] = x;
    }
  }
  for (let k = 0; k < out.length; k += 1) {
    if (!Number.isFinite(out[k])) throw new Error('a value overflows a 32-bit float');
  }
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

const NOOP = () => {};

class Backend {
  #native;
  #closed = false;
  #handlers = new Map();
  #running = new Map();
  #pending = new Map();
  #nextId = 0;

  /** @private use `Backend.open`. */
  constructor(nativeBackend) {
    if (!(nativeBackend instanceof native.NativeBackend)) {
      throw new TypeError('use Backend.open(options) to open a backend');
    }
    this.#native = nativeBackend;
  }

  /** Opens the backend of `options.dataDir` (created if missing). */
  static async open(options) {
    const json = encodeOptions(options);
    let backend = null;
    let nativeBackend;
    try {
      // Answers of every call arrive in batches through this one callback (see #call).
      nativeBackend = await native.open(json, (batch, columns) => {
        if (backend) backend.#settle(batch, columns);
      });
    } catch (e) {
      throw toError(e);
    }
    backend = new Backend(nativeBackend);
    return backend;
  }

  /**
   * Runs one operation. The native side answers later, in a batch with other answers (one
   * wake-up of the JS thread for many calls); pending promises are kept here by call id.
   * While any call is pending the native side keeps the event loop alive (`hold`).
   */
  #call(op, ...args) {
    let json;
    try {
      json = encode(args);
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise((resolve, reject) => {
      this.#nextId = (this.#nextId + 1) >>> 0 || 1;
      const id = this.#nextId;
      if (this.#pending.size === 0) this.#native.hold(true);
      this.#pending.set(id, { resolve, reject });
      try {
        this.#native.call(id, op, json);
      } catch (e) {
        this.#forget(id);
        reject(toError(e));
      }
    });
  }

  #forget(id) {
    this.#pending.delete(id);
    this.#releaseIfIdle();
  }

  /** No call pending: the answer channel stops keeping the event loop alive. */
  #releaseIfIdle() {
    if (this.#pending.size === 0) this.#native.hold(false);
  }

  /**
   * Settles the calls answered in `batch`: `[[id, 1, result] | [id, 0, error] | [id, 2, k], …]`,
   * where `[id, 2, k]` is a list of calendar events sent in columns as `columns[k]`.
   */
  #settle(batch, columns) {
    let answers;
    try {
      answers = JSON.parse(batch);
    } catch {
      return;
    }
    for (const [id, ok, value] of answers) {
      const call = this.#pending.get(id);
      if (!call) continue;
      this.#pending.delete(id);
      if (ok === 1) {
        call.resolve(value);
      } else if (ok === 2) {
        try {
          call.resolve(eventsFromColumns(columns[value]));
        } catch (e) {
          call.reject(backendError('E_INTERNAL', 500, String(e), `cannot read calendar events: ${e && e.message}`));
        }
      } else {
        call.reject(errorFromInfo(value));
      }
    }
    this.#releaseIfIdle();
  }

  /** Stops workers, the scheduler and the HTTP adapter, then closes the database. Idempotent. */
  async close() {
    this.#closed = true;
    try {
      await this.#native.close();
    } catch (e) {
      throw toError(e);
    }
  }

  health() { return this.#call('health'); }
  status() { return this.#call('status'); }
  getSettings() { return this.#call('getSettings'); }
  updateSettings(patch) { return this.#call('updateSettings', patch); }

  /** Registers an event listener; returns the function that removes it. */
  subscribe(listener) {
    if (typeof listener !== 'function') {
      throw new TypeError('listener must be a function');
    }
    if (this.#closed) return NOOP;
    const sub = this.#native.subscribe((batch) => {
      let events;
      try {
        events = JSON.parse(batch);
      } catch {
        return;
      }
      for (const event of events) {
        try {
          listener(event);
        } catch {
          // A throwing listener is ignored (CONTRACT.md §1.1).
        }
      }
    });
    if (!sub) return NOOP;
    let done = false;
    return () => {
      if (!done) {
        done = true;
        sub.unsubscribe();
      }
    };
  }

  /** Makes `type` a known job type whose jobs run `handler(job, ctx)` (CONTRACT.md §1.5). */
  registerJobHandler(type, handler, options) {
    if (typeof type !== 'string' || type.length === 0) {
      throw invalidInput('type must be a non-empty string');
    }
    if (typeof handler !== 'function') {
      throw invalidInput('handler must be a function');
    }
    let maxAttempts;
    try {
      maxAttempts = options && options.maxAttempts !== undefined ? options.maxAttempts : 1;
    } catch (e) {
      throw invalidInput(`options cannot be read (${describe(e)})`, ['options']);
    }
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 20) {
      throw invalidInput('maxAttempts must be an integer from 1 to 20');
    }
    try {
      this.#native.registerJobHandler(type, maxAttempts, (msg) => this.#dispatch(msg));
    } catch (e) {
      throw toError(e);
    }
    this.#handlers.set(type, handler);
  }

  #dispatch(message) {
    let msg;
    try {
      msg = JSON.parse(message);
    } catch {
      return;
    }
    if (msg.kind === 'run') {
      this.#runJob(msg.job, msg.attempt);
    } else if (msg.kind === 'abort') {
      const running = this.#running.get(msg.job_id);
      if (running) running.abort(msg.reason);
    }
  }

  /**
   * Runs one job of a JS type and reports its outcome. Never rejects and always settles the
   * job: whatever the handler throws, returns or resolves to, the worker slot is freed.
   */
  async #runJob(job, attempt) {
    const jobId = job.job_id;
    const controller = new AbortController();
    let announce;
    const canceled = new Promise((resolve) => { announce = resolve; });
    this.#running.set(jobId, {
      abort: (reason) => {
        announce(reason);
        controller.abort(reason);
      },
    });
    const ctx = {
      jobId,
      attempt,
      signal: controller.signal,
      canceled,
      progress: (value, message) => this.#call('jobProgress', jobId, value, message === undefined ? null : message),
      log: (level, message, meta) => this.#call('jobLog', jobId, level, message, meta === undefined ? null : meta),
    };
    let outcome;
    try {
      const handler = this.#handlers.get(job.type);
      outcome = jobOutcome(true, await handler(job, ctx));
    } catch (err) {
      outcome = jobOutcome(false, err);
    } finally {
      this.#running.delete(jobId);
    }
    try {
      this.#native.settleJob(jobId, outcome);
    } catch {
      // The backend is gone (closed, environment torn down): nobody waits for this outcome.
    }
  }

  startHttp(options) { return this.#call('startHttp', options === undefined ? {} : options); }
  stopHttp() { return this.#call('stopHttp'); }

  // Jobs
  createJob(input) { return this.#call('createJob', input); }
  listJobs(query) { return this.#call('listJobs', query === undefined ? {} : query); }
  getJob(jobId) { return this.#call('getJob', jobId); }
  cancelJob(jobId) { return this.#call('cancelJob', jobId); }
  listJobEvents(jobId) { return this.#call('listJobEvents', jobId); }

  // Claude
  spawnClaude(input) { return this.#call('spawnClaude', input); }
  createClaudeSession() { return this.#call('createClaudeSession'); }
  getClaudeSession(sessionId) { return this.#call('getClaudeSession', sessionId); }
  listClaudeSessions(query) { return this.#call('listClaudeSessions', query === undefined ? {} : query); }
  deleteClaudeSession(sessionId) { return this.#call('deleteClaudeSession', sessionId); }
  listClaudeProjects() { return this.#call('listClaudeProjects'); }
  listClaudeTranscripts(projectPath) { return this.#call('listClaudeTranscripts', projectPath); }
  getClaudeTranscript(filePath) { return this.#call('getClaudeTranscript', filePath); }
  listClaudeTranscriptsForDate(date, projectPaths) { return this.#call('listClaudeTranscriptsForDate', date, projectPaths === undefined ? null : projectPaths); }
  importClaudeTranscript(filePath) { return this.#call('importClaudeTranscript', filePath); }

  // Calendar
  listCalendarProviders() { return this.#call('listCalendarProviders'); }
  createCalendarAccount(input) { return this.#call('createCalendarAccount', input); }
  listCalendarAccounts() { return this.#call('listCalendarAccounts'); }
  getCalendarAccount(accountId) { return this.#call('getCalendarAccount', accountId); }
  deleteCalendarAccount(accountId) { return this.#call('deleteCalendarAccount', accountId); }
  listCalendars(query) { return this.#call('listCalendars', query === undefined ? {} : query); }
  updateCalendar(accountId, calendarId, patch) { return this.#call('updateCalendar', accountId, calendarId, patch); }
  listCalendarEvents(query) { return this.#call('listCalendarEvents', query); }
  syncCalendarAccount(accountId, body) { return this.#call('syncCalendarAccount', accountId, body === undefined ? {} : body); }
  startGoogleOAuth() { return this.#call('startGoogleOAuth'); }
  completeGoogleOAuth(input) { return this.#call('completeGoogleOAuth', input); }

  // Jira and Confluence
  listJiraAccounts() { return this.#call('listJiraAccounts'); }
  addJiraAccount(input) { return this.#call('addJiraAccount', input); }
  deleteJiraAccount(accountId) { return this.#call('deleteJiraAccount', accountId); }
  syncJiraAccount(accountId, options) { return this.#call('syncJiraAccount', accountId, options === undefined ? {} : options); }
  searchJira(accountId) { return this.#call('searchJira', accountId); }
  listConfluenceAccounts() { return this.#call('listConfluenceAccounts'); }
  addConfluenceAccount(input) { return this.#call('addConfluenceAccount', input); }
  deleteConfluenceAccount(accountId) { return this.#call('deleteConfluenceAccount', accountId); }
  syncConfluenceAccount(accountId) { return this.#call('syncConfluenceAccount', accountId); }

  // Activity
  listActivityEvents(query) { return this.#call('listActivityEvents', query); }

  // Vault (CONTRACT.md §17): positional arguments become the HTTP body/query object.
  searchNotes(input) { return this.#call('searchNotes', input); }
  listNotes(folderPath) { return this.#call('listNotes', { folder_path: folderPath }); }
  createNote(folderPath, title, options) {
    let overwrite;
    try {
      overwrite = options == null ? undefined : options.overwrite;
    } catch (e) {
      return Promise.reject(invalidInput(`options cannot be read (${describe(e)})`, ['options']));
    }
    return this.#call('createNote', { folder_path: folderPath, title, overwrite });
  }
  getNotePath(folderPath, noteId) { return this.#call('getNotePath', { folder_path: folderPath, note_id: noteId }); }
  readNote(path) { return this.#call('readNote', { path }); }
  writeNote(path, content) { return this.#call('writeNote', { path, content }); }
  dailyNotePath(vaultPath, date) { return this.#call('dailyNotePath', { vault_path: vaultPath, date }); }
  createDailyNote(vaultPath, date) { return this.#call('createDailyNote', { vault_path: vaultPath, date }); }
  listDailyNoteDates(vaultPath) { return this.#call('listDailyNoteDates', { vault_path: vaultPath }); }
  // GitHub and suggestions (CONTRACT.md §18-§19)
  githubStatus() { return this.#call('githubStatus'); }
  githubDailySummary(query) { return this.#call('githubDailySummary', query === undefined ? {} : query); }
  syncGithub(input) { return this.#call('syncGithub', input === undefined ? {} : input); }
  activityStream(query) { return this.#call('activityStream', query === undefined ? {} : query); }
  generateSuggestion(input) { return this.#call('generateSuggestion', input === undefined ? {} : input); }
  // Memory (CONTRACT.md §15, §16)
  createObservation(input) { return this.#call('createObservation', input); }
  getObservation(observationId) { return this.#call('getObservation', observationId); }
  getObservations(ids) { return this.#call('getObservations', ids); }
  deleteObservation(observationId) { return this.#call('deleteObservation', observationId); }
  listObservations(query) { return this.#call('listObservations', query === undefined ? {} : query); }
  searchMemory(input) { return this.#call('searchMemory', input); }
  memoryTimeline(input) { return this.#call('memoryTimeline', input === undefined ? {} : input); }
  memoryStats() { return this.#call('memoryStats'); }
  processMemory(input) { return this.#call('processMemory', input === undefined ? {} : input); }
  syncMemoryVectors() { return this.#call('syncMemoryVectors'); }
  syncGithubMemory(payload) { return this.#call('syncGithubMemory', payload); }
  syncClaudeSessionsMemory(payload) { return this.#call('syncClaudeSessionsMemory', payload); }
  /** The Claude Code MCP config of the running HTTP adapter (E_CONFLICT when it is not running). */
  mcpConfig() { return this.#call('mcpConfig'); }

  /**
   * Registers the host's embedding model (CONTRACT.md §15.5); returns the function that
   * unregisters it. `embed(texts)` may return (or resolve to) `Float32Array[]` or `number[][]`;
   * whatever it throws or returns instead fails that batch with a message, never this process.
   */
  registerEmbedder(embedder) {
    let model; let dimensions; let batchSize; let embed;
    try {
      if (embedder === null || typeof embedder !== 'object') throw new Error('embedder must be an object');
      ({ model, dimensions, embed } = embedder);
      batchSize = embedder.batchSize === undefined ? 64 : embedder.batchSize;
    } catch (e) {
      throw invalidInput(`embedder: ${describe(e)}`);
    }
    if (typeof model !== 'string' || model.length === 0 || model.length > 200) {
      throw invalidInput('embedder.model must be a non-empty string (at most 200 characters)');
    }
    if (!Number.isInteger(dimensions) || dimensions < 1 || dimensions > 65536) {
      throw invalidInput('embedder.dimensions must be an integer from 1 to 65536');
    }
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 4096) {
      throw invalidInput('embedder.batchSize must be an integer from 1 to 4096');
    }
    if (typeof embed !== 'function') {
      throw invalidInput('embedder.embed must be a function');
    }
    let generation;
    try {
      generation = this.#native.registerEmbedder(model, dimensions, batchSize,
        (message) => { this.#embedBatch(embed, dimensions, message); });
    } catch (e) {
      throw toError(e);
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      try {
        this.#native.unregisterEmbedder(generation);
      } catch {
        // Closed: nothing to unregister.
      }
    };
  }

  /** Runs one embedding batch `{id, texts}` and answers it; never throws, never rejects. */
  async #embedBatch(embed, dimensions, message) {
    let request;
    try {
      request = JSON.parse(message);
    } catch {
      return;
    }
    let vectors = null;
    let error = null;
    try {
      const result = await embed(request.texts);
      vectors = packVectors(result, request.texts.length, dimensions);
    } catch (e) {
      error = `the embedder failed: ${describe(e)}`;
    }
    try {
      this.#native.settleEmbed(request.id, vectors, error);
    } catch {
      // Closed meanwhile.
    }
  }
}

module.exports = { Backend };
module.exports.Backend = Backend;
