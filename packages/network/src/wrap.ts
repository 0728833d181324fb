import type { GossipsubMessage } from '@libp2p/gossipsub'
import type { Libp2p } from 'libp2p'
import { ANNOUNCE_TOPIC } from './announcement.js'
import { MAX_MESSAGE_BYTES, type BaseServices } from './config.js'
import type { NetworkStats, PubSubNetwork, RelayInfo } from './types.js'
import { safeCall, transportOf } from './util.js'

export interface WrapOptions {
  /** runs first in stop() (e.g. to end dial loops) */
  beforeStop?: () => void
  relays: () => RelayInfo[]
  stats: () => NetworkStats
}

/** @internal Wraps a started libp2p node behind PubSubNetwork. */
export function wrapLibp2p(node: Libp2p<BaseServices>, opts: WrapOptions): PubSubNetwork {
  const pubsub = node.services.pubsub
  let stopping: Promise<void> | undefined
  const relayIds = (): Set<string> => new Set(opts.relays().map((r) => r.peerId))

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
        if (msg.topic === ANNOUNCE_TOPIC) return
        safeCall(`message handler (topic ${msg.topic})`, () => handler(msg.topic, msg.data, propagationSource.toString()))
      }
      pubsub.addEventListener('gossipsub:message', listener)
      return () => pubsub.removeEventListener('gossipsub:message', listener)
    },

    connections() {
      const relays = relayIds()
      return node.getConnections().map((c) => ({
        peerId: c.remotePeer.toString(),
        addr: c.remoteAddr.toString(),
        direct: c.direct,
        transport: transportOf(c.remoteAddr),
        relay: relays.has(c.remotePeer.toString()),
      }))
    },

    onConnectionChange(handler) {
      const listener = (): void => safeCall('connection-change handler', handler)
      node.addEventListener('connection:open', listener)
      node.addEventListener('connection:close', listener)
      return () => {
        node.removeEventListener('connection:open', listener)
        node.removeEventListener('connection:close', listener)
      }
    },

    relays: opts.relays,
    stats: opts.stats,

    gossipPeers() {
      // these members exist on gossipsub's class but not on its exported interface
      const impl = pubsub as unknown as {
        peers: Map<string, unknown>; streamsOutbound: Map<string, unknown>; streamsInbound: Map<string, unknown>
        getScore(id: string): number; getMeshPeers(topic: string): string[]
      }
      const meshes = pubsub.getTopics().map((t) => [t, new Set(impl.getMeshPeers(t))] as const)
      return [...impl.peers.keys()].map((peerId) => ({
        peerId,
        score: impl.getScore(peerId),
        outbound: impl.streamsOutbound.has(peerId),
        inbound: impl.streamsInbound.has(peerId),
        mesh: meshes.filter(([, peers]) => peers.has(peerId)).map(([t]) => t),
      }))
    },

    stop() {
      stopping ??= (async () => {
        opts.beforeStop?.()
        await node.stop()
      })()
      return stopping
    },
  }
}
