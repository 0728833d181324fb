import type { Multiaddr } from '@multiformats/multiaddr'
import type { Libp2p } from 'libp2p'
import type { TransportKind } from './types.js'

export function transportOf(addr: Multiaddr): TransportKind {
  const names = addr.getComponents().map((c) => c.name)
  // order matters: a WebRTC address obtained through a relay also contains p2p-circuit
  if (names.includes('webrtc') || names.includes('webrtc-direct')) return 'webrtc'
  if (names.includes('p2p-circuit')) return 'circuit'
  if (names.includes('ws') || names.includes('wss')) return 'websockets'
  return 'other'
}

/** The peer id in a multiaddr's trailing /p2p/ component, if any. */
export function peerIdOf(addr: Multiaddr): string | undefined {
  return addr.getComponents().filter((c) => c.name === 'p2p').pop()?.value
}

/** For `/.../p2p/RELAY/p2p-circuit/...`: RELAY; undefined for an address that is not relayed. */
export function relayIdOf(addr: Multiaddr): string | undefined {
  const components = addr.getComponents()
  const circuit = components.findIndex((c) => c.name === 'p2p-circuit')
  if (circuit < 0) return undefined
  return components.slice(0, circuit).filter((c) => c.name === 'p2p').pop()?.value
}

/** An open connection to `peerId` that is not limited (i.e. not a relayed circuit), optionally of one transport. */
export function hasOpenConnection(node: Libp2p, peerId: string, transport?: TransportKind): boolean {
  return node.getConnections().some((c) =>
    c.status === 'open' && c.limits == null && c.remotePeer.toString() === peerId &&
    (transport === undefined || transportOf(c.remoteAddr) === transport))
}

export function errorMessage(err: unknown): string {
  // a failed websocket dial rejects with an ErrorEvent (not an Error): take its message only
  if (err instanceof Error) return `${err.name}: ${err.message}`
  const message = (err as { message?: unknown } | null)?.message
  return typeof message === 'string' ? message : String(err)
}

export function logError(what: string, err: unknown): void {
  console.error(`[p2p] ${what}:`, errorMessage(err))
}

/** Runs a user callback; a throw or a rejected promise is logged, never propagated. */
export function safeCall(what: string, fn: () => unknown): void {
  try {
    const result = fn()
    if (result instanceof Promise) result.catch((err: unknown) => logError(what, err))
  } catch (err) {
    logError(what, err)
  }
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const timer = setTimeout(done, Math.max(0, ms))
    signal.addEventListener('abort', done, { once: true })
    function done(): void {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
  })
}

/** 250 ms, 500 ms, 1 s, ... doubling per failure, capped. */
export function backoffMs(failures: number, minMs: number, maxMs: number): number {
  return failures <= 0 ? 0 : Math.min(minMs * 2 ** (failures - 1), maxMs)
}

export function isTimeout(err: unknown): boolean {
  const name = (err as { name?: unknown } | null)?.name
  return name === 'TimeoutError' || name === 'AbortError'
}
