import { blockFromBytes, blockToBytes, bytesEqual, compareBytes, headerHash, isPouwError, toHex, type Block } from '@pouw/protocol'
import { chainEntryFromBytes, chainEntryToBytes, createChainEntry, type ChainEntry } from './chainEntry.js'
import { ledgerError } from './errors.js'
import { createGenesis, createGenesisEntry, type ChainParams } from './params.js'
import type { BatchOp, KeyValueStore } from './store.js'
import { validateBlock } from './validate.js'

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
} as const

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
 */
export class Chain {
  private queue: Promise<unknown> = Promise.resolve()

  private constructor(
    private readonly store: KeyValueStore,
    readonly params: ChainParams,
    readonly genesisHash: Uint8Array,
    private tipEntry: ChainEntry,
  ) {}

  /**
   * Writes the genesis block into an empty store; otherwise checks that the
   * stored genesis is params' (else LEDGER_GENESIS_MISMATCH) and loads the tip.
   */
  static async open(store: KeyValueStore, params: ChainParams): Promise<Chain> {
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
      ])
      return new Chain(store, params, genesisHash, entry)
    }
    if (!bytesEqual(stored, genesisHash)) {
      throw ledgerError('GENESIS_MISMATCH', `the store's genesis ${toHex(stored)} is not ${toHex(genesisHash)} of network ${params.networkName}`,
        { stored: toHex(stored), expected: toHex(genesisHash) })
    }
    const tipHash = await store.get(CHAIN_KEYS.tip)
    const tip = tipHash === undefined ? undefined : await readEntry(store, toHex(tipHash))
    if (tip === undefined) throw ledgerError('STORE_CORRUPT', 'the store has a genesis but no tip entry')
    return new Chain(store, params, genesisHash, tip)
  }

  tip(): ChainEntry {
    return this.tipEntry
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

  /**
   * Validates and stores a block; calls are serialised so the tip cannot race.
   * Order: duplicate (LEDGER_DUPLICATE), parent (LEDGER_PARENT_UNKNOWN),
   * validateBlock, then opts.checkProofOfUsefulWork, then one atomic batch
   * with the block, its entry, opts.extra and, when it beats the tip (more
   * cumulative work, or as much and a lower hash), the height index and tip
   * pointer.
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
    const v = validateBlock(parent, block, this.params, opts.now)
    const learnt = opts.checkProofOfUsefulWork !== undefined ? await opts.checkProofOfUsefulWork(block, parent, v.hash) : undefined
    assertExtraKeys(learnt ?? undefined)
    const extra = [...Object.entries(opts.extra ?? {}), ...Object.entries(learnt ?? {})]

    const entry = createChainEntry(block, v.height, v.cumulativeWork, opts.now, v.hash)
    const ops: BatchOp[] = [
      { type: 'put', key: CHAIN_KEYS.block(hashHex), value: blockToBytes(block) },
      { type: 'put', key: CHAIN_KEYS.entry(hashHex), value: chainEntryToBytes(entry) },
      ...extra.map(([key, value]): BatchOp => ({ type: 'put', key, value })),
    ]
    const oldTip = this.tipEntry
    if (!beats(entry, oldTip)) {
      await this.store.batch(ops)
      return { status: 'side', entry, disconnected: [], connected: [] }
    }
    const { disconnected, connected } = await this.findPath(oldTip, entry)
    for (const c of connected) ops.push({ type: 'put', key: CHAIN_KEYS.height(c.height), value: c.hash })
    for (const d of disconnected) if (d.height > entry.height) ops.push({ type: 'del', key: CHAIN_KEYS.height(d.height) })
    ops.push({ type: 'put', key: CHAIN_KEYS.tip, value: entry.hash })
    await this.store.batch(ops)
    this.tipEntry = entry
    return { status: disconnected.length === 0 ? 'extended' : 'reorg', entry, disconnected, connected }
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

/** Fork choice: more cumulative work wins; equal work goes to the lower hash. */
export function beats(candidate: ChainEntry, tip: ChainEntry): boolean {
  if (candidate.cumulativeWork !== tip.cumulativeWork) return candidate.cumulativeWork > tip.cumulativeWork
  return compareBytes(candidate.hash, tip.hash) < 0
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
