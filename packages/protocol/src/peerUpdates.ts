import { compareBytes, concatBytes } from './bytes.js'
import { TAGS, taggedHash } from './hash.js'

/**
 * Peer updates (paper 003, Algorithm 1 steps 3-4 and 20): the peers' IT_RES
 * messages a miner applies in one iteration. Float32 addition is not
 * associative, so every replica and verifier must apply them in one
 * canonical order: by the author's public key (bytewise), then by its
 * iteration. The list is identified by the hash of its messages' IT_RES
 * hashes in that order (the empty list has a hash too).
 */
export interface PeerUpdateRef {
  miner: Uint8Array
  iteration: number
  hash: Uint8Array // itResHash of the message bytes
}

export function comparePeerUpdates(a: PeerUpdateRef, b: PeerUpdateRef): number {
  return compareBytes(a.miner, b.miner) || a.iteration - b.iteration
}

/** Sorted copy in the canonical order. */
export function canonicalPeerUpdates<T extends PeerUpdateRef>(list: readonly T[]): T[] {
  return [...list].sort(comparePeerUpdates)
}

/** True when the list is strictly increasing in the canonical order (sorted, no duplicates). */
export function isCanonicalPeerUpdates(list: readonly PeerUpdateRef[]): boolean {
  for (let i = 1; i < list.length; i++) if (comparePeerUpdates(list[i - 1]!, list[i]!) >= 0) return false
  return true
}

/** hash(Delta(p)) of Table 1: the hash of the ordered list of applied peer messages. */
export function peerUpdatesHash(list: readonly PeerUpdateRef[]): Uint8Array {
  return taggedHash(TAGS.peerUpdates, concatBytes(...list.map((u) => u.hash)))
}
