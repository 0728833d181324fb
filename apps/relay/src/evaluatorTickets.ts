import {
  PPM, bytesEqual, deriveVrfSecretKey, fromHex, isPouwError, proveSelection, roleIndex, toHex, txHash, verifySelection, vrfPublicKey,
  type KeyPair, type OutPoint, type Tx, type TransferTx,
} from '@pouw/protocol'
import { TASK_FEE_RECLAIM_BLOCKS, Wallet, outpointKey, spendRuleBroken, type Chain, type Coin } from '@pouw/ledger'
import { JOIN_BLOCKS, TASK_PREFERENCES, TICKET_PARAMS } from './taskRuns.js'

/**
 * A relay's evaluator tickets (paper 003 §4.4: "Evaluators are selected using a matching algorithm
 * similar to the one used for worker nodes"). The relay's verifier key is its wallet: it earns the
 * verifiers' 10% of each block's subsidy whose approval it collects (docs/protocol.md §9.6), stakes
 * it on evaluator tickets (BUY_TICKETS, role evaluator, its VRF key derived from the verifier key),
 * and joins every committed task with one (JOIN_TASK with its VRF proof over the task's definition
 * block); taskRuns.ts selects each task's evaluators from those joins.
 */
export interface EvaluatorTickets {
  /** buys a ticket when fewer than TICKETS_KEPT would still be live for a task defined now, and the wallet can pay for one */
  keep(): Promise<void>
  /**
   * JOIN_TASK for `task`, defined at `tdb`, with the first ticket live there that no transaction in
   * the mempool spends; its transaction's hash, or undefined when no ticket can join (the reason is logged once)
   */
  join(task: string, tdb: { height: number; hash: string }): Promise<string | undefined>
  /** the mempool still holds this transaction of ours (hex hash): a join on its way */
  pending(tx: string): boolean
  /** this relay's evaluator tickets, not yet joined to a task (GET /api/status) */
  count(): Promise<number>
}

/** tickets kept ready to join: two tasks defined within a ticket's maturity each get one */
export const TICKETS_KEPT = 2
/** blocks after which a transaction of ours still waiting in the mempool is handed to the other relays again */
export const RESEND_BLOCKS = 3
/**
 * a join counts only if its stake stays locked past the task's join, training and charge windows (taskRuns joinsOf):
 * JOIN_BLOCKS + TRAIN_BLOCKS + CHARGE_BLOCKS, which is TASK_FEE_RECLAIM_BLOCKS (510)
 */
const TASK_BLOCKS = TASK_FEE_RECLAIM_BLOCKS
/** blocks a relay's ticket stays valid: four tasks' windows */
export const TICKET_BLOCKS = 4 * TASK_BLOCKS
const EVALUATOR_ROLE = roleIndex('evaluator')

export function createEvaluatorTickets(deps: {
  chain: Chain
  keys: KeyPair
  /** hand a transaction to the mempool (and gossip it) */
  submit(tx: TransferTx): Promise<unknown>
  /** a transaction in the mempool spends `outpoint` */
  pendingSpend(outpoint: OutPoint): boolean
  /** the mempool holds the transaction of this hash (hex) */
  inMempool(hash: string): boolean
  /** the transactions the mempool holds */
  mempoolTxs(): Tx[]
  /**
   * hands a transaction of ours that waits unmined to the other relays again (an HTTP POST /api/tx to each): gossip
   * sends a message once, and a relay a block behind refuses a purchase that spends a reward it does not hold as mature yet
   */
  resend(tx: TransferTx): void
  log: (msg: string, ctx?: Record<string, unknown>) => void
}): EvaluatorTickets {
  const { chain, keys, log } = deps
  const wallet = new Wallet(keys)
  const vrfSecret = deriveVrfSecretKey(keys.secretKey)
  const vrfKey = vrfPublicKey(vrfSecret)
  /** the last purchase handed to the mempool: no second one until it is mined or dropped */
  let buying: string | undefined
  /**
   * our transactions (purchases and joins) handed to the mempool, by hash, with the height they were last sent at and, for
   * a join, the last height it is counted at (a join mined later still spends the ticket, for no seat)
   */
  const sent = new Map<string, { tx: TransferTx; height: number; until?: number }>()

  /** hands on again each of our transactions still waiting after RESEND_BLOCKS; forgets those mined or dropped */
  function resendWaiting(height: number): void {
    for (const [hash, s] of sent) {
      if (!deps.inMempool(hash) || (s.until !== undefined && height >= s.until)) sent.delete(hash)
      else if (height >= s.height + RESEND_BLOCKS) {
        s.height = height
        deps.resend(s.tx)
      }
    }
  }
  const track = (tx: TransferTx, until?: number): string => {
    const hash = toHex(txHash(tx))
    sent.set(hash, { tx, height: chain.tip().height, ...(until !== undefined ? { until } : {}) })
    return hash
  }
  /** why keep() and join() last could not act, each logged when it changes */
  const notes = { keep: '', join: '' }
  const note = (which: keyof typeof notes, msg: string, ctx: Record<string, unknown>): void => {
    if (notes[which] === msg) return
    notes[which] = msg
    log(msg, ctx)
  }

  type Ticket = { outpoint: OutPoint; coin: Coin & { lock: { kind: 'stake' } } }
  /** this wallet's unjoined evaluator stakes among `coins` (default: read them) */
  async function tickets(coins?: { outpoint: OutPoint; coin: Coin }[]): Promise<Ticket[]> {
    return (coins ?? await chain.coinsOf(keys.publicKey)).filter((c): c is Ticket => c.coin.lock.kind === 'stake' && c.coin.lock.role === EVALUATOR_ROLE)
  }

  async function keep(): Promise<void> {
    const height = chain.tip().height
    resendWaiting(height)
    // one purchase at a time: the next once it is mined (or the mempool dropped it)
    if (buying !== undefined && deps.inMempool(buying)) return
    buying = undefined
    const coins = await chain.coinsOf(keys.publicKey)
    const ready = (await tickets(coins)).filter((t) => t.coin.lock.expiry > height + TASK_BLOCKS + JOIN_BLOCKS)
    if (ready.length >= TICKETS_KEPT) return
    const price = chain.ticketPrice() ?? TICKET_PARAMS.minPrice
    // coins spendable a block before this relay's next block would need (rewards mature, locks run out): a relay a block
    // behind takes the purchase too
    const young = new Set(coins.filter((c) => spendRuleBroken(c.coin, height, chain.params, '') !== undefined).map((c) => outpointKey(c.outpoint)))
    try {
      const tx = await wallet.buyTickets(chain, price, {
        role: EVALUATOR_ROLE, preferences: TASK_PREFERENCES, expiry: height + 1 + TICKET_BLOCKS, vrfPublicKey: vrfKey,
      }, { exclude: (o) => deps.pendingSpend(o) || young.has(outpointKey(o)) })
      await deps.submit(tx)
      buying = track(tx)
      notes.keep = ''
      log('evaluator ticket bought', { tx: buying, stake: price.toString(), expiry: height + 1 + TICKET_BLOCKS })
    } catch (e) {
      if (!isPouwError(e)) throw e
      note('keep', 'no evaluator ticket bought', { code: e.code, detail: e.message })
    }
  }

  async function join(task: string, tdb: { height: number; hash: string }): Promise<string | undefined> {
    // a join of ours already waiting in the mempool (one a restart forgot, which gossip brought back): no second one
    const taskHash = fromHex(task)
    // (one whose proof is over this definition block: a reorg may have taken the one it proved over away)
    const waiting = deps.mempoolTxs().find((tx) => tx.type === 'transfer' && tx.outputs.some((o) =>
      o.lock?.kind === 'joined' && o.lock.role === EVALUATOR_ROLE && bytesEqual(o.lock.taskHash, taskHash) && bytesEqual(o.recipient, keys.publicKey) &&
      verifySelection(o.lock.vrfPublicKey, fromHex(tdb.hash), 'evaluator', o.lock.pi, PPM, PPM, keys.publicKey).selected))
    if (waiting !== undefined) return toHex(txHash(waiting))
    // live at the definition block, and locked past the task's charge window once joined
    const live = (await tickets()).filter((t) => !deps.pendingSpend(t.outpoint) &&
      t.coin.height + TICKET_PARAMS.maturity <= tdb.height && t.coin.lock.expiry > tdb.height + TASK_BLOCKS)
    const ticket = live.sort((a, b) => (outpointKey(a.outpoint) < outpointKey(b.outpoint) ? -1 : 1))[0]
    if (ticket === undefined) {
      note('join', 'no evaluator ticket to join a task with', { task, definitionHeight: tdb.height })
      return undefined
    }
    const { pi } = proveSelection(vrfSecret, fromHex(tdb.hash), 'evaluator', keys.publicKey)
    const tx = await wallet.joinTask(chain, ticket.outpoint, fromHex(task), pi)
    await deps.submit(tx)
    notes.join = ''
    const hash = track(tx, tdb.height + JOIN_BLOCKS)
    log('evaluator ticket joined a task', { task, tx: hash, ticket: outpointKey(ticket.outpoint) })
    return hash
  }

  return { keep, join, pending: deps.inMempool, count: async () => (await tickets()).length }
}
