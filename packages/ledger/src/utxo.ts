import {
  MAX_ANCHOR_SUCCESSES, MAX_APPROVALS, MAX_COLLECT_APPROVALS, MAX_OUTPUTS, MAX_PREFERENCES, PUBLIC_KEY_SIZE, Reader, SELECTION_ROLES, SIGNATURE_SIZE, Writer, bytesEqual, fromHex,
  VRF_PROOF_SIZE, protocolError, roleIndex, toHex, transferOutputFromBytes, transferOutputToBytes, txHash, txSigHash, verifierOutputs, verify,
  type CoinbaseTx, type OutPoint, type OutputLock, type PouwError, type TransferOutput, type TransferTx, type Tx,
} from '@pouw/protocol'
import type { ChainEntry } from './chainEntry.js'
import { collectRule } from './collect.js'
import { ledgerError } from './errors.js'
import { agreementThreshold } from './finalisation.js'
import { MAX_MONEY, checkTicketPurchases, coinbaseMaturity, taskFeeReclaimHeight, type ChainParams } from './params.js'

const EVALUATOR_ROLE = roleIndex('evaluator')

/**
 * The UTXO set and the consensus rules of transactions (paper 003 §3.2).
 * Everything here is pure and deterministic: a view of the unspent outputs
 * comes in, the rules are checked with integers, bigint and bytes, and the
 * changes go back into the view, with undo data that restores it exactly.
 * Signatures are the one asynchronous step: they are checked in a batch,
 * through native WebCrypto where the platform has it (sign.ts: `verify`,
 * which settles every native `false` with the noble reference, so the
 * answer is the same on every platform).
 */

/** An unspent output: what it pays, to whom, under which lock, and where it was created. */
export interface Coin {
  amount: bigint
  recipient: Uint8Array
  lock: OutputLock
  /** height of the block whose transaction created it */
  height: number
  /** created by a coinbase (then it matures, see COINBASE_MATURITY) */
  coinbase: boolean
}

/** Map-like view over outpoints (outpointKey): a plain Map<string, Coin> is one. */
export interface UtxoView {
  get(key: string): Coin | undefined
  set(key: string, coin: Coin): unknown
  delete(key: string): unknown
}

/** Signature verification, e.g. sign.ts `verify` (native) or `verifyReference` (noble). */
export type VerifyFn = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean | Promise<boolean>

/** 64 hex digits of the txHash then 8 of the output index: key order is (txHash, index) order. */
export function outpointKey(op: OutPoint): string {
  return toHex(op.txHash) + op.index.toString(16).padStart(8, '0')
}

export function outpointFromKey(key: string): OutPoint {
  if (key.length !== 72) throw ledgerError('STORE_CORRUPT', `outpoint key ${key} is not 72 hex digits`)
  return { txHash: fromHex(key.slice(0, 64)), index: parseInt(key.slice(64), 16) }
}

const COIN_VERSION = 1

/** u8 version | u32 height | u8 coinbase (0/1) | the output (transfer output encoding) */
export function coinToBytes(c: Coin): Uint8Array {
  return new Writer().u8(COIN_VERSION).u32(c.height).u8(c.coinbase ? 1 : 0)
    .bytes(transferOutputToBytes({ amount: c.amount, recipient: c.recipient, lock: c.lock })).finish()
}

/** Throws PROTOCOL_* on malformed bytes (the chain reports them as LEDGER_STORE_CORRUPT). */
export function coinFromBytes(bytes: Uint8Array): Coin {
  const r = new Reader(bytes, 'coin')
  const version = r.u8('version')
  if (version !== COIN_VERSION) throw protocolError('BAD_VERSION', `coin version ${version}, expected ${COIN_VERSION}`)
  const height = r.u32('height')
  const coinbase = r.u8('coinbase') === 1
  const o = transferOutputFromBytes(r.bytes(r.remaining, 'output'))
  return { amount: o.amount, recipient: o.recipient, lock: o.lock, height, coinbase }
}

/** What disconnecting a block needs: the coins it spent, in spending order. */
export interface BlockUndo { spent: [key: string, coin: Coin][] }

/** u32 n | n x (72-character outpoint key as 36 bytes | u32 length | coin bytes) */
export function undoToBytes(u: BlockUndo): Uint8Array {
  const w = new Writer().u32(u.spent.length)
  for (const [key, coin] of u.spent) {
    const op = outpointFromKey(key)
    w.fixed(op.txHash, 32).u32(op.index).varBytes(coinToBytes(coin))
  }
  return w.finish()
}

export function undoFromBytes(bytes: Uint8Array): BlockUndo {
  const r = new Reader(bytes, 'block undo')
  const n = r.count(Math.floor(bytes.length / 40), 'spent coins')
  const spent: [string, Coin][] = []
  for (let i = 0; i < n; i++) {
    const key = outpointKey({ txHash: r.bytes(32, 'txHash'), index: r.u32('index') })
    spent.push([key, coinFromBytes(r.varBytes(1_000, 'coin'))])
  }
  r.end()
  return { spent }
}

/** The coins a transaction's outputs become (zero-amount coinbase outputs are not coins: nothing could spend them). */
export function createdCoins(tx: Tx, hash: Uint8Array, height: number): [string, Coin][] {
  const out: [string, Coin][] = []
  tx.outputs.forEach((o, index) => {
    if (o.amount === 0n) return
    const lock: OutputLock = tx.type === 'coinbase' ? { kind: 'pubkey' } : (o as TransferOutput).lock
    out.push([outpointKey({ txHash: hash, index }), { amount: o.amount, recipient: o.recipient, lock, height, coinbase: tx.type === 'coinbase' }])
  })
  return out
}

function checkAmount(amount: bigint, what: string): void {
  if (amount <= 0n) throw ledgerError('BAD_AMOUNT', `${what} is ${amount}, amounts must be positive`, { amount: String(amount) })
  if (amount > MAX_MONEY) throw ledgerError('AMOUNT_OVERFLOW', `${what} is ${amount}, more than MAX_MONEY ${MAX_MONEY}`, { amount: String(amount) })
}

/**
 * Context-free rules of one transaction (no UTXO set, no height):
 * - a coinbase: every output 0 <= amount <= MAX_MONEY and their sum <= MAX_MONEY
 *   (LEDGER_AMOUNT_OVERFLOW / LEDGER_BAD_AMOUNT), at most MAX_OUTPUTS outputs;
 * - a transfer: at least one input and one output (LEDGER_BAD_TX); every
 *   output amount > 0 (LEDGER_BAD_AMOUNT) and <= MAX_MONEY, their sum
 *   <= MAX_MONEY (LEDGER_AMOUNT_OVERFLOW); no outpoint twice
 *   (LEDGER_DUPLICATE_INPUT); locks well formed: a known stake role and at
 *   most MAX_PREFERENCES u16 preferences (LEDGER_BAD_LOCK); a transfer with a
 *   'joined' output is a JOIN_TASK: one input, one output (LEDGER_BAD_JOIN).
 * Field sizes (32-byte keys and hashes, 64-byte signatures, u32 indices) hold
 * for anything decoded; they are checked too so that an object built in
 * memory fails here (LEDGER_BAD_TX) rather than in the encoder.
 */
export function checkTx(tx: Tx): void {
  if (tx.outputs.length > MAX_OUTPUTS) throw ledgerError('BAD_TX', `${tx.outputs.length} outputs, at most ${MAX_OUTPUTS}`)
  let total = 0n
  if (tx.type === 'coinbase') {
    for (const o of tx.outputs) {
      if (o.amount < 0n) throw ledgerError('BAD_AMOUNT', `coinbase output of ${o.amount} is negative`)
      if (o.recipient.length !== PUBLIC_KEY_SIZE) throw ledgerError('BAD_TX', `recipient is ${o.recipient.length} bytes`)
      total += o.amount
    }
    if (total > MAX_MONEY) throw ledgerError('AMOUNT_OVERFLOW', `coinbase pays ${total}, more than MAX_MONEY`, { paid: String(total) })
    const c = tx.collect
    if (c !== undefined && (c.block.length !== 32 || c.approvals.length < 1 || c.approvals.length > MAX_COLLECT_APPROVALS ||
      c.approvals.some((a) => a.verifier.length !== PUBLIC_KEY_SIZE || a.precursor.length !== 32 || a.signature.length !== SIGNATURE_SIZE))) {
      throw ledgerError('BAD_TX', `a collect names a 32-byte block and carries 1 to ${MAX_COLLECT_APPROVALS} well-formed approvals`)
    }
    const h = tx.history
    if (h !== undefined && (h.successes.length < 1 || h.successes.length > MAX_ANCHOR_SUCCESSES || !Number.isInteger(h.attempt) || h.attempt < 0 || h.attempt > 0xffff_ffff)) {
      throw ledgerError('BAD_TX', `a history anchor carries 1 to ${MAX_ANCHOR_SUCCESSES} DKG successes and a u32 attempt`)
    }
    return
  }
  if (tx.inputs.length === 0) throw ledgerError('BAD_TX', 'a transfer needs at least one input')
  if (tx.outputs.length === 0) throw ledgerError('BAD_TX', 'a transfer needs at least one output')
  const seen = new Set<string>()
  for (const i of tx.inputs) {
    if (i.prevout.txHash.length !== 32 || i.signature.length !== SIGNATURE_SIZE || !Number.isInteger(i.prevout.index) ||
      i.prevout.index < 0 || i.prevout.index > 0xffff_ffff) {
      throw ledgerError('BAD_TX', 'an input has a malformed outpoint or signature')
    }
    const key = outpointKey(i.prevout)
    if (seen.has(key)) throw ledgerError('DUPLICATE_INPUT', `outpoint ${key} is spent twice in one transaction`, { outpoint: key })
    seen.add(key)
  }
  for (const [n, o] of tx.outputs.entries()) {
    checkAmount(o.amount, `output ${n}`)
    if (o.recipient.length !== PUBLIC_KEY_SIZE) throw ledgerError('BAD_TX', `output ${n}: recipient is ${o.recipient.length} bytes`)
    checkLockShape(o.lock, n)
    total += o.amount
  }
  if (total > MAX_MONEY) throw ledgerError('AMOUNT_OVERFLOW', `outputs sum to ${total}, more than MAX_MONEY`, { total: String(total) })
  if (tx.charge !== undefined) checkChargeShape(tx)
  else if (isJoin(tx) && (tx.inputs.length !== 1 || tx.outputs.length !== 1)) {
    throw ledgerError('BAD_JOIN', `a JOIN_TASK spends one ticket into one joined output, not ${tx.inputs.length} inputs and ${tx.outputs.length} outputs`)
  }
}

/** JOIN_TASK: a transfer that creates a 'joined' output (checkTx: its only output, from its only input). */
export function isJoin(tx: TransferTx): boolean {
  return tx.outputs.some((o) => o.lock.kind === 'joined')
}

/**
 * Context-free rules of a CHARGE_FOR_TASK (LEDGER_BAD_CHARGE): 32-byte task
 * and result hashes; 1 to MAX_APPROVALS approvals by distinct 32-byte keys
 * with 64-byte signatures; every input signature all zero (the approvals
 * authorise the spend, and zero leaves nothing to vary in the tx hash); every
 * output a plain 'pubkey' one (a charge pays out, it does not lock again).
 */
function checkChargeShape(tx: TransferTx): void {
  const c = tx.charge!
  if (c.taskHash.length !== 32 || c.resultHash.length !== 32) throw ledgerError('BAD_CHARGE', 'a charge names a 32-byte task hash and result hash')
  if (c.approvals.length === 0 || c.approvals.length > MAX_APPROVALS) {
    throw ledgerError('BAD_CHARGE', `a charge carries 1 to ${MAX_APPROVALS} approvals, got ${c.approvals.length}`)
  }
  const seen = new Set<string>()
  for (const a of c.approvals) {
    if (a.evaluator.length !== PUBLIC_KEY_SIZE || a.signature.length !== SIGNATURE_SIZE) throw ledgerError('BAD_CHARGE', 'an approval has a malformed key or signature')
    const id = toHex(a.evaluator)
    if (seen.has(id)) throw ledgerError('BAD_CHARGE', `evaluator ${id} approves twice`, { evaluator: id })
    seen.add(id)
  }
  for (const [n, i] of tx.inputs.entries()) {
    if (i.signature.some((b) => b !== 0)) throw ledgerError('BAD_CHARGE', `input ${n}: a charge's inputs carry all-zero signatures`, { input: n })
  }
  for (const [n, o] of tx.outputs.entries()) {
    if (o.lock.kind !== 'pubkey') throw ledgerError('BAD_CHARGE', `output ${n}: a charge pays plain outputs, not '${o.lock.kind}'`, { output: n })
  }
}

const U32 = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 0xffff_ffff

function checkLockShape(lock: OutputLock, n: number): void {
  switch (lock.kind) {
    case 'pubkey':
      return
    case 'task-fee':
      if (lock.taskHash.length !== 32 || !U32(lock.revokeBefore)) throw ledgerError('BAD_LOCK', `output ${n}: malformed task-fee lock`)
      return
    case 'joined':
      if (lock.taskHash.length !== 32 || lock.pi.length !== VRF_PROOF_SIZE || !U32(lock.purchaseHeight)) {
        throw ledgerError('BAD_LOCK', `output ${n}: malformed joined lock`)
      }
      checkTicketShape(lock, n) // a joined lock carries the ticket's role, expiry and preferences
      return
    case 'stake':
      checkTicketShape(lock, n)
      return
    default:
      throw ledgerError('BAD_LOCK', `output ${n}: lock kind ${String((lock as { kind?: unknown }).kind)} unknown`)
  }
}

function checkTicketShape(lock: Extract<OutputLock, { kind: 'stake' | 'joined' }>, n: number): void {
  if (!Number.isInteger(lock.role) || lock.role < 0 || lock.role >= SELECTION_ROLES.length) {
    throw ledgerError('BAD_LOCK', `output ${n}: stake role ${lock.role} unknown`)
  }
  if (!U32(lock.expiry) || lock.preferences.length > MAX_PREFERENCES || lock.vrfPublicKey.length !== PUBLIC_KEY_SIZE ||
    !lock.preferences.every((p) => Number.isInteger(p) && p >= 0 && p <= 0xffff)) {
    throw ledgerError('BAD_LOCK', `output ${n}: malformed ${lock.kind} lock`)
  }
}

/**
 * Rules on the creation of a lock in a block at `height`: a stake must
 * expire after the block that buys it (LEDGER_BAD_LOCK), else it would be a
 * plain output with extra bytes. A task fee may have any revokeBefore (one
 * already passed makes the fee irrevocable from the start).
 */
function checkLockAt(lock: OutputLock, height: number, n: number): void {
  if (lock.kind === 'stake' && lock.expiry <= height) {
    throw ledgerError('BAD_LOCK', `output ${n}: stake expiry ${lock.expiry} is not after the block height ${height}`, { expiry: lock.expiry, height })
  }
}

/**
 * Rules on spending `coin` in a block at `height`, besides the signature of
 * its recipient:
 * - a coinbase coin is mature: height >= coin.height + maturity (LEDGER_IMMATURE_COINBASE);
 * - 'task-fee' (REVOKE_TASK): only while height < revokeBefore, or once no charge spent it by
 *   revokeBefore + TASK_FEE_RECLAIM_BLOCKS (LEDGER_LOCKED in between);
 * - 'stake', 'joined': only once height >= expiry (LEDGER_LOCKED); before that
 *   a stake may only join a task (checkJoin) and a joined stake only be
 *   charged (CHARGE_FOR_TASK).
 */
export function checkSpendable(coin: Coin, height: number, params: ChainParams, key: string): void {
  const e = spendRuleBroken(coin, height, params, key)
  if (e !== undefined) throw e
}

/** checkSpendable's error, returned instead of thrown (wallets filter coins with it). */
export function spendRuleBroken(coin: Coin, height: number, params: ChainParams, key: string): PouwError | undefined {
  const maturity = coinbaseMaturity(params)
  if (coin.coinbase && height < coin.height + maturity) {
    return ledgerError('IMMATURE_COINBASE', `coinbase output ${key} of height ${coin.height} is spendable from height ${coin.height + maturity}, not ${height}`,
      { outpoint: key, height })
  }
  const lock = coin.lock
  if (lock.kind === 'task-fee' && height >= lock.revokeBefore && height < taskFeeReclaimHeight(lock.revokeBefore)) {
    return ledgerError('LOCKED', `task fee ${key} could be revoked below height ${lock.revokeBefore}, and is the task's until height ${taskFeeReclaimHeight(lock.revokeBefore)} unless charged; not spendable at ${height}`,
      { outpoint: key, height })
  }
  if ((lock.kind === 'stake' || lock.kind === 'joined') && height < lock.expiry) {
    return ledgerError('LOCKED', `${lock.kind === 'stake' ? 'stake' : 'joined stake'} ${key} is locked until height ${lock.expiry}, not ${height}`, { outpoint: key, height })
  }
  return undefined
}

/**
 * Rules of a JOIN_TASK (paper 003 Appendix A.1; checkTx made it one input, one output) in a block
 * at `height`, LEDGER_BAD_JOIN: its input is a ticket (a 'stake' coin) that is live there, at
 * least params.tickets.maturity blocks after the block that bought it and before its expiry; its
 * output pays the ticket's owner and carries the ticket's role, preferences, expiry, VRF key and
 * purchase height (the VRF key was fixed when the ticket was bought: no one tries keys for a task). What it stakes is the ticket's amount less the transaction fee. Which task, and whether
 * the VRF proof selects the ticket, is for selection (tickets.ts) to judge, not consensus: a join
 * that selection refuses is returned by the task's charge, or by its expiry.
 */
function checkJoin(tx: TransferTx, coin: Coin, height: number, params: ChainParams, key: string, txIndex: number): void {
  const bad = (why: string): never => { throw ledgerError('BAD_JOIN', `JOIN_TASK spending ${key}: ${why}`, { outpoint: key, tx: txIndex }) }
  const stake = coin.lock
  if (stake.kind !== 'stake') return bad(`a ${stake.kind} coin is not a ticket`)
  const live = coin.height + (params.tickets?.maturity ?? 0)
  if (height < live) bad(`the ticket bought at height ${coin.height} may join from height ${live}, not ${height}`)
  if (height >= stake.expiry) bad(`the ticket expired at height ${stake.expiry}`)
  const out = tx.outputs[0]!
  const joined = out.lock
  if (joined.kind !== 'joined') return bad('its output is not a joined stake')
  if (!bytesEqual(out.recipient, coin.recipient)) bad('the joined stake pays someone other than the ticket\'s owner')
  if (joined.role !== stake.role || joined.expiry !== stake.expiry || joined.purchaseHeight !== coin.height || !bytesEqual(joined.vrfPublicKey, stake.vrfPublicKey) ||
    joined.preferences.length !== stake.preferences.length || joined.preferences.some((p, i) => p !== stake.preferences[i])) {
    bad('the joined stake does not carry the ticket\'s role, preferences, expiry, VRF key and purchase height')
  }
}

/** One Ed25519 check: transaction `tx` (index in its block), input `input` (or, for a charge, approval `approval`). */
export interface SigCheck { publicKey: Uint8Array; message: Uint8Array; signature: Uint8Array; tx: number; input: number; approval?: number }

/** What a transfer does to the view, once its signatures check out. */
export interface TransferPlan {
  hash: Uint8Array
  fee: bigint
  /** the coins it spends, in input order */
  spent: [string, Coin][]
  created: [string, Coin][]
  sigChecks: SigCheck[]
}

/**
 * Contextual rules of one transfer at `height` against `lookup` (checkTx
 * must have passed): every input is an unspent coin (LEDGER_MISSING_INPUT;
 * `spentHere` names the outpoints spent earlier in the same block or
 * mempool, LEDGER_DOUBLE_SPEND), spendable (checkSpendable), inputs cover
 * the outputs (LEDGER_INSUFFICIENT_INPUTS; fee = inputs - outputs) and do
 * not sum above MAX_MONEY, locks created valid at this height. Returns the
 * signature checks to run; it does not run them and changes nothing.
 */
export function planTransfer(
  tx: TransferTx, lookup: (key: string) => Coin | undefined, spentHere: (key: string) => boolean, height: number,
  params: ChainParams, txIndex = 0, hash = txHash(tx),
): TransferPlan {
  const spent: [string, Coin][] = []
  const sigChecks: SigCheck[] = []
  const message = txSigHash(tx)
  let inputs = 0n
  const join = tx.charge === undefined && isJoin(tx)
  for (const [n, input] of tx.inputs.entries()) {
    const key = outpointKey(input.prevout)
    const coin = lookup(key)
    if (coin === undefined) {
      if (spentHere(key)) throw ledgerError('DOUBLE_SPEND', `input ${n} spends ${key}, already spent in this block`, { outpoint: key, tx: txIndex })
      throw ledgerError('MISSING_INPUT', `input ${n} spends ${key}, which is not an unspent output`, { outpoint: key, tx: txIndex })
    }
    inputs += coin.amount
    spent.push([key, coin])
    if (tx.charge !== undefined) {
      checkChargedCoin(coin, tx.charge.taskHash, height, key, txIndex)
      continue
    }
    if (join) checkJoin(tx, coin, height, params, key, txIndex)
    else checkSpendable(coin, height, params, key)
    // the same key signing the same message gives the same signature bytes: check it once
    const dup = sigChecks.some((c) => bytesEqual(c.publicKey, coin.recipient) && bytesEqual(c.signature, input.signature))
    if (!dup) sigChecks.push({ publicKey: coin.recipient, message, signature: input.signature, tx: txIndex, input: n })
  }
  if (inputs > MAX_MONEY) throw ledgerError('AMOUNT_OVERFLOW', `inputs sum to ${inputs}, more than MAX_MONEY`, { tx: txIndex })
  let outputs = 0n
  for (const [n, o] of tx.outputs.entries()) {
    checkLockAt(o.lock, height, n)
    outputs += o.amount
  }
  if (outputs > inputs) {
    throw ledgerError('INSUFFICIENT_INPUTS', `outputs ${outputs} exceed inputs ${inputs}`, { tx: txIndex, inputs: String(inputs), outputs: String(outputs) })
  }
  if (tx.charge !== undefined) sigChecks.push(...approvalChecks(tx, message, spent, params, txIndex))
  return { hash, fee: inputs - outputs, spent, created: createdCoins(tx, hash, height), sigChecks }
}

/**
 * A charge spends its own task's coins only: committed fees ('task-fee' coins of charge.taskHash
 * whose revocable window has closed) and the stakes that joined it ('joined' coins of charge.taskHash).
 */
function checkChargedCoin(coin: Coin, taskHash: Uint8Array, height: number, key: string, txIndex: number): void {
  const lock = coin.lock
  if (lock.kind === 'joined' && bytesEqual(lock.taskHash, taskHash)) return
  if (lock.kind !== 'task-fee' || !bytesEqual(lock.taskHash, taskHash)) {
    throw ledgerError('BAD_CHARGE', `a charge for task ${toHex(taskHash)} spends ${key}, which is neither that task's fee nor a stake that joined it`, { outpoint: key, tx: txIndex })
  }
  if (height < lock.revokeBefore) {
    throw ledgerError('LOCKED', `task fee ${key} is still revocable below height ${lock.revokeBefore}; a charge may spend it from there, not at ${height}`,
      { outpoint: key, height, tx: txIndex })
  }
}

/**
 * Rule: a charge is approved by at least agreementThreshold(n) = ceil(2n/3) of the chain's n
 * evaluators (params.evaluators, the relays' federation), each signing txSigHash, and each one
 * whose evaluator ticket joined the task and whose joined stake the charge spends (the relays seat
 * the evaluators by ticket and the charge returns their stakes: paper 003 §4.4). Approvals by a key
 * outside the federation, or by a member that staked nothing in the charge, are refused
 * (LEDGER_BAD_CHARGE). The chain does not yet check which joined evaluators selection seats (the
 * relays' rule, taskRuns.ts): without the federation bound, anyone holding one evaluator ticket
 * could approve a charge alone that spends no other evaluator's stake. Returns the signature
 * checks to batch with the others.
 */
function approvalChecks(tx: TransferTx, message: Uint8Array, spent: readonly [string, Coin][], params: ChainParams, txIndex: number): SigCheck[] {
  const federation = new Set((params.evaluators ?? []).map(toHex))
  if (federation.size === 0) throw ledgerError('BAD_CHARGE', 'this chain names no evaluators: no charge can be approved', { tx: txIndex })
  const staked = new Set<string>()
  for (const [, coin] of spent) if (coin.lock.kind === 'joined' && coin.lock.role === EVALUATOR_ROLE) staked.add(toHex(coin.recipient))
  const approvals = tx.charge!.approvals
  for (const a of approvals) {
    const key = toHex(a.evaluator)
    if (!federation.has(key)) throw ledgerError('BAD_CHARGE', `approval by ${key}, not one of the chain's evaluators`, { tx: txIndex })
    if (!staked.has(key)) throw ledgerError('BAD_CHARGE', `approval by ${key}, whose evaluator stake for the task the charge does not spend`, { tx: txIndex })
  }
  const needed = agreementThreshold(federation.size)
  if (approvals.length < needed) {
    throw ledgerError('BAD_CHARGE', `${approvals.length} approvals, a charge needs ${needed} of the ${federation.size} evaluators`, { tx: txIndex, needed })
  }
  return approvals.map((a, n) => ({ publicKey: a.evaluator, message, signature: a.signature, tx: txIndex, input: -1, approval: n }))
}

/**
 * Runs every check at once (Promise.all, so native verifications overlap)
 * and throws LEDGER_BAD_SIGNATURE naming the first failing one in block
 * order. `verifyFn` defaults to sign.ts `verify` (WebCrypto, noble fallback).
 */
export async function verifySignatures(checks: readonly SigCheck[], verifyFn: VerifyFn = verify): Promise<void> {
  const results = await Promise.all(checks.map((c) => verifyFn(c.publicKey, c.message, c.signature)))
  const bad = results.indexOf(false)
  if (bad >= 0) {
    const c = checks[bad]!
    if (c.approval !== undefined) {
      const signer = c.tx === 0 ? 'verifier' : 'evaluator'
      throw ledgerError('BAD_SIGNATURE', `transaction ${c.tx}, approval ${c.approval}: the signature does not verify under its ${signer}'s key`, { tx: c.tx, approval: c.approval })
    }
    throw ledgerError('BAD_SIGNATURE', `transaction ${c.tx}, input ${c.input}: the signature does not verify under its coin's recipient`, { tx: c.tx, input: c.input })
  }
}

export interface ConnectOptions {
  verify?: VerifyFn
  /** txHash of each transaction, when the caller already has them (the Merkle root needs them too) */
  txHashes?: readonly Uint8Array[]
  /** the ticket price in force at this height (Chain.ticketPrice): every stake output stakes at least that */
  ticketPrice?: bigint
  /**
   * the block's parent: what the coinbase may claim depends on the parent's verifications it
   * collects (collect.ts collectRule). Required when params.verification is set.
   */
  parent?: ChainEntry
}

export interface ConnectResult { undo: BlockUndo; fees: bigint }

/**
 * Rule: outputs 1..k of a coinbase that collects k approvals pay those verifiers, in the collect's
 * order, verifierReward(subsidy, k) each (protocol coinbaseOutputs builds them); output 0 is the
 * miner's, and any after them are the miner's to add (LEDGER_BAD_COINBASE).
 */
function verifierRewardRule(coinbase: CoinbaseTx, subsidy: bigint): void {
  for (const [n, want] of verifierOutputs(subsidy, coinbase.collect).entries()) {
    const o = coinbase.outputs[1 + n]
    if (o === undefined || !bytesEqual(o.recipient, want.recipient) || o.amount !== want.amount) {
      throw ledgerError('BAD_COINBASE', `coinbase output ${1 + n} must pay verifier ${toHex(want.recipient)}, whose approval it collects, ${want.amount} (its share of the subsidy ${subsidy})`,
        { output: 1 + n })
    }
  }
}

/**
 * Connects a block's transactions (coinbase first, checkBlockTxs passed) at
 * `height` to `view`: every transfer by planTransfer, in block order (a
 * transfer may spend an output of an earlier transfer of the same block,
 * never of a later one); the coinbase pays at most subsidy + fees
 * (LEDGER_BAD_COINBASE), the subsidy being what its collected verifications
 * prove (collect.ts); all signatures verify (LEDGER_BAD_SIGNATURE).
 * On any failure the view is untouched. On success the view holds the new
 * UTXO set and the returned undo data restores the old one (disconnectBlock).
 */
export async function connectBlock(view: UtxoView, txs: readonly Tx[], height: number, params: ChainParams, opts: ConnectOptions = {}): Promise<ConnectResult> {
  const coinbase = txs[0]
  if (coinbase === undefined || coinbase.type !== 'coinbase') throw ledgerError('BAD_COINBASE', 'the first transaction must be the coinbase')
  // the block's own changes, over the view: null marks an outpoint spent in this block
  const local = new Map<string, Coin | null>()
  const lookup = (key: string): Coin | undefined => {
    const l = local.get(key)
    return l === null ? undefined : l ?? view.get(key)
  }
  const spentHere = (key: string): boolean => local.get(key) === null
  if (opts.ticketPrice !== undefined) checkTicketPurchases(txs, params, opts.ticketPrice)
  const { subsidy, sigChecks } = collectRule(coinbase, opts.parent, params)
  verifierRewardRule(coinbase, subsidy)
  const undo: BlockUndo = { spent: [] }
  const createdHere = new Set<string>()
  let fees = 0n
  for (let i = 1; i < txs.length; i++) {
    const tx = txs[i]!
    if (tx.type !== 'transfer') throw ledgerError('BAD_COINBASE', `transaction ${i} is a second coinbase`)
    const plan = planTransfer(tx, lookup, spentHere, height, params, i, opts.txHashes?.[i])
    for (const [key, coin] of plan.spent) {
      local.set(key, null)
      if (!createdHere.has(key)) undo.spent.push([key, coin])
    }
    for (const [key, coin] of plan.created) {
      local.set(key, coin)
      createdHere.add(key)
    }
    for (const c of plan.sigChecks) sigChecks.push(c)
    fees += plan.fee
  }
  if (fees > MAX_MONEY) throw ledgerError('AMOUNT_OVERFLOW', `the block's fees sum to ${fees}, more than MAX_MONEY`)
  let paid = 0n
  for (const o of coinbase.outputs) paid += o.amount
  if (paid > subsidy + fees) {
    throw ledgerError('BAD_COINBASE', `coinbase pays ${paid}, the subsidy ${subsidy} plus fees ${fees} is ${subsidy + fees}`,
      { paid: String(paid), fees: String(fees) })
  }
  for (const [key, coin] of createdCoins(coinbase, opts.txHashes?.[0] ?? txHash(coinbase), height)) local.set(key, coin)
  await verifySignatures(sigChecks, opts.verify)
  for (const [key, coin] of local) {
    if (coin === null) view.delete(key)
    else view.set(key, coin)
  }
  return { undo, fees }
}

/**
 * Undoes connectBlock: removes the coins the block created and puts back the
 * ones it spent. Needs the block's transactions and its undo data; the view
 * must be the one right after the block (every later block disconnected).
 */
export function disconnectBlock(view: UtxoView, txs: readonly Tx[], undo: BlockUndo, hashes?: readonly Uint8Array[]): void {
  for (let i = txs.length - 1; i >= 0; i--) {
    const tx = txs[i]!
    const hash = hashes?.[i] ?? txHash(tx)
    for (let index = 0; index < tx.outputs.length; index++) view.delete(outpointKey({ txHash: hash, index }))
  }
  for (let i = undo.spent.length - 1; i >= 0; i--) {
    const [key, coin] = undo.spent[i]!
    view.set(key, coin)
  }
}
