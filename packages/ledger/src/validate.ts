import {
  BLOCK_VERSION, HEADER_SIZE, MAX_BLOCK_BYTES, MAX_TXS, TAGS, bytesEqual, hashMeetsTarget, headerHash, isPouwError, merkleRoot,
  protocolError, taggedHash, targetFromBits, toHex, txToBytes, workFromBits, type Block, type BlockTiming, type CoinbaseTx,
} from '@pouw/protocol'
import type { ChainEntry } from './chainEntry.js'
import { ledgerError } from './errors.js'
import { checkTicketPurchases, nextBits, type ChainParams } from './params.js'
import { checkTx } from './utxo.js'
import { anchorRule } from './anchor.js'
import { subsidyBound } from './collect.js'

export interface ValidatedBlock {
  hash: Uint8Array
  height: number
  /** this block's own work, workFromBits(bits) */
  work: bigint
  /** parent.cumulativeWork + work */
  cumulativeWork: bigint
  /** txHash of each transaction, in block order */
  txHashes: Uint8Array[]
}

/**
 * Context-free rules, checked without the parent (pure, no clock):
 * - header version is BLOCK_VERSION;
 * - bits decode to a valid target (else LEDGER_BAD_BITS);
 * - the transactions pass checkBlockTxs (coinbase first, then transfers);
 * - header.merkleRoot = computeMerkleRoot(txs) (LEDGER_BAD_MERKLE);
 * - the header hash meets the target of the header's own bits
 *   (LEDGER_HIGH_HASH); validateBlock then requires those bits to be the
 *   expected ones;
 * - then the coinbase's MESSAGE_HISTORY anchor, if any, is the committee's
 *   (anchor.ts, LEDGER_BAD_HISTORY).
 * Returns the header hash.
 */
export function checkBlockSyntax(block: Block, params: ChainParams): Uint8Array {
  return checkBlock(block, params).hash
}

/**
 * Context-free rules of a block's transactions:
 * - at least one and at most MAX_TXS transactions, at most MAX_BLOCK_BYTES
 *   encoded (LEDGER_BLOCK_TOO_LARGE; a decoded block holds these already);
 * - the first is a coinbase, every other one a transfer (LEDGER_BAD_COINBASE);
 * - each passes checkTx; the tickets they buy follow params.tickets
 *   (checkTicketPurchases: price and cap);
 * - a block without transfers has no fees: its coinbase pays at most the
 *   subsidy its collect could prove (collect.ts subsidyBound; the whole
 *   subsidy on genesis or without params.verification; LEDGER_BAD_COINBASE).
 *   With transfers the bound is subsidy + fees, which needs the UTXO set, and
 *   the exact subsidy needs the parent: connectBlock checks both.
 * Returns the transactions' hashes (the Merkle leaves).
 */
export function checkBlockTxs(block: Block, params: ChainParams): Uint8Array[] {
  const txs = block.txs
  if (txs.length > MAX_TXS) throw ledgerError('BLOCK_TOO_LARGE', `${txs.length} transactions, at most ${MAX_TXS}`)
  const coinbase = txs[0]
  if (coinbase === undefined) throw ledgerError('BAD_COINBASE', 'a block holds at least one transaction, the coinbase; got none')
  if (coinbase.type !== 'coinbase') throw ledgerError('BAD_COINBASE', `the first transaction is a ${String(coinbase.type)}, expected a coinbase`)
  for (let i = 1; i < txs.length; i++) {
    if (txs[i]!.type !== 'transfer') throw ledgerError('BAD_COINBASE', `transaction ${i} is a ${String(txs[i]!.type)}; only the first may be a coinbase`)
  }
  for (const tx of txs) checkTx(tx)
  checkTicketPurchases(txs, params)
  if (txs.length === 1) {
    let paid = 0n
    for (const o of coinbase.outputs) paid += o.amount
    const bound = subsidyBound(coinbase, params)
    if (paid > bound) throw ledgerError('BAD_COINBASE', `coinbase pays ${paid}, its collected approvals prove at most ${bound}`, { paid: String(paid) })
  }
  let size = HEADER_SIZE + 4
  const hashes = txs.map((tx) => {
    const bytes = txToBytes(tx)
    size += 4 + bytes.length
    return taggedHash(TAGS.tx, bytes)
  })
  if (size > MAX_BLOCK_BYTES) throw ledgerError('BLOCK_TOO_LARGE', `block is ${size} bytes, at most ${MAX_BLOCK_BYTES}`, { size })
  return hashes
}

function checkBlock(block: Block, params: ChainParams): { hash: Uint8Array; txHashes: Uint8Array[] } {
  const h = block.header
  if (h.version !== BLOCK_VERSION) throw protocolError('BAD_VERSION', `block version ${h.version}, expected ${BLOCK_VERSION}`)
  let target: bigint
  try {
    target = targetFromBits(h.bits)
  } catch (e) {
    if (!isPouwError(e)) throw e
    throw ledgerError('BAD_BITS', `bits 0x${h.bits.toString(16)} are not a valid compact target`, { bits: h.bits })
  }
  const txHashes = checkBlockTxs(block, params)
  const root = merkleRoot(txHashes)
  if (!bytesEqual(root, h.merkleRoot)) {
    throw ledgerError('BAD_MERKLE', `merkle root ${toHex(h.merkleRoot)} does not match the transactions' ${toHex(root)}`)
  }
  const hash = headerHash(h)
  if (!hashMeetsTarget(hash, target)) throw ledgerError('HIGH_HASH', `header hash ${toHex(hash)} is above the target of bits 0x${h.bits.toString(16)}`)
  // the costly check (Ed25519 and a pairing) only for a block that carries its proof of work
  anchorRule(block.txs[0] as CoinbaseTx, params)
  return { hash, txHashes }
}

/**
 * All consensus rules for `block` on top of `parent` (pure, deterministic;
 * `now` is the validator's clock in UNIX seconds). Besides checkBlockSyntax:
 * - header.prevHash is parent.hash (LEDGER_PARENT_UNKNOWN);
 * - bits = nextBits(window, params) (LEDGER_BAD_BITS), `window` being the
 *   parent's timing window (the parent and up to 3 ancestors, the parent last);
 * - parent.header.time <= time (LEDGER_TIME_TOO_OLD) and
 *   time <= now + params.maxFutureSeconds (LEDGER_TIME_TOO_NEW);
 * - the coinbase's height is parent.height + 1 (LEDGER_BAD_COINBASE).
 * The transfers against the UTXO set (utxo.ts connectBlock) and the proof
 * of useful work (expensive, needs the evidence) are checked by
 * Chain.addBlock when the block joins the main chain.
 */
export function validateBlock(parent: ChainEntry, block: Block, params: ChainParams, now: number, window: readonly BlockTiming[]): ValidatedBlock {
  const h = block.header
  if (!bytesEqual(h.prevHash, parent.hash)) {
    throw ledgerError('PARENT_UNKNOWN', `block's prevHash ${toHex(h.prevHash)} is not the given parent ${parent.hashHex}`)
  }
  const last = window[window.length - 1]
  if (last === undefined || last.time !== parent.header.time || last.bits !== parent.header.bits) {
    throw new Error('internal: the timing window must end with the parent')
  }
  const { hash, txHashes } = checkBlock(block, params)
  const bits = nextBits(window, params)
  if (h.bits !== bits) throw ledgerError('BAD_BITS', `bits 0x${h.bits.toString(16)}, expected 0x${bits.toString(16)}`, { bits: h.bits, expected: bits })
  if (h.time < parent.header.time) {
    throw ledgerError('TIME_TOO_OLD', `time ${h.time} is before its parent's ${parent.header.time}`, { time: h.time, parentTime: parent.header.time })
  }
  if (h.time > now + params.maxFutureSeconds) {
    throw ledgerError('TIME_TOO_NEW', `time ${h.time} is more than ${params.maxFutureSeconds} s ahead of ${now}`, { time: h.time, now })
  }
  const height = parent.height + 1
  const cbHeight = (block.txs[0] as CoinbaseTx).height // checkBlock: the first is a coinbase
  if (cbHeight !== height) throw ledgerError('BAD_COINBASE', `coinbase height ${cbHeight}, expected ${height}`)
  const work = workFromBits(h.bits)
  return { hash, height, work, cumulativeWork: parent.cumulativeWork + work, txHashes }
}
