'use strict';
// A minimal Electron main process using @enttok/backend through the bridge: what the enttok-e
// app's main does instead of spawning the Python sidecar.
//   npx electron examples/electron/main.js            (from the repository, after npm run build)
//   npx electron examples/electron/main.js --smoke    (the release workflow's smoke test: runs a job,
//                                              lists calendar events and subscribes from the page,
//                                              then quits through before-quit + close(); exit 0 = ok)
// Not built by `npm test`; its --smoke mode runs there under a fake Electron (__test__/example.test.js).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');
const { app, BrowserWindow, ipcMain, safeStorage } = require('electron');
// Inside this repository the package resolves to itself (package.json "exports" self-reference);
// in the app it is the installed dependency.
const { Backend } = require('@enttok/backend');
const { exposeBackend } = require('@enttok/backend/electron');

const smoke = process.argv.includes('--smoke');
let backend = null;
let unexpose = null;
let exitCode = 0;

/** 32 bytes kept encrypted by the OS keychain (safeStorage), created on first run. */
function loadOrCreateKey(dir) {
  const file = path.join(dir, 'secret-key.bin');
  const usable = safeStorage.isEncryptionAvailable();
  try {
    const stored = fs.readFileSync(file);
    return Buffer.from(usable ? safeStorage.decryptString(stored) : stored.toString(), 'base64');
  } catch {
    const key = crypto.randomBytes(32);
    const text = key.toString('base64');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(file, usable ? safeStorage.encryptString(text) : text, { mode: 0o600 });
    return key;
  }
}

// One process owns the data directory: a second instance would get E_CONFLICT from open().
if (!smoke && !app.requestSingleInstanceLock()) app.quit();

app.whenReady().then(async () => {
  const userData = smoke ? fs.mkdtempSync(path.join(os.tmpdir(), 'enttok-electron-smoke-')) : app.getPath('userData');
  // The smoke run syncs calendar events from a local stand-in for Google (smoke-google.js).
  const fakeGoogle = smoke ? await require('./smoke-google').startFakeGoogle() : null;
  backend = await Backend.open({
    dataDir: path.join(userData, 'backend', 'data'),
    // On a CI machine without a keychain safeStorage may be unavailable; the smoke run skips it.
    secretKey: smoke ? crypto.randomBytes(32) : loadOrCreateKey(path.join(userData, 'backend')),
    claudeCwd: app.getPath('home'),
    scheduler: !smoke,
    // The app passes its own Google OAuth client (no more backend/.env).
    googleClientId: process.env.ENTTOK_GOOGLE_CLIENT_ID,
    googleClientSecret: process.env.ENTTOK_GOOGLE_CLIENT_SECRET,
    ...(fakeGoogle ? { googleClientId: 'smoke', googleClientSecret: 'smoke', endpoints: fakeGoogle.endpoints } : {}),
  });
  let listedInMain = null;
  if (fakeGoogle) {
    listedInMain = await require('./smoke-google').seedCalendar(backend);
    console.log(`main listed ${listedInMain} calendar events (of ${fakeGoogle.count})`);
    await fakeGoogle.close();
  }
  // Main-process use (not through the bridge): a subscription of its own.
  const mainSeen = [];
  backend.subscribe((event) => mainSeen.push(event.type));
  unexpose = exposeBackend(backend, { ipcMain, windows: () => BrowserWindow.getAllWindows() });

  ipcMain.once('smoke:done', (_e, report) => {
    console.log(`smoke report: ${JSON.stringify(report)}`);
    console.log(`main saw ${mainSeen.length} events`);
    if (!report.ok || mainSeen.length === 0 || listedInMain !== report.calendarEvents || listedInMain !== 200) exitCode = 1;
    app.quit(); // through before-quit below
  });

  const win = new BrowserWindow({
    show: !smoke,
    width: 900,
    height: 600,
    webPreferences: {
      preload: path.join(__dirname, 'preload.js'),
      contextIsolation: true,
      // The preload requires @enttok/backend/renderer; a sandboxed preload could only require
      // 'electron' (bundle the preload to keep the sandbox).
      sandbox: false,
      additionalArguments: smoke ? ['--enttok-smoke'] : [],
    },
  });
  await win.loadFile(path.join(__dirname, 'index.html'));
  if (smoke) {
    setTimeout(() => {
      console.error('smoke: timed out');
      exitCode = 1;
      app.quit();
    }, 60000).unref();
  }
}).catch((err) => {
  console.error(err);
  exitCode = 1;
  app.quit();
});

// Quit only after close() has resolved: jobs are re-queued, the WAL checkpointed, the lock freed.
let closing = false;
app.on('before-quit', (event) => {
  if (closing || !backend) return;
  event.preventDefault();
  closing = true;
  if (unexpose) unexpose();
  backend.close()
    .then(() => console.log('backend closed'))
    .catch((err) => {
      console.error('close failed', err);
      exitCode = 1;
    })
    .finally(() => app.exit(exitCode));
});
app.on('window-all-closed', () => app.quit());
