import { MAX_TXS, toHex, txHash, txToBytes, type Block, type OutPoint, type TransferTx, type Tx } from '@pouw/protocol'
import type { AddResult } from './chain.js'
import type { ChainEntry } from './chainEntry.js'
import { ledgerError } from './errors.js'
import { DEFAULT_MEMPOOL_POLICY, checkTicketPurchases, type ChainParams, type MempoolPolicy } from './params.js'
import { checkTx, createdCoins, isJoin, outpointKey, planTransfer, verifySignatures, type Coin, type VerifyFn } from './utxo.js'

/** What the mempool reads from the chain (Chain has all of it). */
export interface MempoolChain {
  readonly params: ChainParams
  tip(): ChainEntry
  utxo(outpoint: OutPoint): Promise<Coin | undefined>
  getBlock(hashHex: string): Promise<Block | undefined>
  /** the ticket price for the block after the tip (Chain.ticketPrice; undefined without ticket rules) */
  ticketPrice(): bigint | undefined
}

export interface MempoolEntry {
  tx: TransferTx
  hash: Uint8Array
  hashHex: string
  /** encoded bytes */
  size: number
  fee: bigint
  /** arrival order: a parent always arrives before its children */
  seq: number
  /** the outpoints it spends */
  spends: string[]
  /** the lowest revokeBefore of the task fees it spends: invalid in blocks at or above it */
  validBelow: number
  /** tickets it buys (stake outputs), against the block's cap */
  tickets: number
}

export interface BlockTemplate {
  /** parents before children */
  txs: TransferTx[]
  /** what the coinbase may claim on top of the subsidy */
  fees: bigint
  /** sum of 4 + size over txs: what they add to the block's encoding */
  bytes: number
}

/** a.fee / a.size against b's, exactly; ties go to the earlier arrival */
function higherRate(a: MempoolEntry, b: MempoolEntry): number {
  const d = a.fee * BigInt(b.size) - b.fee * BigInt(a.size)
  if (d !== 0n) return d > 0n ? -1 : 1
  return a.seq - b.seq
}

/**
 * Transfers waiting for a block (paper 003 §3.2: "before inclusion in blocks,
 * transactions wait in the mempool"). Policy, not consensus:
 * - a transfer is checked by the consensus rules against the tip's UTXO set
 *   plus the outputs of transfers already here (a child may spend its
 *   unconfirmed parent), for a block at tip height + 1, signatures included;
 * - no two transfers here spend one outpoint (LEDGER_MEMPOOL_CONFLICT: the
 *   first seen stays, no replacement);
 * - fee >= policy.minFeeRate x size (LEDGER_MEMPOOL_FEE_TOO_LOW);
 * - size <= policy.maxTxBytes (LEDGER_MEMPOOL_TOO_LARGE); a coinbase is
 *   refused (LEDGER_BAD_TX), and one already here (LEDGER_MEMPOOL_DUPLICATE);
 * - at most policy.maxBytes in all: a newcomer evicts the lowest fee rates
 *   (with their descendants) if it pays a higher rate than all of them,
 *   else it is refused (LEDGER_MEMPOOL_FULL).
 * Calls are serialised, so checks and inserts cannot interleave.
 */
export class Mempool {
  private readonly entries = new Map<string, MempoolEntry>()
  /** outpointKey -> hashHex of the entry spending it */
  private readonly spentBy = new Map<string, string>()
  private bytes = 0
  private seq = 0
  private queue: Promise<unknown> = Promise.resolve()
  /** the ticket price every entry was last checked against */
  private price: bigint | undefined
  /** the block the entries were last checked against (update's last block): the chain's tip moves first */
  private synced: string

  constructor(
    private readonly chain: MempoolChain,
    readonly policy: MempoolPolicy = DEFAULT_MEMPOOL_POLICY,
    private readonly verifyFn?: VerifyFn,
  ) {
    this.price = chain.ticketPrice()
    this.synced = chain.tip().hashHex
  }

  /**
   * The block (hex hash) the entries were last checked against. Chain.addBlock moves the tip before
   * update() has dropped the block's transfers: a template for a block on the new tip is built
   * from the mempool only once this is that tip.
   */
  get syncedTo(): string { return this.synced }
  get count(): number { return this.entries.size }
  get totalBytes(): number { return this.bytes }
  has(hashHex: string): boolean { return this.entries.has(hashHex) }
  get(hashHex: string): MempoolEntry | undefined { return this.entries.get(hashHex) }
  /** Whether a transfer here spends `outpoint` (wallets exclude those coins). */
  isSpent(outpoint: OutPoint): boolean { return this.spentBy.has(outpointKey(outpoint)) }
  /** Entries in arrival order. */
  all(): MempoolEntry[] { return [...this.entries.values()].sort((a, b) => a.seq - b.seq) }
  /** Entries by fee rate, highest first (earlier arrival on a tie): the order selectForBlock considers them in. */
  byFeeRate(): MempoolEntry[] { return [...this.entries.values()].sort(higherRate) }

  /** Checks and admits a transfer; throws the rule it breaks. */
  add(tx: Tx): Promise<MempoolEntry> {
    return this.serial(() => this.addNow(tx))
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const run = this.queue.then(f)
    this.queue = run.catch(() => undefined)
    return run
  }

  private async addNow(tx: Tx): Promise<MempoolEntry> {
    if (tx.type !== 'transfer') throw ledgerError('BAD_TX', 'a coinbase is valid only in its own block')
    const bytes = txToBytes(tx)
    if (bytes.length > this.policy.maxTxBytes) {
      throw ledgerError('MEMPOOL_TOO_LARGE', `transaction is ${bytes.length} bytes, this mempool takes at most ${this.policy.maxTxBytes}`, { size: bytes.length })
    }
    const hash = txHash(tx)
    const hashHex = toHex(hash)
    if (this.entries.has(hashHex)) throw ledgerError('MEMPOOL_DUPLICATE', `transaction ${hashHex} is already in the mempool`, { hash: hashHex })
    checkTx(tx)
    // a purchase no block may hold would wait forever
    const tickets = checkTicketPurchases([tx], this.chain.params, this.chain.ticketPrice())
    for (const i of tx.inputs) {
      const key = outpointKey(i.prevout)
      const other = this.spentBy.get(key)
      if (other !== undefined) throw ledgerError('MEMPOOL_CONFLICT', `outpoint ${key} is already spent by mempool transaction ${other}`, { outpoint: key, by: other })
    }
    // the coins: outputs of mempool parents, else the tip's UTXO set
    const coins = new Map<string, Coin>()
    const height = this.chain.tip().height + 1
    for (const i of tx.inputs) {
      const key = outpointKey(i.prevout)
      const parent = this.entries.get(toHex(i.prevout.txHash))
      if (parent !== undefined) {
        const created = createdCoins(parent.tx, parent.hash, height).find(([k]) => k === key)
        if (created !== undefined) coins.set(key, created[1])
        continue
      }
      const coin = await this.chain.utxo(i.prevout)
      if (coin !== undefined) coins.set(key, coin)
    }
    const plan = planTransfer(tx, (k) => coins.get(k), () => false, height, this.chain.params, 0, hash)
    const minFee = this.policy.minFeeRate * BigInt(bytes.length)
    if (plan.fee < minFee) {
      throw ledgerError('MEMPOOL_FEE_TOO_LOW', `fee ${plan.fee} is below ${minFee} (${this.policy.minFeeRate} per byte x ${bytes.length} bytes)`,
        { fee: String(plan.fee), min: String(minFee) })
    }
    await verifySignatures(plan.sigChecks, this.verifyFn)
    let validBelow = Number.POSITIVE_INFINITY
    // a revocation must be mined below revokeBefore; a charge (tx.charge) only from there, and a
    // client's reclaim of an uncharged fee from its reclaim height on, so they have no such bound;
    // a join, below its ticket's expiry
    if (tx.charge === undefined) {
      for (const [, coin] of plan.spent) {
        if (coin.lock.kind === 'task-fee' && height < coin.lock.revokeBefore) validBelow = Math.min(validBelow, coin.lock.revokeBefore)
        if (coin.lock.kind === 'stake' && isJoin(tx)) validBelow = Math.min(validBelow, coin.lock.expiry)
      }
    }
    for (const i of tx.inputs) {
      const parent = this.entries.get(toHex(i.prevout.txHash))
      if (parent !== undefined) validBelow = Math.min(validBelow, parent.validBelow)
    }
    const entry: MempoolEntry = {
      tx, hash, hashHex, size: bytes.length, fee: plan.fee, seq: this.seq++, spends: plan.spent.map(([k]) => k), validBelow, tickets,
    }
    this.makeRoom(entry)
    this.entries.set(hashHex, entry)
    for (const k of entry.spends) this.spentBy.set(k, hashHex)
    this.bytes += entry.size
    return entry
  }

  /** Evicts the lowest fee rates (never the newcomer's own ancestors) until it fits, or refuses it. */
  private makeRoom(newcomer: MempoolEntry): void {
    let over = this.bytes + newcomer.size - this.policy.maxBytes
    if (over <= 0) return
    const ancestors = this.ancestors(newcomer)
    const victims: MempoolEntry[] = []
    for (const e of [...this.entries.values()].sort((a, b) => higherRate(b, a))) {
      if (over <= 0) break
      if (ancestors.has(e.hashHex) || victims.includes(e)) continue
      if (higherRate(e, newcomer) <= 0) {
        throw ledgerError('MEMPOOL_FULL', `the mempool is full (${this.bytes} of ${this.policy.maxBytes} bytes) of transactions paying at least this fee rate`)
      }
      for (const d of this.withDescendants(e)) {
        if (!victims.includes(d)) { victims.push(d); over -= d.size }
      }
    }
    if (over > 0) throw ledgerError('MEMPOOL_FULL', `the transaction does not fit in ${this.policy.maxBytes} bytes`)
    for (const v of victims) this.removeEntry(v)
  }

  private ancestors(e: MempoolEntry): Set<string> {
    const out = new Set<string>()
    const todo = [e]
    while (todo.length > 0) {
      for (const i of todo.pop()!.tx.inputs) {
        const p = this.entries.get(toHex(i.prevout.txHash))
        if (p !== undefined && !out.has(p.hashHex)) { out.add(p.hashHex); todo.push(p) }
      }
    }
    return out
  }

  /** `e` and every entry that spends its outputs, transitively (children after parents). */
  private withDescendants(e: MempoolEntry): MempoolEntry[] {
    const out = [e]
    for (let n = 0; n < out.length; n++) {
      const x = out[n]!
      for (let index = 0; index < x.tx.outputs.length; index++) {
        const child = this.spentBy.get(outpointKey({ txHash: x.hash, index }))
        const c = child === undefined ? undefined : this.entries.get(child)
        if (c !== undefined && !out.includes(c)) out.push(c)
      }
    }
    return out
  }

  private removeEntry(e: MempoolEntry): void {
    if (!this.entries.delete(e.hashHex)) return
    for (const k of e.spends) if (this.spentBy.get(k) === e.hashHex) this.spentBy.delete(k)
    this.bytes -= e.size
  }

  /**
   * The block template: highest fee rate first, a child only after its
   * parents (no child-pays-for-parent), within `maxBytes` of transaction
   * encodings (4 + size each), MAX_TXS - 1 transfers and the block's ticket
   * cap (params.tickets.maxPerBlock: purchases beyond it wait for a later block).
   */
  selectForBlock(maxBytes: number): BlockTemplate {
    const sorted = this.byFeeRate()
    const included = new Set<string>()
    const out: BlockTemplate = { txs: [], fees: 0n, bytes: 0 }
    const maxTickets = this.chain.params.tickets?.maxPerBlock ?? Number.POSITIVE_INFINITY
    let tickets = 0
    let progress = true
    while (progress && out.txs.length < MAX_TXS - 1) {
      progress = false
      for (const e of sorted) {
        if (included.has(e.hashHex) || out.bytes + 4 + e.size > maxBytes || out.txs.length >= MAX_TXS - 1) continue
        const parentsIn = e.tx.inputs.every((i) => {
          const p = toHex(i.prevout.txHash)
          return !this.entries.has(p) || included.has(p)
        })
        if (!parentsIn) continue
        if (tickets + e.tickets > maxTickets) continue
        tickets += e.tickets
        included.add(e.hashHex)
        out.txs.push(e.tx)
        out.fees += e.fee
        out.bytes += 4 + e.size
        progress = true
      }
    }
    return out
  }

  /**
   * Follows the chain after Chain.addBlock: on 'extended', drops the block's
   * transfers and whatever conflicts with them (with descendants) and the
   * task-fee revocations the new height makes invalid (a reclaim of an uncharged fee stays valid); on 'reorg', takes
   * back the disconnected blocks' transfers and re-checks everything
   * against the new tip (what no longer passes is dropped).
   */
  update(result: AddResult): Promise<void> {
    return this.serial(async () => {
      if (result.status === 'side') return
      if (result.status === 'extended') {
        for (const c of result.connected) this.removeConfirmed(await this.mustGetBlock(c.hashHex))
        const next = this.chain.tip().height + 1
        for (const e of [...this.entries.values()]) {
          if (this.entries.has(e.hashHex) && e.validBelow <= next) for (const d of this.withDescendants(e)) this.removeEntry(d)
        }
        // the ticket price changed (at a window boundary): purchases below the new one wait in vain
        const price = this.chain.ticketPrice()
        if (price !== this.price) {
          for (const e of [...this.entries.values()]) {
            if (e.tickets === 0 || !this.entries.has(e.hashHex)) continue
            try { checkTicketPurchases([e.tx], this.chain.params, price) } catch { for (const d of this.withDescendants(e)) this.removeEntry(d) }
          }
        }
        this.price = price
        this.synced = result.entry.hashHex
        return
      }
      const confirmed = new Set<string>()
      for (const c of result.connected) for (const tx of (await this.mustGetBlock(c.hashHex)).txs) confirmed.add(toHex(txHash(tx)))
      const back: Tx[] = []
      for (const d of [...result.disconnected].reverse()) back.push(...(await this.mustGetBlock(d.hashHex)).txs.slice(1))
      back.push(...this.all().map((e) => e.tx))
      this.entries.clear()
      this.spentBy.clear()
      this.bytes = 0
      this.price = this.chain.ticketPrice()
      for (const tx of back) {
        if (confirmed.has(toHex(txHash(tx)))) continue
        try {
          await this.addNow(tx)
        } catch {
          // no longer valid on the new branch (spent there, immature, locked, conflicting): dropped
        }
      }
      this.synced = result.entry.hashHex
    })
  }

  private removeConfirmed(block: Block): void {
    for (const tx of block.txs) {
      if (tx.type !== 'transfer') continue
      const e = this.entries.get(toHex(txHash(tx)))
      if (e !== undefined) this.removeEntry(e) // its children stay: their parent is confirmed now
      for (const i of tx.inputs) {
        const other = this.spentBy.get(outpointKey(i.prevout))
        const o = other === undefined ? undefined : this.entries.get(other)
        if (o !== undefined) for (const d of this.withDescendants(o)) this.removeEntry(d)
      }
    }
  }

  private async mustGetBlock(hashHex: string): Promise<Block> {
    const b = await this.chain.getBlock(hashHex)
    if (b === undefined) throw ledgerError('STORE_CORRUPT', `block ${hashHex} of a chain update is missing`)
    return b
  }
}
