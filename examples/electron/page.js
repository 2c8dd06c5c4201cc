'use strict';
// The page: a typed client over window.enttokBackend (see renderer.d.ts). No port, no token.
/* global EnttokBackendRenderer */
const backend = EnttokBackendRenderer.createBackendClient(window.enttokBackend);
const out = document.getElementById('log');
const log = (...parts) => { out.textContent += `${parts.map((p) => (typeof p === 'string' ? p : JSON.stringify(p))).join(' ')}\n`; };

const events = [];
backend.subscribe((event) => {
  events.push(event);
  if (event.type !== 'log') log('event', event.type, event.job_id || '', event.status || event.progress || '');
});

async function waitForJob(jobId) {
  for (let i = 0; i < 300; i += 1) {
    const job = await backend.getJob(jobId);
    if (['succeeded', 'failed', 'canceled'].includes(job.status)) return job;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`job ${jobId} did not finish`);
}

async function runJob() {
  const { job_id } = await backend.createJob({ type: 'demo', payload: { simulate_ms: 200 } });
  const job = await waitForJob(job_id);
  log('job', job_id, job.status);
  return job;
}

async function listMonth() {
  const now = new Date();
  const start = new Date(now.getFullYear(), now.getMonth(), 1);
  const end = new Date(now.getFullYear(), now.getMonth() + 1, 1);
  const list = await backend.listCalendarEvents({ start, end });
  log('calendar events this month:', list.length);
  return list;
}

document.getElementById('run').onclick = () => runJob().catch((e) => log('error', e.code, e.message));
document.getElementById('events').onclick = () => listMonth().catch((e) => log('error', e.code, e.message));

async function smoke() {
  const report = { ok: false };
  try {
    report.health = (await backend.health()).status;
    const job = await runJob();
    report.job = job.status;
    const listed = await listMonth();
    report.calendarEvents = listed.length;
    report.calendarTitles = [...new Set(listed.map((e) => e.title))].sort();
    try {
      await backend.getJob('job_00000000000000000000000000000000');
    } catch (e) {
      report.errorCode = e.code;
      report.errorStatus = e.status;
    }
    report.closeRefused = typeof backend.close === 'undefined';
    await new Promise((r) => setTimeout(r, 200));
    report.events = events.filter((e) => e.job_id === job.job_id).map((e) => e.type);
    report.ok = report.health === 'ok' && report.job === 'succeeded' && report.calendarEvents > 0
      && report.errorCode === 'E_NOT_FOUND' && report.errorStatus === 404 && report.closeRefused
      && report.events.includes('job.created') && report.events.includes('job.status');
  } catch (e) {
    report.error = `${e.code || ''} ${e.message}`;
  }
  window.enttokSmoke.done(report);
}

if (window.enttokSmoke && window.enttokSmoke.enabled) smoke();
