/**
 * A client node: a browser tab, or a Node process (tests, benchmark) through node.ts.
 * It keeps a websocket link to one relay (failing over to the others it knows), holds a
 * circuit-relay reservation there, listens on /webrtc, announces its
 * `/p2p-circuit/webrtc/p2p/<id>` addresses, and opens direct WebRTC links to the other
 * clients it hears of. Gossip between clients runs over those links only: gossipsub does not
 * use limited (relayed) connections.
 */
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { WebRTC } from '@multiformats/multiaddr-matcher'
import { setMaxListeners } from 'main-event'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { Announcement } from './announcement.js'
import { startAnnouncer } from './announcer.js'
import { baseLibp2pConfig, type BaseServices } from './config.js'
import { maintainDirectLinks } from './directLinks.js'
import { RelayDirectory, maintainRelayLinks } from './relayLinks.js'
import type { NetworkStats, PubSubNetwork } from './types.js'
import { relayIdOf, transportOf } from './util.js'
import { wrapLibp2p } from './wrap.js'

/** A client re-announces its addresses this often (and at once when they change or a new peer appears). */
export const CLIENT_ANNOUNCE_INTERVAL_MS = 10_000
const DEFAULT_MAX_DIRECT_PEERS = 32

export interface ClientNetworkOptions {
  /** Every relay's multiaddrs, each ending in /p2p/<relay id>; the first relay is preferred. More are learnt from announcements. */
  relayAddrs: string[]
  topics: string[]
  /** Reserve a relay slot, listen on /webrtc and link directly to other clients (default true). */
  webrtc?: boolean
  /**
   * Passed to every RTCPeerConnection. Default `{ iceServers: [] }`: the local testnet needs no
   * STUN (P2P-NOTES 3); a public deployment passes its STUN/TURN servers here.
   */
  rtcConfiguration?: RTCConfiguration
  /** How many relays to stay connected to at once (default 1). */
  relayLinks?: number
  /** Stop dialling new WebRTC peers beyond this many (default 32). */
  maxDirectPeers?: number
}

export function emptyStats(): NetworkStats {
  return {
    startedAt: Date.now(), firstDirectAt: null, dials: { attempts: 0, ok: 0, failed: 0, timedOut: 0, lastError: null },
    dialMs: [], reservations: 0, lastReservationAt: null, reservedOn: [],
  }
}

export function copyStats(s: NetworkStats): NetworkStats {
  return { ...s, dials: { ...s.dials }, dialMs: [...s.dialMs], reservedOn: [...s.reservedOn] }
}

/** @internal Starts a client node; returns at once, the links come up in the background. */
export async function startClientNode(opts: ClientNetworkOptions): Promise<{ node: Libp2p<BaseServices>; network: PubSubNetwork }> {
  const directory = new RelayDirectory()
  for (const [id, addrs] of RelayDirectory.group(opts.relayAddrs)) directory.upsert(id, addrs)
  const webrtc = opts.webrtc ?? true
  const stats = emptyStats()

  const node = await createLibp2p<BaseServices>({
    ...baseLibp2pConfig(),
    // '/p2p-circuit': make a reservation on a relay we are connected to (and on another one when
    // that relay goes); '/webrtc': accept WebRTC connections signalled through it.
    addresses: { listen: webrtc ? ['/p2p-circuit', '/webrtc'] : [] },
    transports: webrtc
      ? [webSockets(), webRTC({ rtcConfiguration: opts.rtcConfiguration ?? { iceServers: [] } }), circuitRelayTransport()]
      : [webSockets()],
  })
  for (const topic of opts.topics) node.services.pubsub.subscribe(topic)

  const stop = new AbortController()
  const signal = stop.signal
  setMaxListeners(Infinity, stop.signal) // one listener per dial or redial loop in flight
  const relayLinks = maintainRelayLinks(node, directory, { target: opts.relayLinks ?? 1, signal })
  const directLinks = webrtc
    ? maintainDirectLinks(node, { signal, isKnownRelay: (id) => directory.has(id), maxPeers: opts.maxDirectPeers ?? DEFAULT_MAX_DIRECT_PEERS, stats })
    : undefined

  const announcer = startAnnouncer(node, {
    signal,
    intervalMs: CLIENT_ANNOUNCE_INTERVAL_MS,
    self: () => {
      const addrs = node.getMultiaddrs().filter((a) => WebRTC.exactMatch(a)).map((a) => a.toString())
      return addrs.length === 0 ? null : { kind: 'peer', peerId: node.peerId.toString(), addrs, url: null }
    },
    // a relay's announcement only from a relay we know (first-hand or forwarded by it); a tab's from anyone
    believe: (a: Announcement, from: string) => a.kind === 'peer' || directory.has(from),
    onAnnouncement: (a: Announcement) => {
      if (a.kind === 'relay') {
        if (directory.upsert(a.peerId, a.addrs.map((s) => multiaddr(s)), a.url)) relayLinks.check()
      } else if (directLinks?.onAnnouncement(a) === true) {
        announcer.soon() // a newcomer: tell it about us without waiting for the next round
      }
    },
  })

  const onSelfUpdate = (): void => {
    const reservedOn = [...new Set(node.getMultiaddrs().map((a) => relayIdOf(a)).filter((id) => id !== undefined))]
    if (reservedOn.some((id) => !stats.reservedOn.includes(id))) {
      stats.reservations++
      stats.lastReservationAt = Date.now()
    }
    stats.reservedOn = reservedOn
    announcer.soon()
  }
  const onOpen = (evt: CustomEvent<{ remoteAddr: Parameters<typeof transportOf>[0] }>): void => {
    if (stats.firstDirectAt === null && transportOf(evt.detail.remoteAddr) === 'webrtc') stats.firstDirectAt = Date.now()
  }
  // 'transport:listening' comes at once when a reservation is made or lost; 'self:peer:update' a second later
  node.addEventListener('transport:listening', onSelfUpdate)
  node.addEventListener('self:peer:update', onSelfUpdate)
  node.addEventListener('connection:open', onOpen)
  signal.addEventListener('abort', () => {
    node.removeEventListener('transport:listening', onSelfUpdate)
    node.removeEventListener('self:peer:update', onSelfUpdate)
    node.removeEventListener('connection:open', onOpen)
  }, { once: true })

  const network = wrapLibp2p(node, {
    beforeStop: () => stop.abort(),
    relays: () => directory.list(),
    stats: () => copyStats(stats),
  })
  return { node, network }
}

/**
 * The tab's network: dials the relays over websockets, fails over and redials if a link
 * drops, and links directly to other tabs over WebRTC. Resolves as soon as the node runs
 * (connections come in the background: watch `onConnectionChange`); publishing before then
 * is allowed and reaches no one.
 */
export async function createBrowserNetwork(opts: ClientNetworkOptions): Promise<PubSubNetwork> {
  return (await startClientNode(opts)).network
}
