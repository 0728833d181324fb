import { Reader, Writer, bigIntToBytes, bytesToBigInt } from './bytes.js'
import { protocolError } from './errors.js'
import { TAGS, ZERO_HASH, merkleRoot, taggedHash } from './hash.js'
import { MAX_TX_BYTES, txFromBytes, txHash, txToBytes, type Tx } from './tx.js'

export const BLOCK_VERSION = 1
export const HEADER_SIZE = 4 + 32 + 32 + 4 + 4 + 32 + 32 + 32
/** byte offset of the nonce inside an encoded header (the miner rewrites it in place) */
export const NONCE_OFFSET = 4 + 32 + 32 + 4 + 4

/**
 * Block header with the PoUW fields of paper 003, Fig. 6: a 32-byte nonce,
 * hashMsg (hash of the lucky IT_RES) and hashMsgHist (Merkle root of the
 * message-history slot: the miner's IT_RES hashes from the commitment
 * iteration to the lucky one).
 */
export interface BlockHeader {
  version: number // u32
  prevHash: Uint8Array
  merkleRoot: Uint8Array
  time: number // u32 UNIX seconds
  bits: number // u32 compact target, as Bitcoin's nBits
  nonce: Uint8Array // 32 bytes
  hashMsg: Uint8Array
  hashMsgHist: Uint8Array
}

/** One block's time and compact bits: what difficulty adjustment reads from each ancestor. */
export interface BlockTiming {
  /** u32 UNIX seconds from the header */
  time: number
  /** compact target from the header */
  bits: number
}

/**
 * How many blocks' timings, the parent last, the difficulty rule reads
 * (ledger difficulty.ts); a verdict carries its tip's window of this size.
 */
export const DIFFICULTY_WINDOW = 4

/** The difficulty rule's parameters (ledger difficulty.ts computeNextBits). */
export interface DifficultyParams {
  /** T, the block time to hold, seconds */
  targetSpacing: number
  /** seconds of delay that double the target (halve the difficulty) */
  halfLife: number
  /** the solve time is clamped to T ± this, seconds: bounds one block's change */
  maxSolveDeviation: number
  /** the easiest target allowed, compact */
  powLimitBits: number
}

/** The timing window of a block: its parent's window with the block appended, cut to the last DIFFICULTY_WINDOW. */
export function extendWindow<T>(window: readonly T[], block: T): T[] {
  return [...window, block].slice(-DIFFICULTY_WINDOW)
}

export function headerToBytes(h: BlockHeader): Uint8Array {
  return new Writer()
    .u32(h.version).fixed(h.prevHash, 32).fixed(h.merkleRoot, 32).u32(h.time).u32(h.bits)
    .fixed(h.nonce, 32).fixed(h.hashMsg, 32).fixed(h.hashMsgHist, 32)
    .finish()
}

export function headerFromBytes(bytes: Uint8Array): BlockHeader {
  if (bytes.length !== HEADER_SIZE) throw protocolError('BAD_VALUE', `block header is ${bytes.length} bytes, expected ${HEADER_SIZE}`)
  const r = new Reader(bytes, 'block header')
  const h: BlockHeader = {
    version: r.u32('version'),
    prevHash: r.bytes(32, 'prevHash'),
    merkleRoot: r.bytes(32, 'merkleRoot'),
    time: r.u32('time'),
    bits: r.u32('bits'),
    nonce: r.bytes(32, 'nonce'),
    hashMsg: r.bytes(32, 'hashMsg'),
    hashMsgHist: r.bytes(32, 'hashMsgHist'),
  }
  r.end()
  if (h.version !== BLOCK_VERSION) throw protocolError('BAD_VERSION', `block version ${h.version}, expected ${BLOCK_VERSION}`)
  return h
}

export function headerHashFromBytes(headerBytes: Uint8Array): Uint8Array {
  return taggedHash(TAGS.blockHeader, headerBytes)
}

export function headerHash(h: BlockHeader): Uint8Array {
  return headerHashFromBytes(headerToBytes(h))
}

/** The zero-nonce block (ZNB) a miner commits to k iterations ahead: nonce and PoUW fields zeroed. */
export function zeroNonceHeader(h: BlockHeader): BlockHeader {
  return { ...h, nonce: ZERO_HASH, hashMsg: ZERO_HASH, hashMsgHist: ZERO_HASH }
}

export function zeroNonceHash(h: BlockHeader): Uint8Array {
  return headerHash(zeroNonceHeader(h))
}

// ---- targets (Bitcoin's compact nBits) ----

/** Decode compact bits into a 256-bit target. Throws PROTOCOL_BAD_VALUE for negative or overflowing encodings. */
export function targetFromBits(bits: number): bigint {
  const exponent = bits >>> 24
  const mantissa = bits & 0x007f_ffff
  const target = exponent <= 3 ? BigInt(mantissa >>> (8 * (3 - exponent))) : BigInt(mantissa) << BigInt(8 * (exponent - 3))
  // as Bitcoin's SetCompact: negative only when the sign bit is set and the shifted word is not zero
  if ((bits & 0x0080_0000) !== 0 && target !== 0n) throw protocolError('BAD_VALUE', `bits 0x${bits.toString(16)} encode a negative target`)
  if (target >= 1n << 256n) throw protocolError('BAD_VALUE', `bits 0x${bits.toString(16)} overflow 256 bits`)
  return target
}

/** Encode a target as compact bits (rounding down, as Bitcoin's GetCompact). */
export function bitsFromTarget(target: bigint): number {
  if (target <= 0n) return 0
  let size = 0
  for (let t = target; t > 0n; t >>= 8n) size++
  let mantissa = size <= 3 ? Number(target << BigInt(8 * (3 - size))) : Number(target >> BigInt(8 * (size - 3)))
  if ((mantissa & 0x0080_0000) !== 0) { mantissa >>>= 8; size++ }
  return ((size << 24) | mantissa) >>> 0
}

/** Expected number of header hashes to find a block: 2^256 / (target + 1). */
export function workFromBits(bits: number): bigint {
  const t = targetFromBits(bits)
  return (1n << 256n) / (t + 1n)
}

export function hashMeetsTarget(hash: Uint8Array, target: bigint): boolean {
  return bytesToBigInt(hash) <= target
}

/** nonce + j (mod 2^256), Algorithm 2's MineWithNonce(nonce + j). */
export function addToNonce(nonce: Uint8Array, j: number): Uint8Array {
  return bigIntToBytes((bytesToBigInt(nonce) + BigInt(j)) % (1n << 256n))
}

/** Algorithm 2: nonce = H(precursor), the first of the nonces an iteration may try. */
export function nonceFromPrecursor(precursor: Uint8Array): Uint8Array {
  return taggedHash(TAGS.nonce, precursor)
}

/** j such that candidate = base + j (mod 2^256), or -1 when it is not within [0, limit). */
export function nonceOffset(base: Uint8Array, candidate: Uint8Array, limit: number): number {
  const d = (bytesToBigInt(candidate) - bytesToBigInt(base) + (1n << 256n)) % (1n << 256n)
  return d < BigInt(limit) ? Number(d) : -1
}

// ---- blocks ----

export const MAX_TXS = 10_000
export const MAX_BLOCK_BYTES = HEADER_SIZE + 4 + MAX_TXS * (4 + 1_000)

export interface Block { header: BlockHeader; txs: Tx[] }

export function blockToBytes(b: Block): Uint8Array {
  const w = new Writer().bytes(headerToBytes(b.header)).u32(b.txs.length)
  for (const tx of b.txs) w.varBytes(txToBytes(tx))
  return w.finish()
}

export function blockFromBytes(bytes: Uint8Array): Block {
  if (bytes.length > MAX_BLOCK_BYTES) throw protocolError('TOO_LARGE', `block is ${bytes.length} bytes, at most ${MAX_BLOCK_BYTES}`)
  const r = new Reader(bytes, 'block')
  const header = headerFromBytes(r.bytes(HEADER_SIZE, 'header'))
  const n = r.count(MAX_TXS, 'transactions')
  const txs: Tx[] = []
  for (let i = 0; i < n; i++) txs.push(txFromBytes(r.varBytes(MAX_TX_BYTES, `transaction ${i}`)))
  r.end()
  return { header, txs }
}

export function computeMerkleRoot(txs: Tx[]): Uint8Array {
  return merkleRoot(txs.map(txHash))
}
