'use strict';
// The main-process half of the Electron bridge (CONTRACT.md §20): `exposeBackend(backend, {ipcMain})`
// answers the renderer's calls with envelopes and forwards events to windows.
//
// Why envelopes: `ipcRenderer.invoke` keeps only the message of a thrown Error and contextBridge
// rebuilds Errors with their message alone, so `code`/`status`/`detail` would be lost. Every
// answer here is a value `{ok: true, value}` or `{ok: false, error: {code, status, detail,
// message}}`; the handler never throws and never lets a promise reject unhandled.
//
// Which methods are callable is derived at run time from the backend's class (its public data
// methods), so methods added to `Backend` later are bridged without touching this file; the
// main-process-only methods below are refused.
// No `require('electron')` here: the host passes `ipcMain` (tests pass a fake).

/** Methods only the main process may call (CONTRACT.md §20). */
const MAIN_ONLY_METHODS = Object.freeze([
  'close',
  'startHttp',
  'stopHttp',
  'mcpConfig',
  'registerJobHandler',
  'registerEmbedder',
  'subscribe',
]);
const MAIN_ONLY = new Set(MAIN_ONLY_METHODS);

const DEFAULT_CHANNEL = 'enttok-backend';

/** Default event filter: Claude's streamed output is high volume and stays in the main process. */
function defaultEventFilter(event) {
  return !(event && event.type === 'claude.output');
}

/**
 * The public data methods of `backend`'s class (and its superclasses): functions on the
 * prototype chain, not accessors, not `constructor`, not `_`-prefixed, not main-only. Own
 * properties of the instance are never callable (only what the class declares).
 */
function bridgeMethods(backend) {
  const names = new Set();
  let proto = backend === null || backend === undefined ? null : Object.getPrototypeOf(backend);
  while (proto && proto !== Object.prototype && proto !== Function.prototype) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (name === 'constructor' || name.startsWith('_') || MAIN_ONLY.has(name)) continue;
      const d = Object.getOwnPropertyDescriptor(proto, name);
      if (d && typeof d.value === 'function') names.add(name);
    }
    proto = Object.getPrototypeOf(proto);
  }
  return [...names].sort();
}

function errorEnvelope(code, status, detail, message) {
  return { ok: false, error: { code, status, detail, message } };
}

function refused(method) {
  const name = typeof method === 'string' ? method : String(typeof method);
  const message = `method not available over the bridge: ${name}`;
  return errorEnvelope('E_INVALID_INPUT', 422, message, message);
}

/** True when `v` is plain data (what JSON or structured clone carries without surprises). */
function isPlain(v, depth = 0) {
  if (v === null || v === undefined) return true;
  const t = typeof v;
  if (t === 'string' || t === 'number' || t === 'boolean') return true;
  if (t !== 'object' || depth > 64) return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i += 1) if (!isPlain(v[i], depth + 1)) return false;
    return true;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return false;
  for (const k in v) if (!isPlain(v[k], depth + 1)) return false;
  return true;
}

/** Whether `v` survives Electron's structured clone (checked the slow way only if not plain). */
function cloneable(v) {
  if (isPlain(v)) return true;
  try {
    structuredClone(v);
    return true;
  } catch {
    return false;
  }
}

function safeString(v) {
  try {
    return String(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}

/** The error part of an envelope from whatever was thrown (an Error of ours, or anything). */
function errorInfo(err) {
  try {
    const isObj = err !== null && (typeof err === 'object' || typeof err === 'function');
    const message = isObj && typeof err.message === 'string' ? err.message : safeString(err);
    const code = isObj && typeof err.code === 'string' ? err.code : 'E_INTERNAL';
    const status = isObj && Number.isInteger(err.status) ? err.status : 500;
    let detail = isObj && err.detail !== undefined ? err.detail : message;
    if (!cloneable(detail)) detail = safeString(detail);
    return { code, status, detail, message };
  } catch {
    return { code: 'E_INTERNAL', status: 500, detail: 'unreadable error', message: 'unreadable error' };
  }
}

/**
 * Bridges `backend` to renderers.
 * @param backend an open `Backend`
 * @param options `{ ipcMain, windows?, channel?, events? }` (see electron.d.ts)
 * @returns `unexpose()`: removes the handlers and stops forwarding events
 */
function exposeBackend(backend, options) {
  const opts = options || {};
  const { ipcMain } = opts;
  if (!ipcMain || typeof ipcMain.handle !== 'function') {
    throw new TypeError('exposeBackend(backend, { ipcMain }): ipcMain is required');
  }
  if (!backend || typeof backend.subscribe !== 'function') {
    throw new TypeError('exposeBackend(backend, …): backend must be an open Backend');
  }
  const channel = opts.channel === undefined ? DEFAULT_CHANNEL : opts.channel;
  if (typeof channel !== 'string' || channel === '') throw new TypeError('channel must be a non-empty string');
  const filter = opts.events === undefined ? defaultEventFilter : opts.events;
  if (typeof filter !== 'function') throw new TypeError('events must be a function (event) => boolean');
  const windows = opts.windows;
  if (windows !== undefined && typeof windows !== 'function' && !Array.isArray(windows)) {
    throw new TypeError('windows must be a function returning windows, or an array');
  }

  const methods = bridgeMethods(backend);
  const callable = new Set(methods);
  const methodsChannel = `${channel}:methods`;
  const eventChannel = `${channel}:event`;

  async function handle(_event, method, args) {
    try {
      if (typeof method !== 'string' || !callable.has(method)) return refused(method);
      let list = args;
      if (list === undefined || list === null) list = [];
      if (!Array.isArray(list)) {
        const message = 'args must be an array';
        return errorEnvelope('E_INVALID_INPUT', 422, message, message);
      }
      const value = await backend[method](...list);
      if (!cloneable(value)) {
        const message = `the result of ${method} cannot cross the bridge (not structured-cloneable)`;
        return errorEnvelope('E_INTERNAL', 500, message, message);
      }
      return { ok: true, value };
    } catch (err) {
      return { ok: false, error: errorInfo(err) };
    }
  }

  // The renderer's preload asks for the method list once, synchronously (`sendSync`), so the
  // page's client has every method as an own property from the start.
  function answerMethods(event) {
    try {
      event.returnValue = methods.slice();
    } catch {
      // A fake or destroyed sender: nothing to answer.
    }
  }

  function targets() {
    try {
      const list = typeof windows === 'function' ? windows() : windows;
      return list ? Array.from(list) : [];
    } catch {
      return [];
    }
  }

  function forward(event) {
    let keep;
    try {
      keep = filter(event);
    } catch {
      keep = false;
    }
    if (!keep) return;
    for (const w of targets()) {
      try {
        if (!w || (typeof w.isDestroyed === 'function' && w.isDestroyed())) continue;
        const wc = w.webContents || w;
        if (typeof wc.isDestroyed === 'function' && wc.isDestroyed()) continue;
        wc.send(eventChannel, event);
      } catch {
        // A window closing while we send: the others still get the event.
      }
    }
  }

  ipcMain.handle(channel, handle);
  const hasOn = typeof ipcMain.on === 'function';
  if (hasOn) ipcMain.on(methodsChannel, answerMethods);
  const off = windows === undefined ? null : backend.subscribe(forward);

  let done = false;
  return function unexpose() {
    if (done) return;
    done = true;
    if (off) off();
    try {
      ipcMain.removeHandler(channel);
    } catch {
      // already removed
    }
    if (hasOn && typeof ipcMain.removeListener === 'function') ipcMain.removeListener(methodsChannel, answerMethods);
  };
}

module.exports = {
  exposeBackend,
  bridgeMethods,
  MAIN_ONLY_METHODS,
  DEFAULT_CHANNEL,
  defaultEventFilter,
};
