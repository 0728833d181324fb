/**
 * The network as the rest of the code sees it: publish/subscribe on topics, and what the
 * node is connected to. Nothing here mentions libp2p.
 */

export type TransportKind = 'websockets' | 'webrtc' | 'circuit' | 'other'

export interface ConnectionInfo {
  peerId: string
  addr: string
  /** false for a connection relayed through a third peer (circuit relay) */
  direct: boolean
  transport: TransportKind
  /** the remote peer is one of the relays we know of */
  relay: boolean
}

/** A relay of the testnet: where to dial it (libp2p) and where it serves its page and API (HTTP). */
export interface RelayInfo {
  peerId: string
  /** e.g. /ip4/127.0.0.1/tcp/PORT/ws/p2p/ID */
  addrs: string[]
  /** e.g. http://127.0.0.1:8080/ ; null until the relay has announced itself */
  url: string | null
}

/** Counters for the report and the tests: outgoing WebRTC dials, first direct link, reservations. */
export interface NetworkStats {
  /** Date.now() when the node started */
  startedAt: number
  /** Date.now() when the first direct (WebRTC) connection opened, either direction */
  firstDirectAt: number | null
  /** outgoing WebRTC dials: every attempt counts, retries included */
  dials: { attempts: number; ok: number; failed: number; timedOut: number; lastError: string | null }
  /** durations of the last successful WebRTC dials, ms (at most 100) */
  dialMs: number[]
  /** circuit-relay reservations obtained (a new relay address appeared among our own) */
  reservations: number
  /** Date.now() of the latest reservation */
  lastReservationAt: number | null
  /** peer ids of the relays we hold a reservation on now */
  reservedOn: string[]
}

export interface PubSubNetwork {
  readonly peerId: string
  /** multiaddrs others can dial (relay: /ip4/127.0.0.1/tcp/PORT/ws/p2p/ID; tab: .../p2p-circuit/webrtc/p2p/ID) */
  addrs(): string[]
  subscribe(topic: string): void
  /** Never throws for "no peers" or for a duplicate; throws RangeError above MAX_MESSAGE_BYTES. */
  publish(topic: string, data: Uint8Array): Promise<void>
  /**
   * `from` is the peer that handed us the message (gossipsub's propagation source),
   * not necessarily its author: messages are unsigned at this layer (StrictNoSign).
   * Handler errors (sync or async) are caught and logged. The network's own topic
   * (peer and relay announcements) is not passed to handlers.
   */
  onMessage(handler: (topic: string, data: Uint8Array, from: string) => void): () => void
  connections(): ConnectionInfo[]
  onConnectionChange(handler: () => void): () => void
  /** Relays we know of; a relay lists itself first. */
  relays(): RelayInfo[]
  stats(): NetworkStats
  /** Gossip's view of each peer it knows: score, streams, the topics whose mesh holds it. */
  gossipPeers(): GossipPeerInfo[]
  stop(): Promise<void>
}

/** One peer as gossipsub sees it (for health logs and the tests). */
export interface GossipPeerInfo {
  peerId: string
  /** gossipsub's peer score: below -80 (graylist) every RPC from the peer is dropped */
  score: number
  /** we hold an open stream to send to it / to read from it */
  outbound: boolean
  inbound: boolean
  /** topics whose mesh contains the peer */
  mesh: string[]
}
