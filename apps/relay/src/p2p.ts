/**
 * The relay's libp2p node (websockets listener, gossipsub hub, circuit-relay-v2 server for
 * later WebRTC signalling), and a Node client for tests and the benchmark.
 * Run under `node --import ./scripts/node-polyfills.mjs` (P2P-NOTES 1).
 * P2P-NOTES = /work/shared/P2P-NOTES.md.
 */
// Node 20 needs Promise.withResolvers and a global WebSocket (P2P-NOTES 1). Load it with
// `node --import` as well; importing it here too means a forgotten flag does not break the relay.
import '../../../scripts/node-polyfills.mjs'
import { circuitRelayServer, type CircuitRelayService } from '@libp2p/circuit-relay-v2'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { GossipSub } from '@libp2p/gossipsub'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import {
  baseLibp2pConfig,
  peerIdOf,
  startClientNode,
  wrapLibp2p,
  type BaseServices,
  type PubSubNetwork,
} from '../../web/src/p2p.js'

export type { PubSubNetwork, ConnectionInfo, TransportKind } from '../../web/src/p2p.js'
export { MAX_MESSAGE_BYTES } from '../../web/src/p2p.js'

/** Circuit-relay reservations (default 15, P2P-NOTES 8): one per tab. */
const MAX_RESERVATIONS = 128

export async function createRelayNetwork(opts: {
  host?: string
  port: number
  /** protobuf-marshalled libp2p private key (as returned in `privateKeyBytes`); generated (Ed25519) when absent */
  privateKey?: Uint8Array
  topics: string[]
}): Promise<PubSubNetwork & { privateKeyBytes: Uint8Array }> {
  const privateKey = opts.privateKey != null ? privateKeyFromProtobuf(opts.privateKey) : await generateKeyPair('Ed25519')
  const base = baseLibp2pConfig({
    // The relay is the hub of a star until tabs link directly: it must keep every subscriber in
    // its mesh. With the defaults (D 6, Dhi 12) it refuses GRAFTs beyond 12 peers and prunes
    // down to 6, so later tabs only get messages through the slower IHAVE/IWANT gossip.
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
  // a relay forwards only the topics it subscribes to (P2P-NOTES 6)
  for (const topic of opts.topics) node.services.pubsub.subscribe(topic)
  return Object.assign(wrapLibp2p(node), { privateKeyBytes: privateKeyToProtobuf(privateKey) })
}

/** Mesh peers of a topic. `getMeshPeers` exists on gossipsub's class but not on its exported interface. */
function meshPeers(pubsub: GossipSub, topic: string): string[] {
  const impl = pubsub as GossipSub & { getMeshPeers?: (topic: string) => string[] }
  return impl.getMeshPeers?.(topic) ?? pubsub.getSubscribers(topic).map((p) => p.toString())
}

/**
 * A Node client of the relay (tests, benchmark): the same node as a browser tab. Resolves once
 * connected and the relay is in our gossipsub mesh for every topic; throws after `timeoutMs`.
 */
export async function createNodeClientNetwork(opts: {
  /** /ip4/.../tcp/PORT/ws/p2p/RELAY_ID (the /p2p/ part is required) */
  relayAddr: string
  topics: string[]
  timeoutMs?: number
}): Promise<PubSubNetwork> {
  const timeoutMs = opts.timeoutMs ?? 10_000
  const relayAddr = multiaddr(opts.relayAddr)
  const relayId = peerIdOf(relayAddr)
  if (relayId == null) throw new Error(`relayAddr must end in /p2p/<relay peer id>: ${opts.relayAddr}`)

  const { node, network } = await startClientNode({ relayAddrs: [opts.relayAddr], topics: opts.topics })
  try {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const connected = node.getConnections().some((c) => c.remotePeer.toString() === relayId)
      const missing = opts.topics.filter((t) => !meshPeers(node.services.pubsub, t).includes(relayId))
      if (connected && missing.length === 0) break
      if (Date.now() > deadline) {
        throw new Error(
          connected
            ? `relay ${relayId} not in our gossipsub mesh for [${missing.join(', ')}] after ${timeoutMs} ms (does the relay subscribe to them?)`
            : `could not connect to the relay at ${opts.relayAddr} within ${timeoutMs} ms`,
        )
      }
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
    // Barrier: our GRAFT went out when the relay entered our mesh; one ping round trip on the
    // same connection makes sure the relay has received it before we return, so that a
    // message published right after this reaches us.
    await node.services.ping.ping(relayAddr, { signal: AbortSignal.timeout(timeoutMs) })
  } catch (err) {
    await network.stop()
    throw err
  }
  return network
}
