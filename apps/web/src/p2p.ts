/**
 * The browser tab's libp2p node, behind a small transport-agnostic interface
 * (`PubSubNetwork`) so that the rest of the code never touches libp2p.
 *
 * This module must stay browser-safe (no node:* imports): apps/relay/src/p2p.ts
 * reuses its shared pieces (gossipsub settings, the wrapper, the client node).
 * P2P-NOTES = /work/shared/P2P-NOTES.md.
 */
import { gossipsub, type GossipSub, type GossipsubMessage, type GossipsubOpts } from '@libp2p/gossipsub'
import { identify, type Identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { ping, type Ping } from '@libp2p/ping'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { sha256 } from '@noble/hashes/sha2.js'
import { createLibp2p, type Libp2p } from 'libp2p'

type PeerId = Libp2p['peerId'] // avoids a direct dependency on @libp2p/interface

export type TransportKind = 'websockets' | 'webrtc' | 'circuit' | 'other'

export interface ConnectionInfo {
  peerId: string
  addr: string
  direct: boolean
  transport: TransportKind
}

export interface PubSubNetwork {
  readonly peerId: string
  /** multiaddrs others can dial (relay: /ip4/127.0.0.1/tcp/PORT/ws/p2p/ID) */
  addrs(): string[]
  subscribe(topic: string): void
  /** Never throws for "no peers" or for a duplicate; throws RangeError above MAX_MESSAGE_BYTES. */
  publish(topic: string, data: Uint8Array): Promise<void>
  /**
   * `from` is the peer that handed us the message (gossipsub's propagation source),
   * not necessarily its author: messages are unsigned at this layer (StrictNoSign).
   * Handler errors (sync or async) are caught and logged.
   */
  onMessage(handler: (topic: string, data: Uint8Array, from: string) => void): () => void
  connections(): ConnectionInfo[]
  onConnectionChange(handler: () => void): () => void
  stop(): Promise<void>
}

/**
 * gossipsub's hard limit on one RPC frame: it-length-prefixed's default of 4 MiB, which
 * @libp2p/gossipsub 17.1.1 applies when SENDING with no option to change it (an over-long RPC
 * is dropped with only a log line, "Cannot send rpc ... Message length too long").
 * `maxInboundDataLength` only sets the receiving side, so it is set to the same value.
 * Yamux and websockets need no change: writes are split into 64 KiB frames, and gossipsub
 * reads its streams without a read-buffer limit.
 */
export const MAX_RPC_BYTES = 4 * 1024 * 1024
/**
 * Largest application message `publish` accepts: the RPC limit less a margin for the
 * control messages and IHAVE gossip that gossipsub piggybacks on the same RPC.
 * (Block submissions carry ~1 MB of evidence.) Anything bigger must be split by the caller.
 */
export const MAX_MESSAGE_BYTES = MAX_RPC_BYTES - 256 * 1024

/** @internal Services every node runs; apps/relay adds the circuit-relay server. */
export type BaseServices = { pubsub: GossipSub; identify: Identify; ping: Ping }

/** @internal Shared libp2p settings for the relay and all clients (must match on both sides). */
export function baseLibp2pConfig(pubsubOverrides: Partial<GossipsubOpts> = {}) {
  return {
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipsub({
        // Our application messages carry their own Ed25519 signatures (P2P-NOTES 7), so no
        // per-message libp2p signature: ids must then come from the data alone.
        globalSignaturePolicy: 'StrictNoSign',
        msgIdFn: (msg) => sha256(msg.data),
        allowPublishToZeroTopicPeers: true, // P2P-NOTES 6
        ignoreDuplicatePublishError: true, // same data = same id; re-publishing is a no-op
        maxInboundDataLength: MAX_RPC_BYTES,
        ...pubsubOverrides,
      }),
    },
  }
}

export function transportOf(addr: Multiaddr): TransportKind {
  const names = addr.getComponents().map((c) => c.name)
  // order matters: a WebRTC address obtained through a relay also contains p2p-circuit
  if (names.includes('webrtc') || names.includes('webrtc-direct')) return 'webrtc'
  if (names.includes('p2p-circuit')) return 'circuit'
  if (names.includes('ws') || names.includes('wss')) return 'websockets'
  return 'other'
}

function logError(what: string, err: unknown): void {
  // a failed websocket dial rejects with an ErrorEvent (not an Error): print its message only
  const detail = err instanceof Error ? err : (err as { message?: unknown } | null)?.message ?? err
  console.error(`[p2p] ${what}:`, detail)
}

/** Runs a user callback; a throw or a rejected promise is logged, never propagated. */
function safeCall(what: string, fn: () => unknown): void {
  try {
    const result = fn()
    if (result instanceof Promise) result.catch((err: unknown) => logError(what, err))
  } catch (err) {
    logError(what, err)
  }
}

/** @internal Wraps a started libp2p node. `beforeStop` runs first (e.g. to end dial loops). */
export function wrapLibp2p(node: Libp2p<BaseServices>, beforeStop?: () => void): PubSubNetwork {
  const pubsub = node.services.pubsub
  let stopping: Promise<void> | undefined

  return {
    peerId: node.peerId.toString(),
    addrs: () => node.getMultiaddrs().map((a) => a.toString()),
    subscribe: (topic) => pubsub.subscribe(topic),

    async publish(topic, data) {
      if (data.byteLength > MAX_MESSAGE_BYTES) {
        throw new RangeError(`message of ${data.byteLength} bytes exceeds MAX_MESSAGE_BYTES (${MAX_MESSAGE_BYTES})`)
      }
      try {
        await pubsub.publish(topic, data)
      } catch (err) {
        // cannot happen with allowPublishToZeroTopicPeers, but the contract is "never throws for no peers"
        if (err instanceof Error && err.message.includes('NoPeersSubscribedToTopic')) return
        throw err
      }
    },

    onMessage(handler) {
      // 'gossipsub:message' (unlike 'message') tells who forwarded it; it fires only for
      // messages received from the network, after validation and de-duplication.
      const listener = (evt: CustomEvent<GossipsubMessage>): void => {
        const { propagationSource, msg } = evt.detail
        safeCall(`message handler (topic ${msg.topic})`, () => handler(msg.topic, msg.data, propagationSource.toString()))
      }
      pubsub.addEventListener('gossipsub:message', listener)
      return () => pubsub.removeEventListener('gossipsub:message', listener)
    },

    connections: () =>
      node.getConnections().map((c) => ({
        peerId: c.remotePeer.toString(),
        addr: c.remoteAddr.toString(),
        direct: c.direct,
        transport: transportOf(c.remoteAddr),
      })),

    onConnectionChange(handler) {
      const listener = (): void => safeCall('connection-change handler', handler)
      node.addEventListener('connection:open', listener)
      node.addEventListener('connection:close', listener)
      return () => {
        node.removeEventListener('connection:open', listener)
        node.removeEventListener('connection:close', listener)
      }
    },

    stop() {
      stopping ??= (async () => {
        beforeStop?.()
        await node.stop()
      })()
      return stopping
    },
  }
}

const REDIAL_MIN_MS = 250
const REDIAL_MAX_MS = 2_000
const DIAL_TIMEOUT_MS = 8_000

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
    function done(): void {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
  })
}

/** The peer id in a multiaddr's trailing /p2p/ component, if any. */
export function peerIdOf(addr: Multiaddr): string | undefined {
  return addr.getComponents().filter((c) => c.name === 'p2p').pop()?.value
}

/**
 * Keeps one connection to `addr` open: dials now, and again with backoff
 * (250 ms doubling to at most 2 s between attempts) whenever the peer disconnects.
 */
function keepConnected(node: Libp2p<BaseServices>, addr: Multiaddr, signal: AbortSignal): void {
  let remote = peerIdOf(addr) // learnt from the first connection when the address has no /p2p/
  let running = false
  const connected = (): boolean =>
    remote != null && node.getConnections().some((c) => c.remotePeer.toString() === remote)

  const loop = async (): Promise<void> => {
    if (running) return
    running = true
    try {
      for (let attempt = 0; !signal.aborted && !connected(); attempt++) {
        if (attempt > 0) await sleep(Math.min(REDIAL_MIN_MS * 2 ** (attempt - 1), REDIAL_MAX_MS), signal)
        if (signal.aborted) break
        try {
          const conn = await node.dial(addr, { signal: AbortSignal.any([signal, AbortSignal.timeout(DIAL_TIMEOUT_MS)]) })
          remote = conn.remotePeer.toString()
        } catch (err) {
          if (!signal.aborted && attempt % 10 === 0) logError(`dial ${addr.toString()} failed (attempt ${attempt + 1}), retrying`, err)
        }
      }
    } finally {
      running = false
    }
  }

  const onDisconnect = (evt: CustomEvent<PeerId>): void => {
    if (evt.detail.toString() === remote) void loop()
  }
  node.addEventListener('peer:disconnect', onDisconnect)
  signal.addEventListener('abort', () => node.removeEventListener('peer:disconnect', onDisconnect), { once: true })
  void loop()
}

/**
 * @internal A client node (browser tab, or Node via scripts/node-polyfills.mjs) that keeps a
 * websocket connection to each relay. Returns at once; the dials run in the background.
 */
export async function startClientNode(opts: { relayAddrs: string[]; topics: string[] }): Promise<{ node: Libp2p<BaseServices>; network: PubSubNetwork }> {
  const relayAddrs = opts.relayAddrs.map((a) => multiaddr(a))
  const node = await createLibp2p<BaseServices>({
    ...baseLibp2pConfig(),
    addresses: { listen: [] },
    transports: [webSockets()],
    // P2P-NOTES 4: the browser's default gater refuses ws:// and loopback/private addresses.
    // This is a local testnet, so allow them; a public deployment should use wss:// and
    // restore the default (drop this line).
    connectionGater: { denyDialMultiaddr: () => false },
    // WebRTC (@libp2p/webrtc + circuit-relay transport, rtcConfiguration { iceServers: [] },
    // P2P-NOTES 2, 3, 5, 6) comes with the multi-tab issue: it needs peer discovery and a
    // dial policy as well, and cannot be verified without a browser.
  })
  for (const topic of opts.topics) node.services.pubsub.subscribe(topic)

  const dials = new AbortController()
  for (const addr of relayAddrs) keepConnected(node, addr, dials.signal)
  return { node, network: wrapLibp2p(node, () => dials.abort()) }
}

/**
 * The tab's network: dials the relays over websockets and redials if a link drops.
 * Resolves as soon as the node runs (connections come in the background: watch
 * `onConnectionChange`); publishing before then is allowed and reaches no one.
 */
export async function createBrowserNetwork(opts: { relayAddrs: string[]; topics: string[] }): Promise<PubSubNetwork> {
  return (await startClientNode(opts)).network
}
