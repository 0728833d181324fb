/**
 * The relay's libp2p node (Node only): websockets listener, gossipsub hub, circuit-relay-v2
 * server (the signalling path for WebRTC between tabs), and one websocket link to every other
 * relay it knows, so that gossip crosses relays. It knows the relays in `peers`, and learns
 * more at runtime from their announcements (a relay believes a relay's announcement when it
 * comes from that relay, which must run a circuit-relay server, or is forwarded by one it knows).
 */
import { RELAY_V2_HOP_CODEC, circuitRelayServer, type CircuitRelayService } from '@libp2p/circuit-relay-v2'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { WebSockets } from '@multiformats/multiaddr-matcher'
import { setMaxListeners } from 'main-event'
import { createLibp2p } from 'libp2p'
import { startAnnouncer } from './announcer.js'
import { baseLibp2pConfig, type BaseServices } from './config.js'
import { RelayDirectory, keepConnected } from './relayLinks.js'
import { copyStats, emptyStats } from './client.js'
import type { PubSubNetwork, RelayInfo } from './types.js'
import { wrapLibp2p } from './wrap.js'

/** Circuit-relay reservations (default 15, P2P-NOTES 8): one per tab. */
const MAX_RESERVATIONS = 128
/** A relay re-announces itself this often. */
export const RELAY_ANNOUNCE_INTERVAL_MS = 5_000

export interface RelayNetworkOptions {
  host?: string
  port: number
  /** protobuf-marshalled libp2p private key (as returned in `privateKeyBytes`); generated (Ed25519) when absent */
  privateKey?: Uint8Array
  topics: string[]
  /** Other relays' multiaddrs, each ending in /p2p/<peer id>: kept connected, for one gossip mesh. */
  peers?: string[]
  /** Where this relay serves the page and API, announced to tabs and relays (e.g. http://127.0.0.1:8080/). */
  url?: string | null
}

export async function createRelayNetwork(opts: RelayNetworkOptions): Promise<PubSubNetwork & { privateKeyBytes: Uint8Array }> {
  const directory = new RelayDirectory()
  const configured = RelayDirectory.group(opts.peers ?? []) // throws early for an address without /p2p/
  const privateKey = opts.privateKey != null ? privateKeyFromProtobuf(opts.privateKey) : await generateKeyPair('Ed25519')
  const base = baseLibp2pConfig({
    // The relay is the hub of a star for everything that does not run over tab-to-tab links:
    // it must keep every subscriber in its mesh. With the defaults (D 6, Dhi 12) it refuses
    // GRAFTs beyond 12 peers and prunes down to 6, so later tabs only get messages through
    // the slower IHAVE/IWANT gossip.
    D: 128,
    Dlo: 64,
    Dhi: 256,
  })
  const node = await createLibp2p<BaseServices & { relay: CircuitRelayService }>({
    ...base,
    privateKey,
    addresses: { listen: [`/ip4/${opts.host ?? '127.0.0.1'}/tcp/${opts.port}/ws`] },
    transports: [webSockets()],
    services: {
      ...base.services,
      relay: circuitRelayServer({ reservations: { maxReservations: MAX_RESERVATIONS } }),
    },
    connectionManager: {
      // Every tab and benchmark client connects from 127.0.0.1: the default limit of 5 new
      // inbound connections per second per host would refuse a burst of them.
      inboundConnectionThreshold: 1_000,
      maxIncomingPendingConnections: 100,
      maxConnections: 1_000,
    },
  })
  const self = node.peerId.toString()
  // a relay forwards only the topics it subscribes to (P2P-NOTES 6)
  for (const topic of opts.topics) node.services.pubsub.subscribe(topic)

  const stop = new AbortController()
  setMaxListeners(Infinity, stop.signal) // one listener per dial or redial loop in flight
  const linkTo = (peerId: string): void => keepConnected(node, peerId, () => directory.addrs(peerId), stop.signal)
  for (const [peerId, addrs] of configured) {
    if (peerId === self) continue // a shared POUW_PEERS list may name this relay too
    directory.upsert(peerId, addrs)
    linkTo(peerId)
  }

  const speaksHop = async (peerId: string): Promise<boolean> => {
    try {
      return (await node.peerStore.get(peerIdFromString(peerId))).protocols.includes(RELAY_V2_HOP_CODEC)
    } catch {
      return false // not in the peer store
    }
  }
  const selfInfo = (): RelayInfo => ({
    peerId: self,
    addrs: node.getMultiaddrs().filter((a) => WebSockets.exactMatch(a)).map((a) => a.toString()),
    url: opts.url ?? null,
  })
  const announcer = startAnnouncer(node, {
    signal: stop.signal,
    intervalMs: RELAY_ANNOUNCE_INTERVAL_MS,
    self: () => ({ kind: 'relay', ...selfInfo() }),
    // A tab's announcement is forwarded as it is (the tabs judge it). A relay's is believed when a
    // relay we know forwards it, or first-hand from a peer that runs a circuit-relay server
    // (identify told us): a tab cannot make the relays, or other tabs, dial where it likes.
    believe: async (a, from) => a.kind === 'peer' || directory.has(from) || (from === a.peerId && (await speaksHop(from))),
    onAnnouncement: (a) => {
      if (a.kind !== 'relay') return
      if (directory.upsert(a.peerId, a.addrs.map((s) => multiaddr(s)), a.url)) {
        linkTo(a.peerId)
        announcer.soon() // let the newcomer learn about us (and the relays we know) quickly
      }
    },
  })

  const stats = emptyStats()
  const network = wrapLibp2p(node, {
    beforeStop: () => stop.abort(),
    relays: () => [selfInfo(), ...directory.list()],
    stats: () => copyStats(stats),
  })
  return Object.assign(network, { privateKeyBytes: privateKeyToProtobuf(privateKey) })
}
