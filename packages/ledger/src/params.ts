import { BLOCK_VERSION, ZERO_HASH, bitsFromTarget, computeMerkleRoot, workFromBits, type Block, type Tx } from '@pouw/protocol'
import { createChainEntry, type ChainEntry } from './chainEntry.js'
import type { VerificationParams } from './collect.js'
import { computeNextBits, type BlockTiming, type DifficultyParams } from './difficulty.js'
import { ledgerError } from './errors.js'
import { DEFAULT_TICKET_PARAMS, type TicketParams } from './tickets.js'

/** Everything that makes one network's chain differ from another's. */
export interface ChainParams {
  networkName: string
  /** u32 UNIX seconds, the genesis block's time */
  genesisTime: number
  /** the genesis block's compact target; every block's too when `difficulty` is absent (see nextBits) */
  bits: number
  /**
   * Difficulty adjustment (difficulty.ts, relative ASERT): each block's bits follow from its
   * ancestors' times so that blocks come every `targetSpacing` seconds. Absent: every block
   * needs `bits` (unit tests, benchmarks).
   */
  difficulty?: DifficultyParams
  /** most a coinbase may pay out in total */
  subsidy: bigint
  /** how far ahead of the validator's clock a block's time may be */
  maxFutureSeconds: number
  /** blocks a coinbase output waits before it may be spent; COINBASE_MATURITY when absent */
  coinbaseMaturity?: number
  /**
   * The evaluators' federation (Ed25519 keys: the testnet's relays): ceil(2n/3) of them approve a
   * CHARGE_FOR_TASK, each with the evaluator stake it joined the task with, which the charge
   * spends (utxo.ts approvalChecks). Which of them evaluate a task is chosen by ticket (the relays'
   * selection, which the chain does not check yet; see docs/economics.md); none: no charge is valid.
   */
  evaluators?: Uint8Array[]
  /**
   * BUY_TICKETS rules (paper 003 §3.3): each `stake` output is one ticket and stakes at least
   * `price` (LEDGER_BAD_TICKET_PURCHASE); a block buys at most `maxPerBlock` tickets
   * (LEDGER_TOO_MANY_TICKETS). A ticket may join a task (JOIN_TASK, utxo.ts) from `maturity`
   * blocks after the block that bought it. With `adjust` the price moves as Decred's stake
   * difficulty does (ticketPriceRule, Chain.ticketPrice), never below `price`; without it the
   * price is `price`. Absent: any stake amount, no cap, no maturity (unit tests).
   */
  tickets?: { price: bigint; maxPerBlock: number; maturity: number; adjust?: TicketPriceAdjustment }
  /**
   * Who verifies blocks (paper 003 §5.2): each block's coinbase claims the subsidy in proportion to
   * its parent's approvals by their chosen verifiers (collect.ts). A federation fixed with the
   * network, like `evaluators`. Absent: every coinbase may claim the whole subsidy (unit tests).
   */
  verification?: VerificationParams
}

/**
 * Decred's stake difficulty (DCP-0001, tickets.ts computeTicketPrice): at every height that is a
 * multiple of `window` the price becomes current × cur² / (prev × targetPoolSize), clamped to
 * [tickets.price, maxPrice], where cur and prev are the tickets live or immature (unspent stake
 * outputs not yet expired) after the blocks at heights h - 1 and h - window - 1 of the same branch.
 */
export interface TicketPriceAdjustment { window: number; targetPoolSize: number; maxPrice: bigint }

/** The tickets.ts parameters that computeTicketPrice reads, from a chain's ticket rules. */
export function ticketPriceRule(tickets: NonNullable<ChainParams['tickets']>): TicketParams {
  const a = tickets.adjust
  return {
    ...DEFAULT_TICKET_PARAMS, maturity: tickets.maturity, maxTicketsPerBlock: tickets.maxPerBlock, minPrice: tickets.price,
    // without adjustment: a window no height reaches, so the price stays the minimum
    priceWindow: a?.window ?? Number.MAX_SAFE_INTEGER, targetPoolSize: a?.targetPoolSize ?? 1, maxPrice: a?.maxPrice ?? tickets.price,
  }
}

/**
 * Rule: a coinbase output created at height h may be spent in a block at
 * height >= h + maturity. 10 blocks (Bitcoin: 100): a reorg of fewer blocks
 * than that cannot make transfers that spent a block reward disappear with it.
 */
export const COINBASE_MATURITY = 10

/**
 * Rule: a task fee that no CHARGE_FOR_TASK spent is its client's again from height
 * revokeBefore + TASK_FEE_RECLAIM_BLOCKS (the client spends it back as it would revoke it). 510
 * blocks: the relays' task run (apps/relay taskRuns.ts) joins in the 10 blocks after the
 * task-definition block, trains for 200 more and has 300 more to get its charge mined, while the
 * joined stakes stay locked. Without it, a task whose evaluators never agree, or whose charge a
 * joined stake's owner made invalid by spending the stake at its expiry, would lock its fee forever.
 * A charge may still spend a fee that is not taken back: the first of the two to be mined stands.
 */
export const TASK_FEE_RECLAIM_BLOCKS = 510

/**
 * Rule (with params.tickets): every stake output of `txs` stakes at least the ticket price, and
 * there are at most maxPerBlock of them. Returns how many tickets they buy. `price` is the price in
 * force at the block's height (Chain.ticketPrice); without it, the lowest price (what holds on any
 * branch: the context-free check of checkBlockTxs, the full one comes with connectBlock).
 */
export function checkTicketPurchases(txs: readonly Tx[], params: ChainParams, price = params.tickets?.price): number {
  const rules = params.tickets
  let count = 0
  for (const tx of txs) {
    if (tx.type !== 'transfer') continue
    for (const [n, o] of tx.outputs.entries()) {
      if (o.lock.kind !== 'stake') continue
      count++
      if (price !== undefined && o.amount < price) {
        throw ledgerError('BAD_TICKET_PURCHASE', `output ${n}: a ticket stakes ${o.amount}, the price is ${price}`, { amount: String(o.amount), price: String(price) })
      }
    }
  }
  if (rules !== undefined && count > rules.maxPerBlock) {
    throw ledgerError('TOO_MANY_TICKETS', `${count} tickets, at most ${rules.maxPerBlock} per block`, { count, max: rules.maxPerBlock })
  }
  return count
}

/** The height from which a task fee committed at `revokeBefore` is its client's again, if no charge spent it. */
export function taskFeeReclaimHeight(revokeBefore: number): number {
  return revokeBefore + TASK_FEE_RECLAIM_BLOCKS
}

export function coinbaseMaturity(params: ChainParams): number {
  return params.coinbaseMaturity ?? COINBASE_MATURITY
}

/**
 * Rule: no output amount, no sum of one transaction's inputs or outputs and
 * no coinbase exceeds MAX_MONEY (21e6 coins of 1e8 units, as Bitcoin). The
 * supply itself is bounded by the subsidy rule; this bound keeps every sum
 * far below 2^64 and any bigint arithmetic on amounts meaningful.
 */
export const MAX_MONEY = 21_000_000n * 100_000_000n

/** Mempool policy (not consensus: what this node relays and mines). */
export interface MempoolPolicy {
  /** least fee per encoded byte a transaction must pay */
  minFeeRate: bigint
  /** most encoded bytes the mempool holds; beyond, the lowest fee rates are evicted */
  maxBytes: number
  /** largest transaction accepted (consensus allows MAX_TX_BYTES) */
  maxTxBytes: number
}

export const DEFAULT_MEMPOOL_POLICY: Readonly<MempoolPolicy> = { minFeeRate: 1n, maxBytes: 8_000_000, maxTxBytes: 20_000 }

/**
 * Rule: the compact target required of a block whose parent's timing window is
 * `window` (the parent and up to DIFFICULTY_WINDOW - 1 of its ancestors, oldest
 * first, the parent last: what Chain reads for each block, Chain.tipWindow for the tip). With params.difficulty,
 * computeNextBits; without, params.bits for every block.
 */
export function nextBits(window: readonly BlockTiming[], params: ChainParams): number {
  return params.difficulty === undefined ? params.bits : computeNextBits(window, params.difficulty)
}

/** The time and bits of a chain entry's header. */
export function timingOf(e: Pick<ChainEntry, 'header'>): BlockTiming {
  return { time: e.header.time, bits: e.header.bits }
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
