/**
 * Links to relays: which relays exist (RelayDirectory), and the loops that keep websocket
 * connections to them open: a relay keeps one to every other relay (keepConnected), a client
 * keeps `target` of them, preferring the first ones it was given and failing over to the
 * others (maintainRelayLinks).
 */
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { Libp2p } from 'libp2p'
import { DIAL_TIMEOUT_MS } from './config.js'
import type { RelayInfo } from './types.js'
import { backoffMs, hasOpenConnection, logError, peerIdOf, sleep } from './util.js'

const REDIAL_MIN_MS = 250
const REDIAL_MAX_MS = 2_000
/** Re-check the client's relay links this often even without an event. */
const CHECK_INTERVAL_MS = 5_000
/** Most relays a directory remembers (announcements could otherwise grow it without bound). */
export const MAX_RELAYS = 64

interface RelayEntry { addrs: Multiaddr[]; url: string | null }

/** The relays a node knows, in order of preference (configured first, then as learnt). */
export class RelayDirectory {
  private readonly entries = new Map<string, RelayEntry>()

  /** Groups multiaddrs by their /p2p/ id; throws for one without it. */
  static group(addrs: string[]): Map<string, Multiaddr[]> {
    const byPeer = new Map<string, Multiaddr[]>()
    for (const text of addrs) {
      const ma = multiaddr(text)
      const id = peerIdOf(ma)
      if (id === undefined) throw new Error(`relay address must end in /p2p/<relay peer id>: ${text}`)
      byPeer.set(id, [...(byPeer.get(id) ?? []), ma])
    }
    return byPeer
  }

  /**
   * Adds a relay or updates its addresses and URL. Returns true when the relay is new.
   * Past MAX_RELAYS new relays are ignored.
   */
  upsert(peerId: string, addrs: Multiaddr[], url: string | null = null): boolean {
    const known = this.entries.get(peerId)
    if (known) {
      if (addrs.length > 0) known.addrs = addrs
      if (url !== null) known.url = url
      return false
    }
    if (this.entries.size >= MAX_RELAYS) return false
    this.entries.set(peerId, { addrs, url })
    return true
  }

  has(peerId: string): boolean {
    return this.entries.has(peerId)
  }

  addrs(peerId: string): Multiaddr[] {
    return this.entries.get(peerId)?.addrs ?? []
  }

  ids(): string[] {
    return [...this.entries.keys()]
  }

  list(): RelayInfo[] {
    return [...this.entries].map(([peerId, e]) => ({ peerId, addrs: e.addrs.map((a) => a.toString()), url: e.url }))
  }
}

/**
 * Keeps one connection to a relay open: dials now, and again with backoff (250 ms doubling
 * to at most 2 s between attempts) whenever it disconnects. `addrs()` is read at each attempt,
 * so a relay that comes back on another address is found there.
 */
export function keepConnected(node: Libp2p, peerId: string, addrs: () => Multiaddr[], signal: AbortSignal): void {
  let running = false
  const loop = async (): Promise<void> => {
    if (running) return
    running = true
    try {
      for (let failures = 0; !signal.aborted && !hasOpenConnection(node, peerId); ) {
        await sleep(backoffMs(failures, REDIAL_MIN_MS, REDIAL_MAX_MS), signal)
        if (signal.aborted || hasOpenConnection(node, peerId)) break
        try {
          await node.dial(addrs(), { signal: AbortSignal.any([signal, AbortSignal.timeout(DIAL_TIMEOUT_MS)]) })
        } catch (err) {
          if (!signal.aborted && failures % 10 === 0) logError(`dial relay ${peerId} failed (attempt ${failures + 1}), retrying`, err)
          failures++
        }
      }
    } finally {
      running = false
    }
  }
  const onDisconnect = (evt: CustomEvent<{ toString(): string }>): void => {
    if (evt.detail.toString() === peerId) void loop()
  }
  node.addEventListener('peer:disconnect', onDisconnect)
  signal.addEventListener('abort', () => node.removeEventListener('peer:disconnect', onDisconnect), { once: true })
  void loop()
}

/**
 * A client's relay links: keeps `target` relays of the directory connected (over websockets,
 * not relayed), trying them in the directory's order, each with its own backoff. When a relay
 * drops, the next one is dialled at once. Returns `check`, to call when the directory grows.
 */
export function maintainRelayLinks(node: Libp2p, directory: RelayDirectory, opts: { target: number; signal: AbortSignal }): { check(): void } {
  const { signal } = opts
  const failures = new Map<string, { count: number; nextAt: number }>()
  let running = false
  let again = false

  const run = async (): Promise<void> => {
    if (running) { again = true; return }
    running = true
    try {
      do {
        again = false
        while (!signal.aborted) {
          const ids = directory.ids()
          const connected = ids.filter((id) => hasOpenConnection(node, id))
          if (connected.length >= Math.min(opts.target, ids.length)) break
          const now = Date.now()
          const candidates = ids.filter((id) => !connected.includes(id))
          const ready = candidates.find((id) => (failures.get(id)?.nextAt ?? 0) <= now)
          if (ready === undefined) {
            const next = Math.min(...candidates.map((id) => failures.get(id)?.nextAt ?? now))
            await sleep(next - now, signal)
            continue
          }
          try {
            await node.dial(directory.addrs(ready), { signal: AbortSignal.any([signal, AbortSignal.timeout(DIAL_TIMEOUT_MS)]) })
            failures.delete(ready)
          } catch (err) {
            const f = failures.get(ready) ?? { count: 0, nextAt: 0 }
            f.count++
            f.nextAt = Date.now() + backoffMs(f.count, REDIAL_MIN_MS, REDIAL_MAX_MS)
            failures.set(ready, f)
            if (!signal.aborted && f.count % 10 === 1) logError(`dial relay ${ready} failed (attempt ${f.count}), retrying`, err)
          }
        }
      } while (again && !signal.aborted)
    } finally {
      running = false
    }
  }

  const check = (): void => { void run() }
  const onDisconnect = (evt: CustomEvent<{ toString(): string }>): void => {
    if (directory.has(evt.detail.toString())) check()
  }
  node.addEventListener('peer:disconnect', onDisconnect)
  const interval = setInterval(check, CHECK_INTERVAL_MS)
  signal.addEventListener('abort', () => {
    clearInterval(interval)
    node.removeEventListener('peer:disconnect', onDisconnect)
  }, { once: true })
  check()
  return { check }
}
