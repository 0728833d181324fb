import { sha256 } from '@noble/hashes/sha2.js'
import { concatBytes } from './bytes.js'

/**
 * Domain-separated SHA-256, in the style of BIP-340 tagged hashes:
 *   H_tag(data) = SHA256( SHA256("pouw/" + tag) || SHA256("pouw/" + tag) || data )
 * Every kind of hashed object has its own tag, so a hash of one kind can
 * never be replayed as another.
 */
export const TAGS = {
  itres: 'itres',
  itresSig: 'itres-sig',
  verdictSig: 'verdict-sig',
  blockHeader: 'block-header',
  tx: 'tx',
  txSig: 'tx-sig',
  merkle: 'merkle',
  model: 'model',
  residual: 'residual',
  batch: 'batch',
  peerUpdates: 'peer-updates',
  noncePrecursor: 'nonce-precursor',
  nonce: 'nonce',
  task: 'task',
  dataset: 'dataset',
  seed: 'seed',
  taskJoin: 'task-join',
  epochRecord: 'epoch-record',
  epochProposal: 'epoch-proposal',
  supervisorHello: 'supervisor-hello',
  historyProposal: 'history-proposal',
  historyVote: 'history-vote',
  historyResult: 'history-result',
  historyShare: 'history-share',
  historySlot: 'history-slot',
  replaceLeader: 'replace-leader',
  replaceRequest: 'replace-request',
  dkgSession: 'dkg-session',
  dkgMessage: 'dkg-message',
  dkgShareKey: 'dkg-share-key',
  dkgShareMac: 'dkg-share-mac',
  dataPlan: 'data-plan',
  fragment: 'fragment',
  batchKey: 'batch-key',
  batchRing: 'batch-ring',
  minerRing: 'miner-ring',
  verifierChoice: 'verifier-choice',
  taskApplication: 'task-application',
  taskModel: 'task-model',
  taskReport: 'task-report',
  taskProgress: 'task-progress',
  evaluation: 'evaluation',
  verdictSeal: 'verdict-seal',
  verifierApproval: 'verifier-approval',
} as const
export type Tag = (typeof TAGS)[keyof typeof TAGS]

const encoder = new TextEncoder()
const prefixes = new Map<string, Uint8Array>()

function tagPrefix(tag: Tag): Uint8Array {
  let p = prefixes.get(tag)
  if (p === undefined) {
    const t = sha256(encoder.encode(`pouw/${tag}`))
    p = concatBytes(t, t)
    prefixes.set(tag, p)
  }
  return p
}

/** Reference implementation (@noble/hashes), synchronous. */
export function taggedHash(tag: Tag, ...parts: Uint8Array[]): Uint8Array {
  const h = sha256.create().update(tagPrefix(tag))
  for (const p of parts) h.update(p)
  return h.digest()
}

/**
 * A SHA-256 state that has already absorbed the tag prefix and `prefix`:
 * clone() it and feed the rest. Lets a miner hash many headers that differ
 * only after a fixed prefix without re-hashing that prefix.
 */
export function taggedHasher(tag: Tag, prefix: Uint8Array): ReturnType<typeof sha256.create> {
  return sha256.create().update(tagPrefix(tag)).update(prefix)
}

type Subtle = { digest(alg: string, data: Uint8Array): Promise<ArrayBuffer> }
function subtle(): Subtle | undefined {
  const c = (globalThis as { crypto?: { subtle?: Subtle } }).crypto
  return c?.subtle
}

/**
 * Same answer as taggedHash, through native WebCrypto when the platform has it
 * (several times faster for the ~0.4 MB model and residual vectors hashed every
 * iteration); noble otherwise. Tests check both agree.
 */
export async function taggedHashAsync(tag: Tag, ...parts: Uint8Array[]): Promise<Uint8Array> {
  const s = subtle()
  if (s === undefined) return taggedHash(tag, ...parts)
  const data = concatBytes(tagPrefix(tag), ...parts)
  return new Uint8Array(await s.digest('SHA-256', data))
}

/**
 * Merkle root over 32-byte leaves, nodes hashed with the 'merkle' tag.
 * An odd node at the end of a level is promoted unchanged (no Bitcoin-style
 * duplication, which allows two lists to share a root, CVE-2012-2459).
 * The root of an empty list is H_merkle() over nothing.
 */
export function merkleRoot(leaves: Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return taggedHash(TAGS.merkle)
  let level = leaves
  while (level.length > 1) {
    const next: Uint8Array[] = []
    for (let i = 0; i < level.length; i += 2) {
      next.push(i + 1 < level.length ? taggedHash(TAGS.merkle, level[i]!, level[i + 1]!) : level[i]!)
    }
    level = next
  }
  return level[0]!
}

export const ZERO_HASH = new Uint8Array(32)
