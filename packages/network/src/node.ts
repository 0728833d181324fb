/**
 * @pouw/network/node: the Node-only side (the relay node, and a Node client for tests and the
 * benchmark). Run under `node --import ./scripts/node-polyfills.mjs` (P2P-NOTES 1); importing
 * this module loads the polyfills too, so that a forgotten flag does not break a relay.
 */
import './polyfills.mjs'
import type { GossipSub } from '@libp2p/gossipsub'
import { multiaddr } from '@multiformats/multiaddr'
import { startClientNode } from './client.js'
import type { PubSubNetwork } from './types.js'
import { peerIdOf } from './util.js'

export * from './index.js'
export { createRelayNetwork, RELAY_ANNOUNCE_INTERVAL_MS, type RelayNetworkOptions } from './relayNode.js'

/** Mesh peers of a topic. `getMeshPeers` exists on gossipsub's class but not on its exported interface. */
function meshPeers(pubsub: GossipSub, topic: string): string[] {
  const impl = pubsub as GossipSub & { getMeshPeers?: (topic: string) => string[] }
  return impl.getMeshPeers?.(topic) ?? pubsub.getSubscribers(topic).map((p) => p.toString())
}

/**
 * A Node client of the relays (tests, benchmark): the same node as a browser tab. Resolves once
 * connected to a relay that is in our gossipsub mesh for every topic; throws after `timeoutMs`.
 * WebRTC is off unless asked for (node-datachannel, bound to 127.0.0.1: P2P-NOTES 3).
 */
export async function createNodeClientNetwork(opts: {
  /** /ip4/.../tcp/PORT/ws/p2p/RELAY_ID (the /p2p/ part is required): the preferred relay */
  relayAddr: string
  /** more relays to fail over to */
  relayAddrs?: string[]
  topics: string[]
  /** the topics to wait for the relay to join our mesh in (default: all of `topics`) */
  relayTopics?: string[]
  timeoutMs?: number
  webrtc?: boolean
}): Promise<PubSubNetwork> {
  const timeoutMs = opts.timeoutMs ?? 10_000
  const relayTopics = opts.relayTopics ?? opts.topics
  const relayAddr = multiaddr(opts.relayAddr)
  if (peerIdOf(relayAddr) == null) throw new Error(`relayAddr must end in /p2p/<relay peer id>: ${opts.relayAddr}`)

  const { node, network } = await startClientNode({
    relayAddrs: [opts.relayAddr, ...(opts.relayAddrs ?? [])],
    topics: opts.topics,
    webrtc: opts.webrtc ?? false,
    // node-datachannel gathers no candidate on a loopback-only host unless bound to it
    rtcConfiguration: { iceServers: [], bindAddress: '127.0.0.1' } as RTCConfiguration,
  })
  try {
    const deadline = Date.now() + timeoutMs
    let ready: string | undefined
    for (;;) {
      const relays = new Set(network.relays().map((r) => r.peerId))
      const connected = node.getConnections().filter((c) => c.limits == null && relays.has(c.remotePeer.toString())).map((c) => c.remotePeer.toString())
      ready = connected.find((id) => relayTopics.every((t) => meshPeers(node.services.pubsub, t).includes(id)))
      if (ready !== undefined) break
      if (Date.now() > deadline) {
        throw new Error(
          connected.length > 0
            ? `relay ${connected[0]} not in our gossipsub mesh for [${relayTopics.join(', ')}] after ${timeoutMs} ms (does the relay subscribe to them?)`
            : `could not connect to the relay at ${opts.relayAddr} within ${timeoutMs} ms`,
        )
      }
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
    // Barrier: our GRAFT went out when the relay entered our mesh; one ping round trip on the
    // same connection makes sure the relay has received it before we return, so that a
    // message published right after this reaches us.
    const conn = node.getConnections().find((c) => c.limits == null && c.remotePeer.toString() === ready)
    if (conn) await node.services.ping.ping(conn.remotePeer, { signal: AbortSignal.timeout(timeoutMs) })
  } catch (err) {
    await network.stop()
    throw err
  }
  return network
}
