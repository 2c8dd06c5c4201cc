'use strict';
// The renderer half of the Electron bridge (CONTRACT.md §20).
//  - `exposeBackendTransport({contextBridge, ipcRenderer})` in a preload: exposes a transport
//    `{methods, invoke(method, args) → Promise<envelope>, on(listener) → off}` made of plain data
//    and functions only, so it crosses contextBridge and structured clone intact.
//  - `createBackendClient(transport)` in the page: every bridged method as an own property
//    returning a Promise; a `{ok:false}` envelope rejects with an `Error` whose `code`, `status`,
//    `detail` and `message` are the envelope's (rebuilt here, in the page, because Errors lose
//    their extra properties on every hop).
// Pure JS, no Node or Electron imports: bundlers (Vite, esbuild, webpack) take it as is, and a
// page without a bundler can load it as a classic script (`window.EnttokBackendRenderer`).

const DEFAULT_CHANNEL = 'enttok-backend';
const MAIN_ONLY_METHODS = Object.freeze([
  'close',
  'startHttp',
  'stopHttp',
  'mcpConfig',
  'registerJobHandler',
  'registerEmbedder',
  'subscribe',
]);

function backendError(code, status, detail, message) {
  const err = new Error(message);
  err.code = code;
  err.status = status;
  err.detail = detail;
  return err;
}

function fromEnvelope(method, envelope) {
  if (envelope && envelope.ok === true) return envelope.value;
  if (envelope && envelope.ok === false && envelope.error && typeof envelope.error === 'object') {
    const e = envelope.error;
    const message = typeof e.message === 'string' ? e.message : String(e.message);
    return Promise.reject(backendError(
      typeof e.code === 'string' ? e.code : 'E_INTERNAL',
      typeof e.status === 'number' ? e.status : 500,
      e.detail === undefined ? message : e.detail,
      message,
    ));
  }
  const message = `malformed answer from the bridge for ${method}`;
  return Promise.reject(backendError('E_INTERNAL', 500, message, message));
}

function reportLater(err) {
  // A listener's exception must not stop the others; surface it like an uncaught error.
  setTimeout(() => {
    throw err;
  }, 0);
}

/**
 * A client of the backend over `transport`. Methods come from `transport.methods` (sent by the
 * main process); a transport built by hand without that list gets a client that creates a
 * method on first access for any name (the main process still refuses names it does not bridge).
 */
function createBackendClient(transport) {
  if (!transport || typeof transport.invoke !== 'function') {
    throw new TypeError('createBackendClient(transport): transport.invoke must be a function');
  }
  const invoke = (method, args) => {
    let pending;
    try {
      pending = Promise.resolve(transport.invoke(method, args));
    } catch (e) {
      pending = Promise.reject(e);
    }
    return pending.then(
      (envelope) => fromEnvelope(method, envelope),
      (e) => {
        // The transport itself failed (e.g. an argument that cannot be cloned).
        const message = String(e && e.message !== undefined ? e.message : e);
        throw backendError('E_INTERNAL', 500, message, `${method}: ${message}`);
      },
    );
  };
  const methodOf = (name) => (...args) => invoke(name, args);

  const client = {};
  client.subscribe = (listener) => {
    if (typeof listener !== 'function') throw new TypeError('subscribe(listener): listener must be a function');
    if (typeof transport.on !== 'function') throw new TypeError('this transport does not deliver events (no on())');
    const off = transport.on((event) => {
      try {
        listener(event);
      } catch (err) {
        reportLater(err);
      }
    });
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (typeof off === 'function') off();
    };
  };

  if (Array.isArray(transport.methods)) {
    for (const name of transport.methods) {
      if (typeof name === 'string' && !MAIN_ONLY_METHODS.includes(name)) client[name] = methodOf(name);
    }
    return client;
  }
  // No method list: create methods on demand (never `then`, so the client is not a thenable).
  return new Proxy(client, {
    get(target, name, receiver) {
      if (typeof name === 'string' && !(name in target) && name !== 'then' && name !== 'toJSON'
        && !MAIN_ONLY_METHODS.includes(name)) {
        target[name] = methodOf(name);
      }
      return Reflect.get(target, name, receiver);
    },
  });
}

/** The transport of a preload: plain functions and data over `ipcRenderer`. */
function createTransport(ipcRenderer, channel = DEFAULT_CHANNEL) {
  if (!ipcRenderer || typeof ipcRenderer.invoke !== 'function') {
    throw new TypeError('ipcRenderer is required');
  }
  let methods;
  try {
    const answer = ipcRenderer.sendSync(`${channel}:methods`);
    if (Array.isArray(answer)) methods = answer.filter((n) => typeof n === 'string');
  } catch {
    methods = undefined;
  }
  const eventChannel = `${channel}:event`;
  const transport = {
    invoke: (method, args) => ipcRenderer.invoke(channel, method, args),
    on: (listener) => {
      const handler = (_event, payload) => listener(payload);
      ipcRenderer.on(eventChannel, handler);
      return () => {
        ipcRenderer.removeListener(eventChannel, handler);
      };
    },
  };
  if (methods) transport.methods = methods;
  return transport;
}

/**
 * Preload: exposes the transport as `window[key]` through contextBridge (context isolation on),
 * or returns it for a preload without isolation. Returns the transport either way.
 */
function exposeBackendTransport(options) {
  const { contextBridge, ipcRenderer, key = 'enttokBackend', channel = DEFAULT_CHANNEL } = options || {};
  const transport = createTransport(ipcRenderer, channel);
  if (contextBridge) contextBridge.exposeInMainWorld(key, transport);
  return transport;
}

const api = {
  createBackendClient,
  createTransport,
  exposeBackendTransport,
  MAIN_ONLY_METHODS,
  DEFAULT_CHANNEL,
};
// CommonJS (Node, preloads, bundlers), or a classic <script> in a page without a bundler.
if (typeof module === 'object' && module && module.exports) module.exports = api;
else globalThis.EnttokBackendRenderer = api;
