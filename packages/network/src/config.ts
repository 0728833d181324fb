/**
 * libp2p settings shared by the relays and the clients (they must match on both sides).
 * P2P-NOTES = /work/shared/P2P-NOTES.md.
 */
import { gossipsub, type GossipSub, type GossipsubOpts } from '@libp2p/gossipsub'
import { identify, type Identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { ping, type Ping } from '@libp2p/ping'
import { yamux } from '@libp2p/yamux'
import { sha256 } from '@noble/hashes/sha2.js'

/**
 * gossipsub's hard limit on one RPC frame: it-length-prefixed's default of 4 MiB, which
 * @libp2p/gossipsub 17.1.1 applies when SENDING with no option to change it (an over-long RPC
 * is dropped with only a log line, "Cannot send rpc ... Message length too long").
 * `maxInboundDataLength` only sets the receiving side, so it is set to the same value.
 * Yamux, websockets and WebRTC data channels need no change: writes are split into frames,
 * and gossipsub reads its streams without a read-buffer limit.
 */
export const MAX_RPC_BYTES = 4 * 1024 * 1024
/**
 * Largest application message `publish` accepts: the RPC limit less a margin for the
 * control messages and IHAVE gossip that gossipsub piggybacks on the same RPC.
 * (Block submissions carry ~1 MB of evidence.) Anything bigger must be split by the caller.
 */
export const MAX_MESSAGE_BYTES = MAX_RPC_BYTES - 256 * 1024

/** One WebRTC dial (signalling through a relay, ICE, DTLS, noise) must finish within this (P2P-NOTES 5, 9). */
export const DIAL_TIMEOUT_MS = 8_000

/** Services every node runs; the relay adds the circuit-relay server. */
export type BaseServices = { pubsub: GossipSub; identify: Identify; ping: Ping }

export function baseLibp2pConfig(pubsubOverrides: Partial<GossipsubOpts> = {}) {
  return {
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // P2P-NOTES 4: the default gater refuses ws:// and loopback/private addresses (in the browser).
    // This is a local testnet, so allow them; a public deployment should use wss:// and
    // restore the default (drop this line).
    connectionGater: { denyDialMultiaddr: () => false },
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
        // gossipsub's IP-colocation penalty turns a peer's score negative once more than 10 peers
        // share its IP, and then GRAFTs are refused (PRUNE, 60 s backoff): on the local testnet
        // every tab and relay is 127.0.0.1, so the 11th tab on a relay got no mesh at all.
        // Loopback is exempt; other addresses keep the default Sybil defence.
        scoreParams: { IPColocationFactorWhitelist: new Set(['127.0.0.1', '::1']) },
        ...pubsubOverrides,
      }),
    },
  }
}
