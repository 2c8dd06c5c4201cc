'use strict';
// An in-process stand-in for Electron's IPC, strict where Electron is strict:
//  - everything crossing between main and renderer goes through `structuredClone` (so functions,
//    class instances and Error properties are lost or refused as in Electron);
//  - `ipcRenderer.invoke` of a handler that throws rejects with the message only, and of a
//    channel without a handler rejects with "No handler registered";
//  - `ipcMain.handle` refuses a second handler for one channel;
//  - `contextBridge.exposeInMainWorld` copies the API into the "page": functions become proxies
//    whose arguments and results are cloned (functions in arguments are proxied back), Promises
//    are resolved with cloned values, thrown Errors keep their message only.

function crossBridge(v) {
  if (typeof v === 'function') {
    return (...args) => {
      let r;
      try {
        r = v(...args.map(crossBridge));
      } catch (e) {
        throw new Error(e && e.message);
      }
      return crossBridge(r);
    };
  }
  if (v instanceof Promise) {
    return v.then(crossBridge, (e) => {
      throw new Error(e && e.message);
    });
  }
  if (Array.isArray(v)) return v.map(crossBridge);
  if (v !== null && typeof v === 'object') {
    const proto = Object.getPrototypeOf(v);
    if (proto === Object.prototype || proto === null) {
      const o = {};
      for (const [k, x] of Object.entries(v)) o[k] = crossBridge(x);
      return o;
    }
    return structuredClone(v);
  }
  return v;
}

function fakeElectron() {
  const handlers = new Map();
  const mainListeners = new Map();
  const rendererListeners = new Map();
  const stats = { sent: 0, invokes: 0 };

  const ipcMain = {
    handle(channel, fn) {
      if (handlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`);
      handlers.set(channel, fn);
    },
    removeHandler(channel) {
      handlers.delete(channel);
    },
    on(channel, fn) {
      if (!mainListeners.has(channel)) mainListeners.set(channel, new Set());
      mainListeners.get(channel).add(fn);
      return ipcMain;
    },
    once(channel, fn) {
      const wrapped = (...args) => {
        ipcMain.removeListener(channel, wrapped);
        fn(...args);
      };
      return ipcMain.on(channel, wrapped);
    },
    removeListener(channel, fn) {
      if (mainListeners.has(channel)) mainListeners.get(channel).delete(fn);
      return ipcMain;
    },
    handlerCount: () => handlers.size,
    listenerCount: (channel) => (mainListeners.get(channel) || new Set()).size,
  };

  function makeWindow() {
    const win = {
      destroyed: false,
      isDestroyed() {
        return win.destroyed;
      },
      webContents: {
        isDestroyed() {
          return win.destroyed;
        },
        send(channel, ...args) {
          const cloned = structuredClone(args);
          stats.sent += 1;
          // Delivered later, like a real IPC message.
          setImmediate(() => {
            for (const fn of rendererListeners.get(channel) || []) fn({ sender: null }, ...cloned);
          });
        },
      },
    };
    return win;
  }
  const sender = makeWindow().webContents;

  const ipcRenderer = {
    invoke(channel, ...args) {
      stats.invokes += 1;
      let cloned;
      try {
        cloned = structuredClone(args);
      } catch (e) {
        return Promise.reject(new Error(`An object could not be cloned. ${e.message}`));
      }
      const h = handlers.get(channel);
      if (!h) return Promise.reject(new Error(`No handler registered for '${channel}'`));
      return Promise.resolve()
        .then(() => h({ sender }, ...cloned))
        .then(
          (v) => structuredClone(v),
          (e) => {
            throw new Error(`Error invoking remote method '${channel}': ${e}`);
          },
        );
    },
    send(channel, ...args) {
      const cloned = structuredClone(args);
      setImmediate(() => {
        for (const fn of [...(mainListeners.get(channel) || [])]) fn({ sender }, ...cloned);
      });
    },
    sendSync(channel, ...args) {
      const cloned = structuredClone(args);
      const event = { sender, returnValue: undefined };
      for (const fn of mainListeners.get(channel) || []) fn(event, ...cloned);
      return structuredClone(event.returnValue);
    },
    on(channel, fn) {
      if (!rendererListeners.has(channel)) rendererListeners.set(channel, new Set());
      rendererListeners.get(channel).add(fn);
      return ipcRenderer;
    },
    removeListener(channel, fn) {
      if (rendererListeners.has(channel)) rendererListeners.get(channel).delete(fn);
      return ipcRenderer;
    },
  };

  const world = {};
  const contextBridge = {
    exposeInMainWorld(key, api) {
      world[key] = crossBridge(api);
    },
  };

  return { ipcMain, ipcRenderer, contextBridge, world, makeWindow, stats };
}

module.exports = { fakeElectron, crossBridge };
