import {
  PPM, SELECTION_ROLES, bytesEqual, committeeBounds, compareBytes, cosineSimilarity, isPouwError, isSelected, proveSelection,
  rankCandidates, toHex, verifySelection, vrfPublicKey, type CommitteeBounds, type CommitteeContext, type CommitteeParams, type Role,
} from '@pouw/protocol'
import { ledgerError } from './errors.js'

/**
 * Staking with tickets (paper 003 §3.3, §4.1, Appendix A.1): BUY_TICKETS
 * economics and worker selection. Pure functions of integers, bigint and
 * bytes; the chain feeds them what its blocks hold.
 *
 * A ticket's life, by block height h (purchase at height p, inclusion in the
 * block at p):
 *
 *   immature   p <= h < p + maturity
 *   live       p + maturity <= h < p + maturity + expiry
 *   expired    h >= p + maturity + expiry, never spent: the stake is refunded
 *              to the owner in the block at height p + maturity + expiry
 *   spent      h >= spentHeight: the ticket joined a task (its participation
 *              block is at spentHeight); the stake now sits with the task and
 *              comes back (or is captured) through CHARGE_FOR_TASK
 *
 * Ticket price: Decred's stake difficulty, DCP-0001 (the paper: "We use
 * Decred's algorithm to adjust prices"), see computeTicketPrice.
 */

/** Where a payout comes from (CHARGE_FOR_TASK, or an expired ticket's refund). */
export type PayoutReason =
  | 'miner-reward' // miners' share of the fee, by performance
  | 'supervisor-reward' // supervisors' share of the fee
  | 'evaluator-reward' // evaluators' share of the fee
  | 'malformed-report' // the fee of a malformed task, to the workers who reported it
  | 'fee-refund' // the fee back to the client: the task could not run
  | 'stake-return' // an honest (or not penalised) participant's stake, back
  | 'stake-redistribution' // captured stakes of cheats, shared among fair players
  | 'ticket-expired' // a ticket that was never selected, stake back

export interface Payout {
  /** Ed25519 public key */
  recipient: Uint8Array
  amount: bigint
  reason: PayoutReason
}

export interface TicketParams {
  /** blocks a ticket stays immature after its purchase block (paper: "e.g. 128") */
  maturity: number
  /** blocks a ticket stays live; then it expires and its stake is refunded */
  expiry: number
  /** most tickets one block may buy (paper: "No more than 50") */
  maxTicketsPerBlock: number
  /** target number of live + immature tickets (paper: "around 40960") */
  targetPoolSize: number
  /** the price changes every this many blocks (paper: "after every 144 mined blocks") */
  priceWindow: number
  /** the lowest price, and the price of the first window */
  minPrice: bigint
  /** the highest price (Decred: estimated supply / pool size) */
  maxPrice: bigint
}

/**
 * The paper's figures where it gives them; expiry is Decred's (a ticket pool's
 * worth of blocks, 40960), the prices ours (base units).
 */
export const DEFAULT_TICKET_PARAMS: Readonly<TicketParams> = {
  maturity: 128,
  expiry: 40_960,
  maxTicketsPerBlock: 50,
  targetPoolSize: 40_960,
  priceWindow: 144,
  minPrice: 1_000_000n,
  maxPrice: 1_000_000_000_000_000n,
}

export interface Ticket {
  /** 32 bytes: identifies the ticket (the BUY_TICKETS tx hash and the ticket's index, hashed) */
  id: Uint8Array
  /** 32 bytes: who gets paid (rewards, refunds) */
  owner: Uint8Array
  /** 32 bytes: the key whose VRF proofs the ticket's applications carry */
  vrfPublicKey: Uint8Array
  role: Role
  /** u32 weights over the network's preference features (§4.1 P) */
  preferences: number[]
  /** the price paid for this ticket */
  stake: bigint
  /** height of the block that bought it */
  purchaseHeight: number
  /** height of the participation block where it joined a task, if it did */
  spentHeight?: number
}

export type TicketState = 'immature' | 'live' | 'expired' | 'spent'

function checkHeight(h: number, what: string): void {
  if (!Number.isSafeInteger(h) || h < 0) throw new Error(`internal: ${what} ${h} is not a height`)
}

function checkParams(p: TicketParams): void {
  for (const [k, v, min] of [
    ['maturity', p.maturity, 0], ['expiry', p.expiry, 1], ['maxTicketsPerBlock', p.maxTicketsPerBlock, 0],
    ['targetPoolSize', p.targetPoolSize, 1], ['priceWindow', p.priceWindow, 1],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < min) throw new Error(`internal: ticket param ${k} is ${v}, expected an integer >= ${min}`)
  }
  if (p.minPrice < 1n || p.maxPrice < p.minPrice) throw new Error(`internal: ticket prices [${p.minPrice}, ${p.maxPrice}]`)
}

/** First height at which the ticket is live. */
export function ticketLiveHeight(t: Pick<Ticket, 'purchaseHeight'>, params: TicketParams): number {
  return t.purchaseHeight + params.maturity
}

/** The height at which an unspent ticket expires (and its stake is refunded). */
export function ticketExpiryHeight(t: Pick<Ticket, 'purchaseHeight'>, params: TicketParams): number {
  return t.purchaseHeight + params.maturity + params.expiry
}

/**
 * The ticket's state at height h (see the module comment). Throws an internal
 * error for a height before its purchase, where the ticket does not exist.
 */
export function ticketState(t: Pick<Ticket, 'purchaseHeight' | 'spentHeight'>, height: number, params: TicketParams): TicketState {
  checkHeight(height, 'height')
  checkHeight(t.purchaseHeight, 'purchase height')
  if (height < t.purchaseHeight) throw new Error(`internal: ticket bought at ${t.purchaseHeight} does not exist at ${height}`)
  if (t.spentHeight !== undefined && height >= t.spentHeight) return 'spent'
  if (height < ticketLiveHeight(t, params)) return 'immature'
  if (height < ticketExpiryHeight(t, params)) return 'live'
  return 'expired'
}

/**
 * The ticket after it joined a task in the participation block at `height`.
 * Throws LEDGER_TICKET_NOT_LIVE unless it is live there.
 */
export function spendTicket<T extends Ticket>(t: T, height: number, params: TicketParams): T {
  const s = ticketState(t, height, params)
  if (s !== 'live') throw ledgerError('TICKET_NOT_LIVE', `ticket ${toHex(t.id)} is ${s} at height ${height}`, { ticket: toHex(t.id), state: s, height })
  return { ...t, spentHeight: height }
}

/**
 * The refunds due in the block at `height`: the stake of every ticket that
 * expires exactly there without having been spent, to its owner, in ticket id
 * order.
 */
export function expiredTicketRefunds(tickets: readonly Ticket[], height: number, params: TicketParams): Payout[] {
  checkHeight(height, 'height')
  return tickets
    .filter((t) => ticketExpiryHeight(t, params) === height && (t.spentHeight === undefined || t.spentHeight > height))
    .sort((a, b) => compareBytes(a.id, b.id))
    .map((t) => ({ recipient: t.owner, amount: t.stake, reason: 'ticket-expired' as const }))
}

/**
 * How many tickets a BUY_TICKETS output of `amount` buys at `price`
 * (Appendix A.1: "a value that is a multiple of the current price").
 * Throws LEDGER_BAD_TICKET_PURCHASE for a non-positive amount or one that is
 * not an exact multiple of the price.
 */
export function ticketsBought(amount: bigint, price: bigint): number {
  if (price < 1n) throw new Error(`internal: ticket price ${price}`)
  if (amount <= 0n || amount % price !== 0n) {
    throw ledgerError('BAD_TICKET_PURCHASE', `a ticket purchase of ${amount} is not a positive multiple of the price ${price}`, { amount, price })
  }
  const n = amount / price
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw ledgerError('BAD_TICKET_PURCHASE', `a purchase of ${n} tickets`, { amount, price })
  return Number(n)
}

/**
 * Rule: a block buys at most maxTicketsPerBlock tickets. `purchases` are the
 * ticket counts of the block's BUY_TICKETS transactions. Throws
 * LEDGER_TOO_MANY_TICKETS.
 */
export function checkBlockTicketCount(purchases: readonly number[], params: TicketParams): number {
  let total = 0
  for (const n of purchases) {
    if (!Number.isSafeInteger(n) || n < 1) throw new Error(`internal: ticket count ${n}`)
    total += n
  }
  if (total > params.maxTicketsPerBlock) {
    throw ledgerError('TOO_MANY_TICKETS', `the block buys ${total} tickets, at most ${params.maxTicketsPerBlock}`, { total, max: params.maxTicketsPerBlock })
  }
  return total
}

/** Decred's pool size "all": the tickets live or immature at `height` (bought at or before it). */
export function ticketPoolSize(tickets: readonly Pick<Ticket, 'purchaseHeight' | 'spentHeight'>[], height: number, params: TicketParams): number {
  let n = 0
  for (const t of tickets) {
    if (t.purchaseHeight > height) continue
    const s = ticketState(t, height, params)
    if (s === 'live' || s === 'immature') n++
  }
  return n
}

export interface TicketPriceInput {
  /** height of the block the price is for */
  height: number
  /** the price in force in its parent */
  currentPrice: bigint
  /** live + immature tickets at the previous retarget (height - priceWindow - 1) */
  prevPoolSize: number
  /** live + immature tickets in the parent (height - 1) */
  curPoolSize: number
}

/**
 * Rule: the ticket price (Decred's stake difficulty, DCP-0001) for the block
 * at `height`.
 *
 *   - heights below priceWindow: minPrice;
 *   - heights that are not a multiple of priceWindow: the current price;
 *   - at a multiple of priceWindow, with pool sizes counting live + immature
 *     tickets (so the tickets bought in the window are in them:
 *     cur - prev = bought - spent - expired over the window):
 *
 *         next = current * (cur / prev) * (cur / target)
 *              = floor(current * cur^2 / (prev * target))
 *
 *     cur/prev counteracts the pool's change over the window (demand rising:
 *     price up), cur/target pulls the pool back toward targetPoolSize. The
 *     product is computed in bigint, divided once (floor), then clamped to
 *     [minPrice, maxPrice]. With prev = 0 (nothing in the pool a window ago)
 *     the price stands, as in Decred (no division by zero, and an empty pool
 *     is not made dearer).
 */
export function computeTicketPrice(input: TicketPriceInput, params: TicketParams): bigint {
  checkParams(params)
  checkHeight(input.height, 'height')
  checkHeight(input.prevPoolSize, 'previous pool size')
  checkHeight(input.curPoolSize, 'pool size')
  if (input.currentPrice < 1n) throw new Error(`internal: current ticket price ${input.currentPrice}`)
  if (input.height < params.priceWindow) return params.minPrice
  if (input.height % params.priceWindow !== 0) return input.currentPrice
  if (input.prevPoolSize === 0) return input.currentPrice
  const cur = BigInt(input.curPoolSize)
  let next = (input.currentPrice * cur * cur) / (BigInt(input.prevPoolSize) * BigInt(params.targetPoolSize))
  if (next < params.minPrice) next = params.minPrice
  if (next > params.maxPrice) next = params.maxPrice
  return next
}

/**
 * computeTicketPrice with the pool sizes counted from the tickets themselves
 * (every ticket ever bought up to height - 1, spent and expired ones included:
 * their heights decide the counts).
 */
export function nextTicketPrice(height: number, currentPrice: bigint, tickets: readonly Ticket[], params: TicketParams): bigint {
  checkHeight(height, 'height')
  if (height < params.priceWindow || height % params.priceWindow !== 0) {
    return computeTicketPrice({ height, currentPrice, prevPoolSize: 0, curPoolSize: 0 }, params)
  }
  return computeTicketPrice({
    height, currentPrice,
    prevPoolSize: ticketPoolSize(tickets, height - params.priceWindow - 1, params),
    curPoolSize: ticketPoolSize(tickets, height - 1, params),
  }, params)
}

// ---- selection (§4.1) ----

/** What selection needs to know about the task (from its task definition block). */
export interface SelectionTask {
  /** 32 bytes: hash of the task definition block, hash_TDB */
  definitionBlockHash: Uint8Array
  /** its height: tickets must be live there (so bought before the task) */
  definitionHeight: number
  /** the task's requirement vector Pmax, over the same features as the tickets' preferences */
  preferences: number[]
  /** what the committee sizes depend on (dataset size, expected time, fee) */
  committee: Omit<CommitteeContext, 'miners'>
}

/** A JOIN_TASK application: the ticket it stakes and its VRF proof over (hash_TDB || role). */
export interface TicketApplication {
  ticket: Ticket
  pi: Uint8Array
}

export interface SelectionParams {
  /** omega_S per role, ppm (a ticket with similarity s is selected with probability min(1, s / omega_S)) */
  omegaPpm: Readonly<Record<Role, number>>
  committee: Readonly<CommitteeParams>
  tickets: Readonly<TicketParams>
}

export interface SelectedTicket {
  ticket: Ticket
  beta: Uint8Array
  similarityPpm: number
}

export type RejectionReason = 'wrong-role' | 'not-live' | 'bad-preferences' | 'invalid-proof' | 'below-threshold' | 'duplicate-ticket'

export interface Rejection {
  ticketId: Uint8Array
  reason: RejectionReason
}

export interface CommitteeSelection {
  role: Role
  bounds: CommitteeBounds
  /** the committee in rank order, or undefined when fewer than bounds.min keys qualified */
  members: SelectedTicket[] | undefined
  /** every application that passed the §4.1 test, in rank order */
  qualified: SelectedTicket[]
  /** the applications that did not, in input order */
  rejected: Rejection[]
}

function checkTask(task: SelectionTask): void {
  if (!(task.definitionBlockHash instanceof Uint8Array) || task.definitionBlockHash.length !== 32) {
    throw new Error('internal: the task definition block hash must be 32 bytes')
  }
  checkHeight(task.definitionHeight, 'task definition height')
}

/**
 * The §4.1 test for one application, or why it fails: the ticket has this
 * role, is live at the task definition block (hence bought at least `maturity`
 * blocks before the task: "a ticket bought after task submission cannot
 * participate"), its preferences are comparable with the task's, its proof is
 * a valid VRF proof by its vrfPublicKey over (hash_TDB || role || owner) (the owner
 * binds the proof to this ticket: a copied VRF key cannot reuse it), and
 *   s(P, Pmax) >= omega_S * beta / (2^512 - 1)      (selection.ts isSelected).
 */
export function checkApplication(
  app: TicketApplication, role: Role, task: SelectionTask, params: SelectionParams,
): { ok: true; selected: SelectedTicket } | { ok: false; reason: RejectionReason } {
  const t = app.ticket
  if (t.role !== role) return { ok: false, reason: 'wrong-role' }
  if (t.purchaseHeight > task.definitionHeight || ticketState(t, task.definitionHeight, params.tickets) !== 'live') {
    return { ok: false, reason: 'not-live' }
  }
  let similarityPpm: number
  try {
    similarityPpm = cosineSimilarity(t.preferences, task.preferences)
  } catch (e) {
    if (isPouwError(e)) return { ok: false, reason: 'bad-preferences' }
    throw e
  }
  const check = verifySelection(t.vrfPublicKey, task.definitionBlockHash, role, app.pi, similarityPpm, params.omegaPpm[role], t.owner)
  if (!check.selected) return { ok: false, reason: check.reason }
  return { ok: true, selected: { ticket: t, beta: check.beta, similarityPpm } }
}

/**
 * Rule: the committee of `role` for a task, from the applications (JOIN_TASK
 * transactions) that reached the participation block. Each application is
 * checked with checkApplication; the qualified ones are ranked with
 * selection.ts rankCandidates (best beta / similarity first, one seat per VRF
 * key) and cut to committeeBounds(role). `miners` is |M|, needed for the
 * supervisors' bound [3, max(3, floor(sqrt |M|))].
 */
export function selectCommittee(
  role: Role, applications: readonly TicketApplication[], task: SelectionTask, params: SelectionParams, miners?: number,
): CommitteeSelection {
  if (!(SELECTION_ROLES as readonly string[]).includes(role)) throw new Error(`internal: unknown role ${String(role)}`)
  checkTask(task)
  const bounds = committeeBounds(role, { ...task.committee, miners }, params.committee)
  const rejected: Rejection[] = []
  const qualified: Array<SelectedTicket & { publicKey: Uint8Array }> = []
  const seen = new Set<string>()
  for (const app of applications) {
    const id = toHex(app.ticket.id)
    if (seen.has(id)) { rejected.push({ ticketId: app.ticket.id, reason: 'duplicate-ticket' }); continue }
    seen.add(id)
    const r = checkApplication(app, role, task, params)
    if (!r.ok) { rejected.push({ ticketId: app.ticket.id, reason: r.reason }); continue }
    qualified.push({ ...r.selected, publicKey: app.ticket.vrfPublicKey })
  }
  const ranked = rankCandidates(qualified, { min: 0, max: qualified.length }) ?? []
  const members = bounds.max >= bounds.min ? rankCandidates(qualified, bounds) : undefined
  const strip = ({ ticket, beta, similarityPpm }: SelectedTicket): SelectedTicket => ({ ticket, beta, similarityPpm })
  return { role, bounds, members: members?.map(strip), qualified: ranked.map(strip), rejected }
}

export interface WorkerSelection {
  miners: CommitteeSelection
  supervisors: CommitteeSelection
  /** both committees are filled: the task can start */
  ok: boolean
}

/**
 * Rule: the worker nodes of a task (§4.1): the miners first, then the
 * supervisors with |M| = the number of selected miners. The task cannot start
 * (ok false) unless both committees reach their minimum (2 miners, 3
 * supervisors). The tickets of the members are spent in the participation
 * block (spendTicket).
 */
export function selectWorkers(applications: readonly TicketApplication[], task: SelectionTask, params: SelectionParams): WorkerSelection {
  const miners = selectCommittee('miner', applications.filter((a) => a.ticket.role === 'miner'), task, params)
  const m = miners.members?.length ?? 0
  const supervisors = selectCommittee('supervisor', applications.filter((a) => a.ticket.role === 'supervisor'), task, params, m)
  return { miners, supervisors, ok: miners.members !== undefined && supervisors.members !== undefined }
}

/**
 * A worker's side: should this ticket apply for the task, and with which
 * proof? Computes (beta, pi) = VRF_sk(hash_TDB || role) and runs the same
 * test as checkApplication; undefined when the ticket is not selected (or not
 * live, or its preferences do not compare). Throws an internal error when
 * `vrfSecretKey` is not the ticket's VRF key.
 */
export function applyForTask(
  ticket: Ticket, vrfSecretKey: Uint8Array, task: SelectionTask, params: SelectionParams,
): TicketApplication | undefined {
  checkTask(task)
  if (!bytesEqual(vrfPublicKey(vrfSecretKey), ticket.vrfPublicKey)) throw new Error('internal: the VRF secret key is not the ticket\'s')
  if (ticket.purchaseHeight > task.definitionHeight || ticketState(ticket, task.definitionHeight, params.tickets) !== 'live') return undefined
  let similarityPpm: number
  try {
    similarityPpm = cosineSimilarity(ticket.preferences, task.preferences)
  } catch (e) {
    if (isPouwError(e)) return undefined
    throw e
  }
  const { pi, beta } = proveSelection(vrfSecretKey, task.definitionBlockHash, ticket.role, ticket.owner)
  return isSelected(beta, similarityPpm, params.omegaPpm[ticket.role]) ? { ticket, pi } : undefined
}

/** omega_S = 1 for every role: a ticket is selected with probability equal to its similarity. */
export const DEFAULT_OMEGA_PPM: Readonly<Record<Role, number>> = { miner: PPM, supervisor: PPM, evaluator: PPM, verifier: PPM }
