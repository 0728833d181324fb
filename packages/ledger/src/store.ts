import type { ClassicLevel } from 'classic-level'

export type BatchOp = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string }

export interface IterateOptions {
  /** descending key order */
  reverse?: boolean
  /** at most this many entries */
  limit?: number
  /** only keys >= gte / <= lte (full keys, within the prefix) */
  gte?: string
  lte?: string
}

/** Whether `key` is within the options' bounds. */
function inBounds(key: string, opts: IterateOptions): boolean {
  return (opts.gte === undefined || key >= opts.gte) && (opts.lte === undefined || key <= opts.lte)
}

/**
 * The storage the ledger needs. Keys are strings ordered as their UTF-8
 * bytes (keep them ASCII); values are bytes. Implementations: MemoryStore
 * (tests, browser) and LevelStore (Node); test/storeCompliance.ts holds
 * the contract every implementation passes.
 */
export interface KeyValueStore {
  get(key: string): Promise<Uint8Array | undefined>
  /** Applies all ops in order, or none. Atomic and durable: once it resolves, even a SIGKILL cannot lose it. */
  batch(ops: BatchOp[]): Promise<void>
  /** Entries whose key starts with `prefix`, in key order, read from a snapshot taken when iteration starts. */
  iterate(prefix: string, opts?: IterateOptions): AsyncIterable<[string, Uint8Array]>
  close(): Promise<void>
}

/** The smallest string greater than every string that starts with `prefix` (ASCII prefixes). */
function prefixEnd(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)
}

function storeClosed(): Error {
  return new Error('the store is closed')
}

/** In-memory store. Values are copied in and out, as a real store would. */
export class MemoryStore implements KeyValueStore {
  private readonly map = new Map<string, Uint8Array>()
  private closed = false

  async get(key: string): Promise<Uint8Array | undefined> {
    if (this.closed) throw storeClosed()
    return this.map.get(key)?.slice()
  }

  async batch(ops: BatchOp[]): Promise<void> {
    if (this.closed) throw storeClosed()
    const staged = ops.map((op) => [op.key, op.type === 'put' ? op.value.slice() : undefined] as const)
    for (const [key, value] of staged) {
      if (value === undefined) this.map.delete(key)
      else this.map.set(key, value)
    }
  }

  async *iterate(prefix: string, opts: IterateOptions = {}): AsyncIterable<[string, Uint8Array]> {
    if (this.closed) throw storeClosed()
    const keys = [...this.map.keys()].filter((k) => k.startsWith(prefix) && inBounds(k, opts)).sort()
    if (opts.reverse === true) keys.reverse()
    const snapshot = keys.slice(0, opts.limit ?? keys.length).map((k): [string, Uint8Array] => [k, this.map.get(k)!.slice()])
    yield* snapshot
  }

  async close(): Promise<void> {
    this.closed = true
  }

  /** Number of keys (for tests). */
  get size(): number {
    return this.map.size
  }
}

/** A copy as a plain Uint8Array (classic-level hands out Buffers that may share a pool). */
function plain(v: Uint8Array): Uint8Array {
  return new Uint8Array(v)
}

const CLASSIC_LEVEL = 'classic-level'

/**
 * LevelDB through classic-level (Node only; loaded on open so that browser
 * bundles of this package never pull it in). Every batch is written with
 * `sync: true`: it reaches the disk before it resolves.
 */
export class LevelStore implements KeyValueStore {
  private constructor(private readonly db: ClassicLevel<string, Uint8Array>) {}

  /** Opens (creating it and its parent directories if needed) the database in `dir`. */
  static async open(dir: string): Promise<LevelStore> {
    // a specifier bundlers leave alone: the browser build never sees classic-level
    const { ClassicLevel } = (await import(/* @vite-ignore */ CLASSIC_LEVEL)) as typeof import('classic-level')
    const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
    await db.open()
    return new LevelStore(db)
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const v = await this.db.get(key)
    return v === undefined ? undefined : plain(v)
  }

  async batch(ops: BatchOp[]): Promise<void> {
    if (ops.length > 0) await this.db.batch(ops, { sync: true })
  }

  async *iterate(prefix: string, opts: IterateOptions = {}): AsyncIterable<[string, Uint8Array]> {
    const range: { gte?: string; lt?: string; lte?: string } = prefix === '' ? {} : { gte: prefix, lt: prefixEnd(prefix) }
    if (opts.gte !== undefined && (range.gte === undefined || opts.gte > range.gte)) range.gte = opts.gte
    if (opts.lte !== undefined && (range.lt === undefined || opts.lte < range.lt)) { range.lte = opts.lte; delete range.lt }
    const it = this.db.iterator({ ...range, reverse: opts.reverse ?? false, limit: opts.limit ?? -1 })
    for await (const [k, v] of it) yield [k, plain(v)]
  }

  async close(): Promise<void> {
    await this.db.close()
  }
}
