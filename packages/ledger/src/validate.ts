import {
  BLOCK_VERSION, bytesEqual, computeMerkleRoot, hashMeetsTarget, headerHash, isPouwError, protocolError,
  targetFromBits, toHex, workFromBits, type Block,
} from '@pouw/protocol'
import type { ChainEntry } from './chainEntry.js'
import { ledgerError } from './errors.js'
import { nextBits, type ChainParams } from './params.js'

export interface ValidatedBlock {
  hash: Uint8Array
  height: number
  /** this block's own work, workFromBits(bits) */
  work: bigint
  /** parent.cumulativeWork + work */
  cumulativeWork: bigint
}

/**
 * Context-free rules, checked without the parent (pure, no clock):
 * - header version is BLOCK_VERSION;
 * - bits decode to a valid target (else LEDGER_BAD_BITS);
 * - exactly one transaction, a coinbase, paying non-negative amounts that
 *   sum to at most params.subsidy (LEDGER_BAD_COINBASE);
 * - header.merkleRoot = computeMerkleRoot(txs) (LEDGER_BAD_MERKLE);
 * - the header hash meets the target of the header's own bits
 *   (LEDGER_HIGH_HASH); validateBlock then requires those bits to be the
 *   expected ones.
 * Returns the header hash.
 */
export function checkBlockSyntax(block: Block, params: ChainParams): Uint8Array {
  const h = block.header
  if (h.version !== BLOCK_VERSION) throw protocolError('BAD_VERSION', `block version ${h.version}, expected ${BLOCK_VERSION}`)
  let target: bigint
  try {
    target = targetFromBits(h.bits)
  } catch (e) {
    if (!isPouwError(e)) throw e
    throw ledgerError('BAD_BITS', `bits 0x${h.bits.toString(16)} are not a valid compact target`, { bits: h.bits })
  }
  if (block.txs.length !== 1) throw ledgerError('BAD_COINBASE', `a block holds exactly one transaction, the coinbase; got ${block.txs.length}`)
  const coinbase = block.txs[0]!
  if (coinbase.type !== 'coinbase') throw ledgerError('BAD_COINBASE', `the first transaction is a ${String(coinbase.type)}, expected a coinbase`)
  let paid = 0n
  for (const o of coinbase.outputs) {
    if (o.amount < 0n) throw ledgerError('BAD_COINBASE', `coinbase output of ${o.amount} is negative`)
    paid += o.amount
  }
  if (paid > params.subsidy) throw ledgerError('BAD_COINBASE', `coinbase pays ${paid}, the subsidy is ${params.subsidy}`, { paid: String(paid) })
  const root = computeMerkleRoot(block.txs)
  if (!bytesEqual(root, h.merkleRoot)) {
    throw ledgerError('BAD_MERKLE', `merkle root ${toHex(h.merkleRoot)} does not match the transactions' ${toHex(root)}`)
  }
  const hash = headerHash(h)
  if (!hashMeetsTarget(hash, target)) throw ledgerError('HIGH_HASH', `header hash ${toHex(hash)} is above the target of bits 0x${h.bits.toString(16)}`)
  return hash
}

/**
 * All consensus rules for `block` on top of `parent` (pure, deterministic;
 * `now` is the validator's clock in UNIX seconds). Besides checkBlockSyntax:
 * - header.prevHash is parent.hash (LEDGER_PARENT_UNKNOWN);
 * - bits = nextBits(parent, params) (LEDGER_BAD_BITS);
 * - parent.header.time <= time (LEDGER_TIME_TOO_OLD) and
 *   time <= now + params.maxFutureSeconds (LEDGER_TIME_TOO_NEW);
 * - the coinbase's height is parent.height + 1 (LEDGER_BAD_COINBASE).
 * The proof of useful work is checked elsewhere (it is expensive and needs
 * the evidence); see Chain.addBlock.
 */
export function validateBlock(parent: ChainEntry, block: Block, params: ChainParams, now: number): ValidatedBlock {
  const h = block.header
  if (!bytesEqual(h.prevHash, parent.hash)) {
    throw ledgerError('PARENT_UNKNOWN', `block's prevHash ${toHex(h.prevHash)} is not the given parent ${parent.hashHex}`)
  }
  const hash = checkBlockSyntax(block, params)
  const bits = nextBits(parent, params)
  if (h.bits !== bits) throw ledgerError('BAD_BITS', `bits 0x${h.bits.toString(16)}, expected 0x${bits.toString(16)}`, { bits: h.bits, expected: bits })
  if (h.time < parent.header.time) {
    throw ledgerError('TIME_TOO_OLD', `time ${h.time} is before its parent's ${parent.header.time}`, { time: h.time, parentTime: parent.header.time })
  }
  if (h.time > now + params.maxFutureSeconds) {
    throw ledgerError('TIME_TOO_NEW', `time ${h.time} is more than ${params.maxFutureSeconds} s ahead of ${now}`, { time: h.time, now })
  }
  const height = parent.height + 1
  const cbHeight = block.txs[0]!.height
  if (cbHeight !== height) throw ledgerError('BAD_COINBASE', `coinbase height ${cbHeight}, expected ${height}`)
  const work = workFromBits(h.bits)
  return { hash, height, work, cumulativeWork: parent.cumulativeWork + work }
}
