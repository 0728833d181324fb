/**
 * @pouw/network: the libp2p layer behind a small transport-agnostic interface (PubSubNetwork),
 * so that the rest of the code never touches libp2p. This entry point is browser-safe (no
 * node:* imports); the relay node and the Node test client are in ./node.ts.
 * P2P-NOTES = /work/shared/P2P-NOTES.md.
 */
export type { ConnectionInfo, GossipPeerInfo, NetworkStats, PubSubNetwork, RelayInfo, TransportKind } from './types.js'
export { DIAL_TIMEOUT_MS, MAX_MESSAGE_BYTES, MAX_RPC_BYTES } from './config.js'
export {
  ANNOUNCE_TOPIC, MAX_ANNOUNCEMENT_BYTES, NetworkError, announcementFromBytes, announcementToBytes, isNetworkError,
  type Announcement, type NetworkErrorCode,
} from './announcement.js'
export { CLIENT_ANNOUNCE_INTERVAL_MS, createBrowserNetwork, type ClientNetworkOptions } from './client.js'
export { peerIdOf, relayIdOf, transportOf } from './util.js'
export { ItResDelivery, postToSupervisors, type DeliveryOptions, type DeliveryStats } from './delivery.js'
