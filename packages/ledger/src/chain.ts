import {
  DIFFICULTY_WINDOW, VERIFIERS_SHARE_BPS, Reader, Writer, extendWindow, blockFromBytes, blockToBytes, bytesEqual, compareBytes, headerHash, isPouwError, toHex, txHash,
  type Block, type OutPoint, type Tx,
} from '@pouw/protocol'
import { chainEntryFromBytes, chainEntryToBytes, createChainEntry, type ChainEntry } from './chainEntry.js'
import { ledgerError } from './errors.js'
import { createGenesis, createGenesisEntry, nextBits, ticketPriceRule, timingOf, type ChainParams } from './params.js'
import { computeTicketPrice } from './tickets.js'
import type { BatchOp, KeyValueStore } from './store.js'
import {
  coinFromBytes, coinToBytes, connectBlock, createdCoins, disconnectBlock, outpointFromKey, outpointKey, undoFromBytes, undoToBytes,
  type BlockUndo, type Coin, type UtxoView, type VerifyFn,
} from './utxo.js'
import { validateBlock } from './validate.js'
import { checkVerificationParams } from './collect.js'

/** Every key the chain writes starts with this; AddOptions.extra keys must not. */
export const CHAIN_KEY_PREFIX = 'chain/'

/** Store layout. Heights are 8 hex digits so that key order is height order. */
export const CHAIN_KEYS = {
  block: (hashHex: string) => `chain/block/${hashHex}`,
  entry: (hashHex: string) => `chain/entry/${hashHex}`,
  heightPrefix: 'chain/height/',
  height: (h: number) => `chain/height/${h.toString(16).padStart(8, '0')}`,
  tip: 'chain/tip',
  genesis: 'chain/genesis',
  /** the UTXO set: outpointKey -> coinToBytes */
  utxoPrefix: 'chain/utxo/',
  utxo: (outpoint: string) => `chain/utxo/${outpoint}`,
  /** the same coins indexed by recipient, for wallets: recipient hex + outpointKey -> coinToBytes */
  ownerPrefix: (recipientHex: string) => `chain/owner/${recipientHex}`,
  owner: (recipientHex: string, outpoint: string) => `chain/owner/${recipientHex}${outpoint}`,
  /** undo data of each main-chain block (what it spent), to disconnect it in a reorg */
  undoPrefix: 'chain/undo/',
  undo: (hashHex: string) => `chain/undo/${hashHex}`,
  /** the block the UTXO set is the state after: always the tip (written in the tip's batch) */
  utxoBest: 'chain/utxo-best',
  /** each CHARGE_FOR_TASK on the main chain, by task: task hash hex / tx hash hex -> chargeRecordToBytes */
  chargePrefix: 'chain/charge/',
  charge: (taskHex: string, txHex: string) => `chain/charge/${taskHex}/${txHex}`,
  /** present once the charge index covers the whole main chain (a store written before it is rebuilt) */
  chargeIndex: 'chain/charge-index',
  /** the ticket price in force at each connected block (u64), with params.tickets; kept for side branches too: a block's hash fixes it */
  price: (hashHex: string) => `chain/price/${hashHex}`,
  /** the ticket pool (tickets live or immature, u32) after each connected block just below a price change */
  pool: (hashHex: string) => `chain/pool/${hashHex}`,
  /**
   * present once the price records cover the whole main chain, holding the ticket rules they were
   * computed with (priceRulesKey): a store written before them, or under other rules, is rebuilt
   */
  priceIndex: 'chain/price-index',
  /**
   * the verification rules the chain was made under (verificationRulesKey): who verifies blocks
   * decides which coinbases were valid, so a store made under others does not open
   */
  verificationRules: 'chain/verification-rules',
} as const

/** Chain.chargeOf: where a task's fee was charged on the main chain. */
export interface ChargeRecord {
  /** the CHARGE_FOR_TASK transaction's hash (hex), approvals included */
  tx: string
  height: number
  /** the fee it paid out: its outputs less the joined stakes it returned (so the fee less the transaction's own fee) */
  paid: bigint
}

/** u32 height | u64 paid (the tx hash is in the key) */
function chargeRecordToBytes(r: { height: number; paid: bigint }): Uint8Array {
  return new Writer().u32(r.height).u64(r.paid).finish()
}

function chargeRecordFromBytes(tx: string, bytes: Uint8Array): ChargeRecord {
  const r = new Reader(bytes, 'charge record')
  const rec = { tx, height: r.u32('height'), paid: r.u64('paid') }
  r.end()
  return rec
}

/**
 * The charge-index puts (with the block's undo data: the coins it spent) or, disconnecting, dels
 * of a main-chain block's CHARGE_FOR_TASK transactions; `hashes` when the caller has them (only
 * charges are hashed otherwise).
 */
function chargeOps(op: { kind: 'put'; undo: BlockUndo } | { kind: 'del' }, txs: readonly Tx[], height: number, hashes?: readonly Uint8Array[]): BatchOp[] {
  const spent = op.kind === 'put' ? new Map(op.undo.spent) : undefined
  if (spent !== undefined && txs.some((tx) => tx.type === 'transfer' && tx.charge !== undefined)) {
    // the undo data leaves out coins created and spent in this block: a join and its charge may share one
    txs.forEach((tx, i) => { for (const [k, c] of createdCoins(tx, hashes?.[i] ?? txHash(tx), height)) if (!spent.has(k)) spent.set(k, c) })
  }
  return txs.flatMap((tx, i): BatchOp[] => {
    if (tx.type !== 'transfer' || tx.charge === undefined) return []
    const key = CHAIN_KEYS.charge(toHex(tx.charge.taskHash), toHex(hashes?.[i] ?? txHash(tx)))
    if (spent === undefined) return [{ type: 'del', key }]
    let paid = tx.outputs.reduce((a, o) => a + o.amount, 0n)
    for (const input of tx.inputs) {
      const coin = spent.get(outpointKey(input.prevout))
      if (coin?.lock.kind === 'joined') paid -= coin.amount
    }
    // a charge whose own transaction fee came off a stake (no fee to take it from) paid out no fee
    return [{ type: 'put', key, value: chargeRecordToBytes({ height, paid: paid < 0n ? 0n : paid }) }]
  })
}

/** The verifiers (sorted), verifiers per block and nonces per iteration, or 'none'. */
function verificationRulesKey(params: ChainParams): Uint8Array {
  const v = params.verification
  // verifiersShareBps: a store made before the coinbase paid the verifiers holds blocks these rules refuse; evaluators: who
  // may approve a charge
  return new TextEncoder().encode(v === undefined ? 'none' : JSON.stringify({
    verifiers: v.verifiers.map(toHex).sort(), perBlock: v.perBlock, noncesPerIteration: v.noncesPerIteration, verifiersShareBps: Number(VERIFIERS_SHARE_BPS),
    evaluators: (params.evaluators ?? []).map(toHex).sort(),
  }))
}

/** The ticket rules the price records follow, as bytes: stored with them, so that other rules rebuild them. */
function priceRulesKey(params: ChainParams): Uint8Array {
  const t = params.tickets
  return new TextEncoder().encode(t === undefined ? 'none' : JSON.stringify({ price: t.price, adjust: t.adjust ?? null }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)))
}

/**
 * Decred's pool size, "live + immature", after the block at `height`: the stake coins (tickets
 * not joined to a task, not spent) that have not expired there.
 */
export function ticketPool(coins: Iterable<Coin>, height: number): number {
  let n = 0
  for (const c of coins) if (c.lock.kind === 'stake' && c.lock.expiry > height) n++
  return n
}

/** Chain.supply(): the main chain's money, in base units. */
export interface Supply {
  height: number
  tip: string
  /** sum of every main-chain coinbase's outputs (subsidies and the fees they claimed) */
  coinbases: bigint
  /** sum of every main-chain transfer's fee (inputs - outputs) */
  fees: bigint
  /** sum of the UTXO set: always coinbases - fees */
  utxo: bigint
  /** number of unspent outputs */
  coins: number
}

export interface AddOptions {
  /** the validator's clock, UNIX seconds */
  now: number
  /**
   * the expensive proof-of-useful-work check; whatever it throws propagates and
   * nothing is written. Key/values it returns (what it learnt about the block)
   * join the block's atomic batch, like `extra`.
   */
  checkProofOfUsefulWork?: (block: Block, parent: ChainEntry, hash: Uint8Array) => Promise<Record<string, Uint8Array> | void>
  /** more key/values (the block's evidence, annotations) written in the same atomic batch as the block */
  extra?: Record<string, Uint8Array>
  /** signature verification for the transfers (default: sign.ts `verify`, WebCrypto with the noble reference) */
  verify?: VerifyFn
}

/**
 * extended: the block is the new tip on top of the old one. side: stored, the
 * tip is unchanged. reorg: the block's branch is now the main chain;
 * `disconnected` lists the old main-chain blocks it dropped (old tip first),
 * `connected` the blocks it added (oldest first, ending with `entry`).
 */
export interface AddResult {
  status: 'extended' | 'side' | 'reorg'
  entry: ChainEntry
  disconnected: ChainEntry[]
  connected: ChainEntry[]
}

/**
 * A block tree in a KeyValueStore with its heaviest branch as main chain.
 * Fork choice: the greatest cumulative work; on a tie, the lower block hash
 * (bytes compared as a big-endian number). Unlike "first seen stays", the
 * tie-break does not depend on arrival order, so every node that holds the
 * same blocks picks the same tip.
 *
 * The chain keeps the UTXO set of its tip (CHAIN_KEYS.utxo, indexed by
 * recipient under CHAIN_KEYS.owner) and each main-chain block's undo data.
 * They change in the same atomic batch as the tip: a new tip's transfers are
 * checked against the UTXO set before it becomes the tip, and a reorg
 * disconnects the old branch with its undo data, then connects the new
 * branch block by block; if any block of it breaks a rule, nothing is
 * written and the new block is refused. A side-branch block is stored
 * without that check (its branch's UTXO set does not exist yet): it is
 * checked when its branch would become the main chain.
 */
/** Chain.taskFees: unspent task-fee coins by task hash (hex) */
export type TaskFees = ReadonlyMap<string, readonly { outpoint: OutPoint; coin: Coin }[]>
/** Chain.taskJoins: unspent joined stakes (JOIN_TASK outputs) by task hash (hex), in outpoint order */
export type TaskJoins = TaskFees

/**
 * The height from which a task's fee coins (a TaskFees entry, non-empty) are committed: the
 * earliest revokeBefore among them. Its block is the task-definition block.
 */
export function feeRevokeBefore(coins: readonly { coin: Coin }[]): number {
  return Math.min(...coins.map(({ coin }) => (coin.lock.kind === 'task-fee' ? coin.lock.revokeBefore : Number.POSITIVE_INFINITY)))
}

export class Chain {
  private queue: Promise<unknown> = Promise.resolve()

  private constructor(
    private readonly store: KeyValueStore,
    readonly params: ChainParams,
    readonly genesisHash: Uint8Array,
    private tipEntry: ChainEntry,
    /** the tip and its last ancestors (entryWindow(tip)), kept with the tip so nextBits() needs no read */
    private tipWindowEntries: ChainEntry[],
  ) {}

  /**
   * Writes the genesis block into an empty store; otherwise checks that the
   * stored genesis is params' (else LEDGER_GENESIS_MISMATCH) and loads the tip.
   */
  static async open(store: KeyValueStore, params: ChainParams): Promise<Chain> {
    if (params.verification !== undefined) checkVerificationParams(params.verification)
    const genesis = createGenesis(params)
    const genesisHash = headerHash(genesis.header)
    const stored = await store.get(CHAIN_KEYS.genesis)
    if (stored === undefined) {
      const entry = createGenesisEntry(params)
      await store.batch([
        { type: 'put', key: CHAIN_KEYS.block(entry.hashHex), value: blockToBytes(genesis) },
        { type: 'put', key: CHAIN_KEYS.entry(entry.hashHex), value: chainEntryToBytes(entry) },
        { type: 'put', key: CHAIN_KEYS.height(0), value: entry.hash },
        { type: 'put', key: CHAIN_KEYS.tip, value: entry.hash },
        { type: 'put', key: CHAIN_KEYS.genesis, value: entry.hash },
        // the genesis coinbase pays nothing: the UTXO set starts empty
        { type: 'put', key: CHAIN_KEYS.utxoBest, value: entry.hash },
        { type: 'put', key: CHAIN_KEYS.chargeIndex, value: new Uint8Array([1]) },
        { type: 'put', key: CHAIN_KEYS.priceIndex, value: priceRulesKey(params) },
        { type: 'put', key: CHAIN_KEYS.verificationRules, value: verificationRulesKey(params) },
      ])
      const chain = new Chain(store, params, genesisHash, entry, [entry])
      chain.nextPrice = await chain.priceAfter(entry, new Map())
      return chain
    }
    if (!bytesEqual(stored, genesisHash)) {
      throw ledgerError('GENESIS_MISMATCH', `the store's genesis ${toHex(stored)} is not ${toHex(genesisHash)} of network ${params.networkName}`,
        { stored: toHex(stored), expected: toHex(genesisHash) })
    }
    const tipHash = await store.get(CHAIN_KEYS.tip)
    const tip = tipHash === undefined ? undefined : await readEntry(store, toHex(tipHash))
    if (tip === undefined) throw ledgerError('STORE_CORRUPT', 'the store has a genesis but no tip entry')
    const rules = await store.get(CHAIN_KEYS.verificationRules)
    if (rules === undefined ? tip.height > 1 && params.verification !== undefined : !bytesEqual(rules, verificationRulesKey(params))) {
      throw ledgerError('GENESIS_MISMATCH', rules === undefined
        ? `the store's chain (height ${tip.height}) was made before its verification rules were kept with it (before blocks collected their verifications and anchored the message history): use a new data directory`
        : 'the store\'s chain was made under other verification rules (verifiers, verifiers per block, nonces per iteration): use a new data directory, or the same verifiers')
    }
    if (rules === undefined) await store.batch([{ type: 'put', key: CHAIN_KEYS.verificationRules, value: verificationRulesKey(params) }])
    const chain = new Chain(store, params, genesisHash, tip, await entryWindow(store, tip))
    const best = await store.get(CHAIN_KEYS.utxoBest)
    // a store written before the UTXO set (issue 2), the charge index or the price records existed: build them from the main chain
    if (best === undefined || !bytesEqual(best, tip.hash) || (await store.get(CHAIN_KEYS.chargeIndex)) === undefined ||
      !bytesEqual((await store.get(CHAIN_KEYS.priceIndex)) ?? new Uint8Array(0), priceRulesKey(params))) await chain.rebuildUtxo()
    chain.nextPrice = await chain.priceAfter(tip, new Map())
    return chain
  }

  /**
   * Rebuilds the UTXO set and undo data by connecting every main-chain block
   * from genesis, in one atomic batch. Open() calls it for a store without
   * a UTXO set; a block that breaks a transaction rule makes it throw.
   */
  private async rebuildUtxo(): Promise<void> {
    const ops: BatchOp[] = []
    for (const prefix of [CHAIN_KEYS.utxoPrefix, 'chain/owner/', CHAIN_KEYS.undoPrefix, CHAIN_KEYS.chargePrefix, CHAIN_KEYS.price(''), CHAIN_KEYS.pool('')]) {
      for await (const [key] of this.store.iterate(prefix)) ops.push({ type: 'del', key })
    }
    const view = new Map<string, Coin>()
    const pending = new Map<string, Uint8Array>()
    let parent = await this.mustGetEntry(toHex(this.genesisHash))
    for (let h = 1; h <= this.tipEntry.height; h++) {
      const entry = await this.getByHeight(h)
      const block = entry === undefined ? undefined : await this.getBlock(entry.hashHex)
      if (entry === undefined || block === undefined) throw ledgerError('STORE_CORRUPT', `main-chain block at height ${h} is missing`)
      const ticketPrice = await this.priceAfter(parent, pending)
      const { undo } = await connectBlock(view, block.txs, h, this.params, { ticketPrice, parent })
      ops.push({ type: 'put', key: CHAIN_KEYS.undo(entry.hashHex), value: undoToBytes(undo) }, ...chargeOps({ kind: 'put', undo }, block.txs, h))
      await this.priceRecords(entry, ticketPrice, () => ticketPool(view.values(), h), pending)
      parent = entry
    }
    for (const [key, coin] of view) ops.push(...coinPuts(key, coin))
    for (const [key, value] of pending) ops.push({ type: 'put', key, value })
    ops.push(
      { type: 'put', key: CHAIN_KEYS.utxoBest, value: this.tipEntry.hash }, { type: 'put', key: CHAIN_KEYS.chargeIndex, value: new Uint8Array([1]) },
      { type: 'put', key: CHAIN_KEYS.priceIndex, value: priceRulesKey(this.params) },
    )
    await this.store.batch(ops)
  }

  // ---- the ticket price (params.tickets; Decred's stake difficulty with tickets.adjust) ----

  /** the price for the block after the tip: what the mempool and the wallets use */
  private nextPrice: bigint | undefined

  /** The ticket price a block on the tip must meet; undefined without params.tickets (any stake). */
  ticketPrice(): bigint | undefined {
    return this.nextPrice
  }

  /** A per-block record: from this tip change's pending writes, else the store. */
  private async record(key: string, pending: ReadonlyMap<string, Uint8Array>): Promise<Uint8Array | undefined> {
    return pending.get(key) ?? (await this.store.get(key))
  }

  /** The price in force at a connected block (the genesis: the lowest). */
  private async priceAt(entry: ChainEntry, pending: ReadonlyMap<string, Uint8Array>): Promise<bigint> {
    const rules = this.params.tickets!
    if (entry.height === 0) return rules.price
    const bytes = await this.record(CHAIN_KEYS.price(entry.hashHex), pending)
    if (bytes === undefined) throw ledgerError('STORE_CORRUPT', `the ticket price of block ${entry.hashHex} is missing`)
    return corruptIfThrows(() => new Reader(bytes, 'ticket price').u64('price'), `ticket price ${entry.hashHex}`)
  }

  /** The pool after a connected block at a height just below a price change; 0 below the genesis and after it (no coins). */
  private async poolAt(entry: ChainEntry | undefined, pending: ReadonlyMap<string, Uint8Array>): Promise<number> {
    if (entry === undefined || entry.height === 0) return 0
    const bytes = await this.record(CHAIN_KEYS.pool(entry.hashHex), pending)
    if (bytes === undefined) throw ledgerError('STORE_CORRUPT', `the ticket pool after block ${entry.hashHex} is missing`)
    return corruptIfThrows(() => new Reader(bytes, 'ticket pool').u32('pool'), `ticket pool ${entry.hashHex}`)
  }

  /**
   * Rule: the ticket price for the block after `parent`, on parent's branch (tickets.ts
   * computeTicketPrice: it changes only at multiples of the window, from the pools after the
   * blocks one and window + 1 below). Undefined without params.tickets.
   */
  private async priceAfter(parent: ChainEntry, pending: ReadonlyMap<string, Uint8Array>): Promise<bigint | undefined> {
    const tickets = this.params.tickets
    if (tickets === undefined) return undefined
    const rule = ticketPriceRule(tickets)
    const height = parent.height + 1
    const currentPrice = await this.priceAt(parent, pending)
    if (height < rule.priceWindow || height % rule.priceWindow !== 0) return computeTicketPrice({ height, currentPrice, prevPoolSize: 0, curPoolSize: 0 }, rule)
    let back: ChainEntry | undefined = parent
    for (let i = 0; i < rule.priceWindow && back !== undefined; i++) back = back.height === 0 ? undefined : await this.parentOf(back)
    return computeTicketPrice({ height, currentPrice, curPoolSize: await this.poolAt(parent, pending), prevPoolSize: await this.poolAt(back, pending) }, rule)
  }

  /**
   * The records a connected block leaves, into `pending` (the caller writes them with the tip
   * change): its price, and the pool after it when a price change follows it (`pool` counts it
   * then: a scan of the coins, once a window).
   */
  private async priceRecords(entry: ChainEntry, price: bigint | undefined, pool: () => number | Promise<number>, pending: Map<string, Uint8Array>): Promise<void> {
    const tickets = this.params.tickets
    if (price === undefined || tickets === undefined) return
    pending.set(CHAIN_KEYS.price(entry.hashHex), new Writer().u64(price).finish())
    if ((entry.height + 1) % ticketPriceRule(tickets).priceWindow === 0) pending.set(CHAIN_KEYS.pool(entry.hashHex), new Writer().u32(await pool()).finish())
  }

  tip(): ChainEntry {
    return this.tipEntry
  }

  /** The tip and up to DIFFICULTY_WINDOW - 1 of its ancestors, oldest first: the blocks nextBits() reads. */
  tipWindow(): readonly ChainEntry[] {
    return this.tipWindowEntries
  }

  /**
   * The task's CHARGE_FOR_TASK on the main chain (the hash hex of its task), or undefined. A task
   * whose fee came in several coins may be charged by several transactions: the first in key order.
   */
  async chargeOf(taskHex: string): Promise<ChargeRecord | undefined> {
    const prefix = CHAIN_KEYS.charge(taskHex, '')
    for await (const [key, bytes] of this.store.iterate(prefix, { limit: 1 })) {
      return corruptIfThrows(() => chargeRecordFromBytes(key.slice(prefix.length), bytes), `charge record ${key}`)
    }
    return undefined
  }

  /** Rule: the compact bits required of a block on top of the tip (params.ts nextBits). */
  nextBits(): number {
    return nextBits(this.tipWindowEntries.map(timingOf), this.params)
  }

  getEntry(hashHex: string): Promise<ChainEntry | undefined> {
    return readEntry(this.store, hashHex)
  }

  async getBlock(hashHex: string): Promise<Block | undefined> {
    const bytes = await this.store.get(CHAIN_KEYS.block(hashHex))
    if (bytes === undefined) return undefined
    const block = corruptIfThrows(() => blockFromBytes(bytes), `block ${hashHex}`)
    if (toHex(headerHash(block.header)) !== hashHex) throw ledgerError('STORE_CORRUPT', `block stored under ${hashHex} has another hash`)
    return block
  }

  async has(hashHex: string): Promise<boolean> {
    return (await this.store.get(CHAIN_KEYS.entry(hashHex))) !== undefined
  }

  /** The main-chain entry at height h. */
  async getByHeight(h: number): Promise<ChainEntry | undefined> {
    if (!Number.isInteger(h) || h < 0 || h > this.tipEntry.height) return undefined
    const hash = await this.store.get(CHAIN_KEYS.height(h))
    return hash === undefined ? undefined : this.mustGetEntry(toHex(hash))
  }

  /** The newest n main-chain entries, tip first. */
  async recent(n: number): Promise<ChainEntry[]> {
    const out: ChainEntry[] = []
    if (n <= 0) return out
    for await (const [, hash] of this.store.iterate(CHAIN_KEYS.heightPrefix, { reverse: true, limit: n })) {
      out.push(await this.mustGetEntry(toHex(hash)))
    }
    return out
  }

  /** The unspent output at `outpoint` in the tip's UTXO set, or undefined (never created, or spent). */
  async utxo(outpoint: OutPoint): Promise<Coin | undefined> {
    const key = outpointKey(outpoint)
    const bytes = await this.store.get(CHAIN_KEYS.utxo(key))
    return bytes === undefined ? undefined : corruptIfThrows(() => coinFromBytes(bytes), `coin ${key}`)
  }

  /** Every unspent output paying `recipient` (an Ed25519 public key) in the tip's UTXO set, in outpoint order. */
  async coinsOf(recipient: Uint8Array): Promise<{ outpoint: OutPoint; coin: Coin }[]> {
    const prefix = CHAIN_KEYS.ownerPrefix(toHex(recipient))
    const out: { outpoint: OutPoint; coin: Coin }[] = []
    for await (const [key, bytes] of this.store.iterate(prefix)) {
      const op = key.slice(prefix.length)
      out.push({ outpoint: outpointFromKey(op), coin: corruptIfThrows(() => coinFromBytes(bytes), `coin ${op}`) })
    }
    return out
  }

  /** taskCoins' answer for one tip: the UTXO set changes only when the tip does */
  private taskCoinsAt?: { tip: string; coins: Promise<{ fees: TaskFees; joins: TaskJoins }> }

  /**
   * Every unspent task fee (PAY_FOR_TASK outputs), by task hash (hex). Scans the whole UTXO set
   * once per tip (the answer is shared: callers must not change it): a relay reads it on every
   * tick and many requests. An index by task is the next step when the scan itself grows costly.
   */
  async taskFees(): Promise<TaskFees> {
    return (await this.taskCoins()).fees
  }

  /** Every unspent joined stake (JOIN_TASK outputs), by task hash (hex): the same scan as taskFees. */
  async taskJoins(): Promise<TaskJoins> {
    return (await this.taskCoins()).joins
  }

  private taskCoins(): Promise<{ fees: TaskFees; joins: TaskJoins }> {
    const tip = this.tipEntry.hashHex
    if (this.taskCoinsAt?.tip !== tip) {
      const coins = this.scanTaskCoins()
      this.taskCoinsAt = { tip, coins }
      coins.catch(() => { if (this.taskCoinsAt?.coins === coins) this.taskCoinsAt = undefined }) // a failed scan is not kept
    }
    return this.taskCoinsAt!.coins
  }

  private async scanTaskCoins(): Promise<{ fees: TaskFees; joins: TaskJoins }> {
    const fees = new Map<string, { outpoint: OutPoint; coin: Coin }[]>()
    const joins = new Map<string, { outpoint: OutPoint; coin: Coin }[]>()
    for await (const [key, bytes] of this.store.iterate(CHAIN_KEYS.utxoPrefix)) {
      const coin = corruptIfThrows(() => coinFromBytes(bytes), `coin ${key}`)
      if (coin.lock.kind !== 'task-fee' && coin.lock.kind !== 'joined') continue
      const into = coin.lock.kind === 'task-fee' ? fees : joins
      const task = toHex(coin.lock.taskHash)
      const list = into.get(task) ?? []
      list.push({ outpoint: outpointFromKey(key.slice(CHAIN_KEYS.utxoPrefix.length)), coin })
      into.set(task, list)
    }
    return { fees, joins }
  }

  /** Sum of the unspent outputs paying `recipient`, whatever their locks and maturity. */
  async balance(recipient: Uint8Array): Promise<bigint> {
    let total = 0n
    for (const { coin } of await this.coinsOf(recipient)) total += coin.amount
    return total
  }

  /**
   * The money audit of the main chain, read from the store: what the
   * coinbases paid, what the transfers paid in fees (their spent coins,
   * from the undo data, minus their outputs), and what the UTXO set holds.
   * Every rule of utxo.ts keeps `utxo = coinbases - fees`: new money enters
   * only through coinbases, and a fee leaves the transfer to be claimed by a
   * coinbase (or by nobody). Reads every main-chain block: for audits and
   * tests, not for a hot path. Runs in the queue of addBlock, so a block
   * arriving meanwhile cannot make the blocks read and the UTXO set read
   * belong to different tips.
   */
  supply(): Promise<Supply> {
    const run = this.queue.then(() => this.supplyNow())
    this.queue = run.catch(() => undefined)
    return run
  }

  private async supplyNow(): Promise<Supply> {
    const tip = this.tipEntry
    let coinbases = 0n
    let fees = 0n
    for (let h = 1; h <= tip.height; h++) {
      const entry = await this.getByHeight(h)
      const block = entry === undefined ? undefined : await this.getBlock(entry.hashHex)
      const undoBytes = entry === undefined ? undefined : await this.store.get(CHAIN_KEYS.undo(entry.hashHex))
      if (entry === undefined || block === undefined || undoBytes === undefined) throw ledgerError('STORE_CORRUPT', `main-chain block or undo data at height ${h} is missing`)
      for (const tx of block.txs) {
        const paid = tx.outputs.reduce((a, o) => a + o.amount, 0n)
        if (tx.type === 'coinbase') coinbases += paid
        else fees -= paid
      }
      for (const [, coin] of corruptIfThrows(() => undoFromBytes(undoBytes), `undo data ${entry.hashHex}`).spent) fees += coin.amount
    }
    let utxo = 0n
    let coins = 0
    for await (const [key, bytes] of this.store.iterate(CHAIN_KEYS.utxoPrefix)) {
      utxo += corruptIfThrows(() => coinFromBytes(bytes), `coin ${key}`).amount
      coins++
    }
    return { height: tip.height, tip: tip.hashHex, coinbases, fees, utxo, coins }
  }

  /**
   * Validates and stores a block; calls are serialised so the tip cannot race.
   * Order: duplicate (LEDGER_DUPLICATE), parent (LEDGER_PARENT_UNKNOWN),
   * validateBlock, then, when it beats the tip (more cumulative work, or as
   * much and a lower hash), the transactions of the branch against the UTXO
   * set (utxo.ts connectBlock, after disconnecting the old branch), then
   * opts.checkProofOfUsefulWork, then one atomic batch with the block, its
   * entry, opts.extra and, for a new tip, the height index, the tip pointer,
   * the UTXO set's changes and the undo data.
   * Nothing is written when any step throws.
   */
  addBlock(block: Block, opts: AddOptions): Promise<AddResult> {
    const run = this.queue.then(() => this.addBlockNow(block, opts))
    this.queue = run.catch(() => undefined)
    return run
  }

  private async addBlockNow(block: Block, opts: AddOptions): Promise<AddResult> {
    assertExtraKeys(opts.extra)
    const hashHex = toHex(headerHash(block.header))
    if (await this.has(hashHex)) throw ledgerError('DUPLICATE', `block ${hashHex} is already stored`, { hash: hashHex })
    const parentHex = toHex(block.header.prevHash)
    const parent = await this.getEntry(parentHex)
    if (parent === undefined) throw ledgerError('PARENT_UNKNOWN', `parent ${parentHex} of block ${hashHex} is unknown`, { hash: hashHex, parent: parentHex })
    // the parent is nearly always the tip, whose window is kept
    const window = parent.hashHex === this.tipEntry.hashHex ? this.tipWindowEntries : await entryWindow(this.store, parent)
    const v = validateBlock(parent, block, this.params, opts.now, window.map(timingOf))
    const entry = createChainEntry(block, v.height, v.cumulativeWork, opts.now, v.hash)
    const oldTip = this.tipEntry
    const newTip = beats(entry, oldTip)
    const path = newTip ? await this.findPath(oldTip, entry) : undefined
    const utxo = path === undefined ? undefined : await this.switchUtxo(path, entry, block, v.txHashes, opts.verify)

    const learnt = opts.checkProofOfUsefulWork !== undefined ? await opts.checkProofOfUsefulWork(block, parent, v.hash) : undefined
    assertExtraKeys(learnt ?? undefined)
    const extra = [...Object.entries(opts.extra ?? {}), ...Object.entries(learnt ?? {})]

    const ops: BatchOp[] = [
      { type: 'put', key: CHAIN_KEYS.block(hashHex), value: blockToBytes(block) },
      { type: 'put', key: CHAIN_KEYS.entry(hashHex), value: chainEntryToBytes(entry) },
      ...extra.map(([key, value]): BatchOp => ({ type: 'put', key, value })),
    ]
    if (path === undefined) {
      await this.store.batch(ops)
      return { status: 'side', entry, disconnected: [], connected: [] }
    }
    const { disconnected, connected } = path
    for (const c of connected) ops.push({ type: 'put', key: CHAIN_KEYS.height(c.height), value: c.hash })
    for (const d of disconnected) if (d.height > entry.height) ops.push({ type: 'del', key: CHAIN_KEYS.height(d.height) })
    ops.push(...utxo!.ops)
    ops.push({ type: 'put', key: CHAIN_KEYS.tip, value: entry.hash }, { type: 'put', key: CHAIN_KEYS.utxoBest, value: entry.hash })
    await this.store.batch(ops)
    // the tip and what follows from it change together, with no await between: a mempool reading the
    // new tip with the old ticket price would admit purchases no block on it may hold
    this.tipEntry = entry
    this.tipWindowEntries = extendWindow(window, entry)
    this.nextPrice = utxo!.nextPrice
    return { status: disconnected.length === 0 ? 'extended' : 'reorg', entry, disconnected, connected }
  }

  /**
   * The UTXO set's changes (as batch ops) to move the tip along `path`:
   * disconnects the old branch (tip first) with its undo data, then
   * connects the new branch (oldest first; `block` is its last block, not
   * stored yet). Reads the store, writes nothing; throws the first broken rule.
   */
  private async switchUtxo(
    path: { disconnected: ChainEntry[]; connected: ChainEntry[] }, entry: ChainEntry, block: Block, txHashes: Uint8Array[], verify: VerifyFn | undefined,
  ): Promise<{ ops: BatchOp[]; nextPrice: bigint | undefined }> {
    const view = new StoreCoinView(this.store)
    const ops: BatchOp[] = []
    for (const d of path.disconnected) {
      const old = await this.mustGetBlock(d.hashHex)
      const undoBytes = await this.store.get(CHAIN_KEYS.undo(d.hashHex))
      if (undoBytes === undefined) throw ledgerError('STORE_CORRUPT', `undo data of main-chain block ${d.hashHex} is missing`)
      const undo: BlockUndo = corruptIfThrows(() => undoFromBytes(undoBytes), `undo data ${d.hashHex}`)
      const hashes = old.txs.map(txHash)
      await view.load(old.txs.flatMap((tx, i) => tx.outputs.map((_, index) => outpointKey({ txHash: hashes[i]!, index }))))
      disconnectBlock(view, old.txs, undo, hashes)
      ops.push({ type: 'del', key: CHAIN_KEYS.undo(d.hashHex) })
      ops.push(...chargeOps({ kind: 'del' }, old.txs, d.height, hashes))
    }
    const pending = new Map<string, Uint8Array>()
    let parent = path.connected.length === 0 ? undefined : await this.parentOf(path.connected[0]!)
    for (const c of path.connected) {
      const last = c === path.connected[path.connected.length - 1]
      const b = last ? block : await this.mustGetBlock(c.hashHex)
      await view.load(b.txs.flatMap((tx) => tx.type === 'transfer' ? tx.inputs.map((i) => outpointKey(i.prevout)) : []))
      // on the tip, the price is the one kept with it
      const ticketPrice = parent!.hashHex === this.tipEntry.hashHex ? this.nextPrice : await this.priceAfter(parent!, pending)
      const { undo } = await connectBlock(view, b.txs, c.height, this.params, { verify, txHashes: last ? txHashes : undefined, ticketPrice, parent: parent! })
      ops.push({ type: 'put', key: CHAIN_KEYS.undo(c.hashHex), value: undoToBytes(undo) }, ...chargeOps({ kind: 'put', undo }, b.txs, c.height, last ? txHashes : undefined))
      await this.priceRecords(c, ticketPrice, () => view.ticketPool(c.height), pending)
      parent = c
    }
    const nextPrice = await this.priceAfter(entry, pending)
    for (const [key, value] of pending) ops.push({ type: 'put', key, value })
    return { ops: [...view.ops(), ...ops], nextPrice }
  }

  private async mustGetBlock(hashHex: string): Promise<Block> {
    const b = await this.getBlock(hashHex)
    if (b === undefined) throw ledgerError('STORE_CORRUPT', `block ${hashHex} is referenced but missing`)
    return b
  }

  /** Walks both branches back to their common ancestor. */
  private async findPath(from: ChainEntry, to: ChainEntry): Promise<{ disconnected: ChainEntry[]; connected: ChainEntry[] }> {
    const disconnected: ChainEntry[] = []
    const connected: ChainEntry[] = []
    let a = from
    let b = to
    while (a.height > b.height) { disconnected.push(a); a = await this.parentOf(a) }
    while (b.height > a.height) { connected.push(b); b = await this.parentOf(b) }
    while (a.hashHex !== b.hashHex) {
      disconnected.push(a); a = await this.parentOf(a)
      connected.push(b); b = await this.parentOf(b)
    }
    return { disconnected, connected: connected.reverse() }
  }

  private parentOf(e: ChainEntry): Promise<ChainEntry> {
    if (e.height === 0) throw ledgerError('STORE_CORRUPT', `two branches without a common genesis at ${e.hashHex}`)
    return this.mustGetEntry(toHex(e.header.prevHash))
  }

  private async mustGetEntry(hashHex: string): Promise<ChainEntry> {
    const e = await this.getEntry(hashHex)
    if (e === undefined) throw ledgerError('STORE_CORRUPT', `entry ${hashHex} is referenced but missing`)
    return e
  }
}

/** Puts of one coin: the UTXO set and the recipient index. */
function coinPuts(key: string, coin: Coin): BatchOp[] {
  const value = coinToBytes(coin)
  return [
    { type: 'put', key: CHAIN_KEYS.utxo(key), value },
    { type: 'put', key: CHAIN_KEYS.owner(toHex(coin.recipient), key), value },
  ]
}

/**
 * A UtxoView over the store for one tip change: reads what load() fetched,
 * keeps every change in memory, and turns the end state into batch ops.
 */
class StoreCoinView implements UtxoView {
  /** what the store holds (null: nothing), for the keys loaded */
  private readonly stored = new Map<string, Coin | null>()
  /** the changes (null: spent) */
  private readonly changes = new Map<string, Coin | null>()

  constructor(private readonly store: KeyValueStore) {}

  async load(keys: Iterable<string>): Promise<void> {
    for (const key of keys) {
      if (this.stored.has(key)) continue
      const bytes = await this.store.get(CHAIN_KEYS.utxo(key))
      this.stored.set(key, bytes === undefined ? null : corruptIfThrows(() => coinFromBytes(bytes), `coin ${key}`))
    }
  }

  get(key: string): Coin | undefined {
    const c = this.changes.get(key)
    if (c !== undefined) return c ?? undefined
    return this.stored.get(key) ?? undefined
  }

  set(key: string, coin: Coin): void {
    this.changes.set(key, coin)
  }

  delete(key: string): void {
    this.changes.set(key, null)
  }

  /** ticketPool over the store's coins with this view's changes: a scan of the whole set */
  async ticketPool(height: number): Promise<number> {
    let n = ticketPool([...this.changes.values()].filter((c): c is Coin => c !== null), height)
    for await (const [k, bytes] of this.store.iterate(CHAIN_KEYS.utxoPrefix)) {
      if (this.changes.has(k.slice(CHAIN_KEYS.utxoPrefix.length))) continue
      n += ticketPool([corruptIfThrows(() => coinFromBytes(bytes), `coin ${k}`)], height)
    }
    return n
  }

  ops(): BatchOp[] {
    const ops: BatchOp[] = []
    for (const [key, coin] of this.changes) {
      const before = this.stored.get(key) ?? null
      if (before !== null) {
        ops.push({ type: 'del', key: CHAIN_KEYS.utxo(key) }, { type: 'del', key: CHAIN_KEYS.owner(toHex(before.recipient), key) })
      }
      if (coin !== null) ops.push(...coinPuts(key, coin))
    }
    return ops
  }
}

/** Fork choice: more cumulative work wins; equal work goes to the lower hash. */
export function beats(candidate: ChainEntry, tip: ChainEntry): boolean {
  if (candidate.cumulativeWork !== tip.cumulativeWork) return candidate.cumulativeWork > tip.cumulativeWork
  return compareBytes(candidate.hash, tip.hash) < 0
}

/** `entry` and up to DIFFICULTY_WINDOW - 1 of its ancestors, oldest first. */
async function entryWindow(store: KeyValueStore, entry: ChainEntry): Promise<ChainEntry[]> {
  const out = [entry]
  for (let e = entry; out.length < DIFFICULTY_WINDOW && e.height > 0;) {
    const parentHex = toHex(e.header.prevHash)
    const parent = await readEntry(store, parentHex)
    if (parent === undefined) throw ledgerError('STORE_CORRUPT', `the entry of ${parentHex}, parent of stored block ${e.hashHex}, is missing`)
    out.unshift(parent)
    e = parent
  }
  return out
}

async function readEntry(store: KeyValueStore, hashHex: string): Promise<ChainEntry | undefined> {
  const bytes = await store.get(CHAIN_KEYS.entry(hashHex))
  if (bytes === undefined) return undefined
  const entry = corruptIfThrows(() => chainEntryFromBytes(bytes), `entry ${hashHex}`)
  if (entry.hashHex !== hashHex) throw ledgerError('STORE_CORRUPT', `entry stored under ${hashHex} has hash ${entry.hashHex}`)
  return entry
}

function corruptIfThrows<T>(decode: () => T, what: string): T {
  try {
    return decode()
  } catch (e) {
    if (!isPouwError(e)) throw e
    throw ledgerError('STORE_CORRUPT', `${what} does not decode: ${e.message}`, { cause: e.code })
  }
}

function assertExtraKeys(extra: Record<string, Uint8Array> | undefined): void {
  for (const key of Object.keys(extra ?? {})) {
    if (key.startsWith(CHAIN_KEY_PREFIX)) throw new Error(`extra key ${key} is inside the chain's own prefix ${CHAIN_KEY_PREFIX}`)
  }
}
