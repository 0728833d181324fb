/**
 * Direct (WebRTC) links between clients. libp2p 3 does not dial discovered peers by itself
 * (P2P-NOTES 6), so: when a peer announces its `/p2p-circuit/webrtc/p2p/<id>` addresses, the
 * peer with the lower id dials it (the signalling runs through the relay in the address), with
 * retries and DIAL_TIMEOUT_MS per attempt; if a link drops, it dials again. The higher id
 * dials too, but only if no link has appeared FALLBACK_AFTER_MS later (the other side may not
 * know a relay on our address).
 */
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { Libp2p } from 'libp2p'
import type { Announcement } from './announcement.js'
import { DIAL_TIMEOUT_MS } from './config.js'
import type { NetworkStats } from './types.js'
import { backoffMs, errorMessage, hasOpenConnection, isTimeout, relayIdOf, sleep, transportOf } from './util.js'

const RETRY_MIN_MS = 500
const RETRY_MAX_MS = 5_000
/** A peer not announced for this long is forgotten (peers announce every ANNOUNCE_INTERVAL_MS). */
export const PEER_TTL_MS = 45_000
const FALLBACK_AFTER_MS = 15_000
const MAX_DIAL_SAMPLES = 100
/** Most peers remembered at once (announcements are unauthenticated: bound what they can fill). */
const MAX_KNOWN_PEERS = 256

interface KnownPeer { addrs: Multiaddr[]; seenAt: number }

export interface DirectLinks {
  /** Returns true when the peer was not known (or had been forgotten). */
  onAnnouncement(a: Announcement): boolean
  count(): number
}

export function maintainDirectLinks(node: Libp2p, opts: {
  signal: AbortSignal
  /** only addresses through relays we know are dialled */
  isKnownRelay: (peerId: string) => boolean
  maxPeers: number
  stats: NetworkStats
}): DirectLinks {
  const { signal, stats } = opts
  const self = node.peerId.toString()
  const known = new Map<string, KnownPeer>()
  const dialling = new Set<string>()

  const isFresh = (k: KnownPeer | undefined): k is KnownPeer => k !== undefined && Date.now() - k.seenAt < PEER_TTL_MS
  const direct = (id: string): boolean => hasOpenConnection(node, id, 'webrtc')
  const count = (): number => new Set(node.getConnections().filter((c) => transportOf(c.remoteAddr) === 'webrtc').map((c) => c.remotePeer.toString())).size

  /** Addresses through a relay we are connected to first (no extra relay connection needed). */
  const ordered = (addrs: Multiaddr[]): Multiaddr[] => {
    const near = (a: Multiaddr): boolean => {
      const relay = relayIdOf(a)
      return relay !== undefined && hasOpenConnection(node, relay)
    }
    return [...addrs.filter(near), ...addrs.filter((a) => !near(a))]
  }

  const dialLoop = async (id: string): Promise<void> => {
    if (dialling.has(id)) return
    dialling.add(id)
    try {
      if (self > id) await sleep(FALLBACK_AFTER_MS, signal)
      for (let failures = 0; !signal.aborted; ) {
        const k = known.get(id)
        if (!isFresh(k) || direct(id) || count() >= opts.maxPeers) break
        const addrs = ordered(k.addrs)
        const addr = addrs[failures % addrs.length]!
        const started = Date.now()
        stats.dials.attempts++
        let stage = 'start' // the last progress event, to say where a failed dial stopped
        try {
          await node.dial(addr, {
            signal: AbortSignal.any([signal, AbortSignal.timeout(DIAL_TIMEOUT_MS)]),
            onProgress: (evt: { type: string }) => { stage = evt.type },
          })
          stats.dials.ok++
          stats.dialMs.push(Date.now() - started)
          if (stats.dialMs.length > MAX_DIAL_SAMPLES) stats.dialMs.shift()
          if (direct(id)) break
          // connected, but the link is gone already: back off before the next try
          await sleep(backoffMs(++failures, RETRY_MIN_MS, RETRY_MAX_MS), signal)
        } catch (err) {
          if (signal.aborted) break
          if (isTimeout(err)) stats.dials.timedOut++
          else stats.dials.failed++
          stats.dials.lastError = `${errorMessage(err)} (after ${stage})`
          failures++
          console.warn(`[p2p] WebRTC dial ${addr.toString()} failed (attempt ${failures}): ${stats.dials.lastError}`)
          if (/NO_RESERVATION/.test(errorMessage(err))) {
            // the relay has no such client (gone, or an old announcement): wait for a new announcement
            known.delete(id)
            break
          }
          await sleep(backoffMs(failures, RETRY_MIN_MS, RETRY_MAX_MS), signal)
        }
      }
    } finally {
      dialling.delete(id)
    }
  }

  const onClose = (evt: CustomEvent<{ remotePeer: { toString(): string }; remoteAddr: Multiaddr }>): void => {
    const id = evt.detail.remotePeer.toString()
    if (transportOf(evt.detail.remoteAddr) !== 'webrtc' || !isFresh(known.get(id))) return
    // let libp2p drop the closed connection from its list first
    setTimeout(() => { if (!direct(id)) void dialLoop(id) }, 0)
  }
  node.addEventListener('connection:close', onClose)
  signal.addEventListener('abort', () => node.removeEventListener('connection:close', onClose), { once: true })

  return {
    count,
    onAnnouncement(a) {
      if (a.kind !== 'peer' || a.peerId === self) return false
      const addrs = a.addrs.map((s) => multiaddr(s)).filter((ma) => {
        const relay = relayIdOf(ma)
        return relay !== undefined && relay !== self && opts.isKnownRelay(relay)
      })
      if (addrs.length === 0) return false
      const isNew = !isFresh(known.get(a.peerId))
      // forget peers that stopped announcing; past MAX_KNOWN_PEERS, ignore newcomers
      for (const [id, k] of known) if (!isFresh(k) && !dialling.has(id)) known.delete(id)
      if (!known.has(a.peerId) && known.size >= MAX_KNOWN_PEERS) return false
      known.set(a.peerId, { addrs, seenAt: Date.now() })
      if (!direct(a.peerId)) void dialLoop(a.peerId)
      return isNew
    },
  }
}
