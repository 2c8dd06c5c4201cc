// Types of @enttok/backend/electron (CONTRACT.md §20). Derived from `Backend`'s own type, so
// every method added to `Backend` is bridged and typed without editing this file.

import type { Backend, BackendEvent, BackendError } from './index'

/** Methods only the main process may call; the bridge refuses them. */
export type MainOnlyMethod =
  | 'close'
  | 'startHttp'
  | 'stopHttp'
  | 'mcpConfig'
  | 'registerJobHandler'
  | 'registerEmbedder'
  | 'subscribe'

/** Names of the `Backend` methods callable over the bridge. */
export type BridgeMethodName = {
  [K in keyof Backend]: K extends MainOnlyMethod ? never : Backend[K] extends (...args: any[]) => any ? K : never
}[keyof Backend]

/** The bridged methods with `Backend`'s own signatures (all return Promises). */
export type BridgeMethods = { [K in BridgeMethodName]: Backend[K] }

export interface BridgeErrorInfo {
  code: BackendError['code'] | (string & {})
  status: number
  detail: BackendError['detail']
  message: string
}

/** What the main process answers to every call. */
export type Envelope<T = unknown> = { ok: true; value: T } | { ok: false; error: BridgeErrorInfo }

/** The part of Electron's `ipcMain` the bridge uses. */
export interface IpcMainLike {
  handle(channel: string, listener: (event: any, ...args: any[]) => unknown): void
  removeHandler(channel: string): void
  on?(channel: string, listener: (event: any, ...args: any[]) => void): unknown
  removeListener?(channel: string, listener: (...args: any[]) => void): unknown
}

export interface WebContentsLike {
  send(channel: string, ...args: unknown[]): void
  isDestroyed?(): boolean
}

/** A `BrowserWindow` (its `webContents` receives the events) or a `webContents` itself. */
export type EventTarget = { webContents: WebContentsLike; isDestroyed?(): boolean } | WebContentsLike

export interface ExposeBackendOptions {
  /** Electron's `ipcMain`. */
  ipcMain: IpcMainLike
  /** Windows that receive events (a function called per event, or an array); default: none. */
  windows?: (() => Iterable<EventTarget>) | EventTarget[]
  /** Default 'enttok-backend'; events use `${channel}:event`. */
  channel?: string
  /** Which events windows get; default: every event but `claude.output`. */
  events?: (event: BackendEvent) => boolean
}

/** Bridges `backend` to renderers; returns `unexpose()`. */
export declare function exposeBackend(backend: Backend, options: ExposeBackendOptions): () => void

/** The names `exposeBackend` bridges for this backend (its class's public data methods). */
export declare function bridgeMethods(backend: Backend): BridgeMethodName[]

export declare const MAIN_ONLY_METHODS: readonly MainOnlyMethod[]
export declare const DEFAULT_CHANNEL: 'enttok-backend'
export declare function defaultEventFilter(event: BackendEvent): boolean
