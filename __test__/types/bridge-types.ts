// Compile-time checks of electron.d.ts and renderer.d.ts (run by __test__/types.test.js with tsc).
// Each @ts-expect-error line must be an error: if a main-only method became callable from the
// page, tsc would report the unused directive and the test would fail.
import type { Backend, JobRecord, BackendEvent } from '../../index'
import { exposeBackend, bridgeMethods, type MainOnlyMethod, type BridgeMethodName } from '../../electron'
import { createBackendClient, exposeBackendTransport, type BackendClient, type BackendTransport } from '../../renderer'

declare const backend: Backend
declare const transport: BackendTransport
declare const ipcMain: { handle(c: string, f: (e: any, ...a: any[]) => unknown): void; removeHandler(c: string): void }

const unexpose: () => void = exposeBackend(backend, { ipcMain, windows: [], events: (e: BackendEvent) => e.type !== 'log' })
unexpose()
const names: BridgeMethodName[] = bridgeMethods(backend)

const client: BackendClient = createBackendClient(transport)
const job: Promise<JobRecord> = client.getJob('job_x')
const off: () => void = client.subscribe((e) => {
  if (e.type === 'job.status') {
    const s: 'running' | 'succeeded' | 'failed' | 'canceled' = e.status
  }
})
client.listCalendarEvents({ start: new Date(), end: '2026-01-01T00:00:00Z' })

// @ts-expect-error close is main-only
client.close()
// @ts-expect-error startHttp is main-only
client.startHttp()
// @ts-expect-error registerJobHandler is main-only
client.registerJobHandler('x', () => 1)
// @ts-expect-error arguments keep Backend's types
client.getJob(42)

// Every public method of Backend that is not main-only is on the client (derived, not listed).
type Methods = { [K in keyof Backend]: Backend[K] extends (...a: any[]) => any ? K : never }[keyof Backend]
type Missing = Exclude<Exclude<Methods, MainOnlyMethod>, keyof BackendClient>
const complete: [Missing] extends [never] ? true : false = true

exposeBackendTransport({ ipcRenderer: { invoke: async () => ({ ok: true, value: 1 }), sendSync: () => [], on: () => 0, removeListener: () => 0 } })
export { job, off, names, complete }
