'use strict';
// Preload (context isolation on): exposes the bridge's transport as window.enttokBackend.
const { contextBridge, ipcRenderer } = require('electron');
const { exposeBackendTransport } = require('@enttok/backend/renderer');

exposeBackendTransport({ contextBridge, ipcRenderer, key: 'enttokBackend' });
contextBridge.exposeInMainWorld('enttokSmoke', {
  enabled: process.argv.includes('--enttok-smoke'),
  done: (report) => ipcRenderer.send('smoke:done', report),
});
