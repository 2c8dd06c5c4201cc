// Types of @enttok/backend/renderer (CONTRACT.md §20): the page's client has exactly the bridged
// methods of `Backend` (derived from its type in electron.d.ts) plus `subscribe`.

import type { BackendEvent } from './index'
import type { BridgeMethods, BridgeMethodName, Envelope, MainOnlyMethod } from './electron'

export type { BridgeMethods, BridgeMethodName, Envelope, BridgeErrorInfo, MainOnlyMethod } from './electron'

/** Rejections are `Error`s with the backend's `code`, `status` and `detail`. */
export type BackendClient = BridgeMethods & {
  /** Events forwarded by the main process (after its filter); returns the unsubscribe function. */
  subscribe(listener: (event: BackendEvent) => void): () => void
}

/** What a preload exposes: plain data and functions only (crosses contextBridge). */
export interface BackendTransport {
  invoke(method: string, args: unknown[]): Promise<Envelope>
  on(listener: (event: BackendEvent) => void): () => void
  /** The bridged method names, as the main process sent them. */
  methods?: BridgeMethodName[] | string[]
}

export interface IpcRendererLike {
  invoke(channel: string, ...args: any[]): Promise<any>
  sendSync(channel: string, ...args: any[]): any
  on(channel: string, listener: (event: any, ...args: any[]) => void): unknown
  removeListener(channel: string, listener: (...args: any[]) => void): unknown
}

export interface ContextBridgeLike {
  exposeInMainWorld(key: string, api: unknown): void
}

export declare function createBackendClient(transport: BackendTransport): BackendClient
export declare function createTransport(ipcRenderer: IpcRendererLike, channel?: string): BackendTransport
export declare function exposeBackendTransport(options: {
  ipcRenderer: IpcRendererLike
  contextBridge?: ContextBridgeLike
  /** Default 'enttokBackend' (`window.enttokBackend`). */
  key?: string
  /** Default 'enttok-backend'. */
  channel?: string
}): BackendTransport

export declare const MAIN_ONLY_METHODS: readonly MainOnlyMethod[]
export declare const DEFAULT_CHANNEL: 'enttok-backend'
