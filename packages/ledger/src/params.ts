import { BLOCK_VERSION, ZERO_HASH, bitsFromTarget, computeMerkleRoot, workFromBits, type Block, type Tx } from '@pouw/protocol'
import { createChainEntry, type ChainEntry } from './chainEntry.js'

/** Everything that makes one network's chain differ from another's. */
export interface ChainParams {
  networkName: string
  /** u32 UNIX seconds, the genesis block's time */
  genesisTime: number
  /** compact target required of every block (see nextBits) */
  bits: number
  /** most a coinbase may pay out in total */
  subsidy: bigint
  /** how far ahead of the validator's clock a block's time may be */
  maxFutureSeconds: number
}

/**
 * Rule: the compact target required of a block whose parent is `parent`.
 * Today every block needs params.bits; difficulty adjustment (a later issue)
 * changes only this function.
 */
export function nextBits(_parent: ChainEntry, params: ChainParams): number {
  return params.bits
}

/**
 * The genesis block: version 1, zero prevHash, one coinbase at height 0 that
 * pays nothing, time genesisTime, bits params.bits, zero nonce and PoUW
 * fields. It needs no proof of work. networkName does not enter it: two
 * networks with the same genesisTime and bits share a genesis.
 */
export function createGenesis(params: ChainParams): Block {
  const txs: Tx[] = [{ type: 'coinbase', height: 0, outputs: [] }]
  return {
    header: {
      version: BLOCK_VERSION, prevHash: ZERO_HASH, merkleRoot: computeMerkleRoot(txs), time: params.genesisTime,
      bits: params.bits, nonce: ZERO_HASH, hashMsg: ZERO_HASH, hashMsgHist: ZERO_HASH,
    },
    txs,
  }
}

/** The genesis block's chain entry: height 0, its own work, received at genesisTime. */
export function createGenesisEntry(params: ChainParams): ChainEntry {
  return createChainEntry(createGenesis(params), 0, workFromBits(params.bits), params.genesisTime)
}

/**
 * Compact bits for "about `expectedHashes` header hashes per block":
 * target = floor(2^256 / expectedHashes) - 1, rounded down by the compact
 * encoding (so the real expectation is a hair above).
 */
export function difficultyToBits(expectedHashes: bigint): number {
  if (expectedHashes < 1n) throw new RangeError(`expected hashes per block must be >= 1, got ${expectedHashes}`)
  return bitsFromTarget((1n << 256n) / expectedHashes - 1n)
}
