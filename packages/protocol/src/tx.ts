import { Reader, Writer } from './bytes.js'
import { protocolError } from './errors.js'
import { TAGS, taggedHash } from './hash.js'
import { SELECTION_ROLES } from './selection.js'
import { VRF_PROOF_SIZE } from './vrf.js'
import { MAX_COMMITTEE_SIZE } from './threshold.js'
import { MAX_DKG_MESSAGE_SIZE, dkgMessageFromBytes, dkgMessageToBytes, type DkgSuccess } from './dkg.js'
import { historyMessageFromBytes, historyMessageToBytes, type MessageHistory } from './history.js'
import { PUBLIC_KEY_SIZE, SIGNATURE_SIZE } from './sign.js'

/**
 * Transactions, in a UTXO model (paper 003, §3.2: "a digitally signed data
 * structure that contains versioning, inputs and outputs ... valid if its
 * inputs refer to other unspent outputs").
 *
 *   tx       = u16 version (1) | u8 type | body
 *   coinbase = u32 height | u16 n | n x (u64 amount | 32 recipient)
 *              [ | u8 flags (type 3 only: bit 0 collect, bit 1 history, at least one)
 *                [ | 32 block | u8 k | k x (32 verifier | 32 precursor | 64 signature) ]   (collect)
 *                [ | u32 attempt | u8 q | q x (u32 len | DkgSuccess) | u32 len | MessageHistory ] ] (history)
 *   transfer = u16 m | m x (32 txHash | u32 index | 64 signature)
 *              | u16 n | n x output
 *   output   = u64 amount | u8 lock kind | 32 recipient | lock body
 *
 * Every field has a fixed width and every count a cap checked before
 * anything is allocated, so each transaction has exactly one encoding.
 * The coinbase keeps the encoding of issue 2 (its outputs have no lock byte:
 * they are always plain 'pubkey' outputs).
 *
 * Instead of Bitcoin's OP_RETURN with structured data (paper Appendix A),
 * the special transactions are transfers whose outputs carry a typed lock:
 * - 'pubkey' (0): the recipient spends it;
 * - 'task-fee' (1), PAY_FOR_TASK: the client's fee locked to a task; the
 *   client (the recipient) may take it back (REVOKE_TASK: a transfer spending
 *   it) only in a block below `revokeBefore`; after that it is locked to the
 *   task (paying it out, CHARGE_FOR_TASK, is a later issue);
 * - 'stake' (2), BUY_TICKETS: a ticket for a role with task preferences;
 *   the owner (the recipient) may spend it from height `expiry` on;
 * - 'joined' (3), JOIN_TASK: a live ticket's stake, moved to a task with
 *   the ticket's VRF proof over (hash_TDB || role); selection reads the
 *   task's joined coins from the chain, and CHARGE_FOR_TASK returns (or
 *   captures) them. The owner may take it back from height `expiry` on.
 * The lock rules themselves are consensus rules of @pouw/ledger (utxo.ts).
 */
export const TX_VERSION = 1
export const TX_COINBASE = 0
export const TX_TRANSFER = 1
/** a transfer that spends a task's committed fee: CHARGE_FOR_TASK (see TaskCharge) */
export const TX_CHARGE = 2
/** a coinbase with extensions: COLLECT_VERIFICATIONS for its parent (see Collect), a MESSAGE_HISTORY anchor (see HistoryAnchor) */
export const TX_COINBASE_EXT = 3
const EXT_COLLECT = 1
const EXT_HISTORY = 2
/** most verifier approvals one COLLECT_VERIFICATIONS carries: a committee's size (its verifiers are the supervisors') */
export const MAX_COLLECT_APPROVALS = MAX_COMMITTEE_SIZE
/** most evaluator approvals one CHARGE_FOR_TASK carries */
export const MAX_APPROVALS = 64
export const MAX_TX_BYTES = 100_000
export const MAX_OUTPUTS = 256
export const MAX_INPUTS = 256
/** at most this many entries in a stake lock's preferences vector */
export const MAX_PREFERENCES = 32

export const LOCK_KINDS = { pubkey: 0, 'task-fee': 1, stake: 2, joined: 3 } as const
export type LockKind = keyof typeof LOCK_KINDS
const LOCK_BY_CODE: readonly LockKind[] = ['pubkey', 'task-fee', 'stake', 'joined']

/** A coinbase output: always spendable by `recipient` (an Ed25519 public key). */
export interface TxOutput { amount: bigint; recipient: Uint8Array }

export type OutputLock =
  | { kind: 'pubkey' }
  /** PAY_FOR_TASK: the fee for task `taskHash`; the client may revoke it in blocks below height `revokeBefore` (u32) */
  | { kind: 'task-fee'; taskHash: Uint8Array; revokeBefore: number }
  /**
   * BUY_TICKETS: `role` index into SELECTION_ROLES (miner, supervisor, evaluator, verifier), `preferences` u16 weights,
   * spendable from height `expiry` (u32); `vrfPublicKey` (32 bytes), the key the ticket's VRF proofs are by, fixed
   * when it is bought so that no one can try keys once a task's definition block is known
   */
  | { kind: 'stake'; role: number; preferences: number[]; expiry: number; vrfPublicKey: Uint8Array }
  /**
   * JOIN_TASK: the stake of the ticket bought at height `purchaseHeight` (role, preferences, expiry
   * and VRF key carried over from it), joined to task `taskHash` with `pi`, the VRF proof (80 bytes)
   * by `vrfPublicKey` over (hash_TDB || role)
   */
  | {
    kind: 'joined'; taskHash: Uint8Array; role: number; preferences: number[]; expiry: number; purchaseHeight: number
    vrfPublicKey: Uint8Array; pi: Uint8Array
  }

/** A transfer output: `recipient` owns it, `lock` adds conditions on when and how it may be spent. */
export interface TransferOutput extends TxOutput { lock: OutputLock }

/** A reference to output `index` of the transaction whose txHash is `txHash`. */
export interface OutPoint { txHash: Uint8Array; index: number }

/** `signature`: Ed25519 by the spent output's recipient over txSigHash(tx). */
export interface TxInput { prevout: OutPoint; signature: Uint8Array }

/**
 * One verifier's approval of a block (the reveal of §5.2's commit-reveal): the nonce precursor it
 * rebuilt when it re-ran the block, and its Ed25519 signature over approvalSigningHash(block,
 * precursor) (verdict.ts). Anyone checks that the precursor gives the block's nonce.
 */
export interface VerifierApproval { verifier: Uint8Array; precursor: Uint8Array; signature: Uint8Array }

/** An approval's bytes, in a collect and in a reveal (verdict.ts): 32 verifier | 32 precursor | 64 signature. */
export function writeApproval(w: Writer, a: VerifierApproval): Writer {
  return w.fixed(a.verifier, PUBLIC_KEY_SIZE).fixed(a.precursor, 32).fixed(a.signature, SIGNATURE_SIZE)
}

export function readApproval(r: Reader): VerifierApproval {
  return { verifier: r.bytes(PUBLIC_KEY_SIZE, 'verifier'), precursor: r.bytes(32, 'precursor'), signature: r.bytes(SIGNATURE_SIZE, 'verifier approval') }
}

/**
 * COLLECT_VERIFICATIONS (paper 003 §5.2): the approvals of block `block` (the parent of the block
 * whose coinbase carries it) by its chosen verifiers, sorted by verifier key. The coinbase's
 * subsidy is proportional to them, in 10% steps (ledger collect.ts).
 */
export interface Collect { block: Uint8Array; approvals: VerifierApproval[] }

/**
 * MESSAGE_HISTORY on chain (paper 003 §4.2.1): the supervisors' latest agreed slot record, whose
 * t-of-n BLS threshold signature verifies under the committee's group key, and the proof of that
 * key: the DKG_SUCCESSFUL messages (dkg.ts DkgSuccess, Ed25519-signed) of every qualified member
 * of DKG attempt `attempt`. A slot's hash covers the previous slot's, so the record anchors the
 * whole history before it.
 */
export interface HistoryAnchor { attempt: number; successes: DkgSuccess[]; record: MessageHistory }

/** most DKG_SUCCESSFUL messages one anchor carries: a committee's size */
export const MAX_ANCHOR_SUCCESSES = MAX_COMMITTEE_SIZE

/** u32 attempt | u8 q | q × (u32 len | DkgSuccess bytes) | u32 len | MessageHistory bytes */
function writeAnchor(w: Writer, h: HistoryAnchor): void {
  if (h.successes.length < 1 || h.successes.length > MAX_ANCHOR_SUCCESSES) throw new Error(`internal: ${h.successes.length} DKG successes, 1 to ${MAX_ANCHOR_SUCCESSES}`)
  w.u32(h.attempt).u8(h.successes.length)
  for (const s of h.successes) w.varBytes(dkgMessageToBytes(s))
  w.varBytes(historyMessageToBytes(h.record))
}

function readAnchor(r: Reader): HistoryAnchor {
  const attempt = r.u32('DKG attempt')
  const q = r.count(MAX_ANCHOR_SUCCESSES, 'DKG successes', 1)
  if (q === 0) throw protocolError('BAD_VALUE', 'a history anchor holds at least one DKG success')
  const successes: DkgSuccess[] = []
  for (let i = 0; i < q; i++) {
    const m = dkgMessageFromBytes(r.varBytes(MAX_DKG_MESSAGE_SIZE, 'DKG success'))
    if (m.kind !== 'success') throw protocolError('BAD_TYPE', `a history anchor carries DKG successes, got a ${m.kind}`)
    successes.push(m)
  }
  const record = historyMessageFromBytes(r.varBytes(MAX_TX_BYTES, 'history record'))
  if (record.type !== 'history') throw protocolError('BAD_TYPE', `a history anchor carries a MESSAGE_HISTORY record, got a ${record.type}`)
  return { attempt, successes, record }
}

/** A MESSAGE_HISTORY anchor alone (a relay's block template carries it for the miner's coinbase). */
export function historyAnchorToBytes(h: HistoryAnchor): Uint8Array {
  const w = new Writer()
  writeAnchor(w, h)
  return w.finish()
}

export function historyAnchorFromBytes(bytes: Uint8Array): HistoryAnchor {
  if (bytes.length > MAX_TX_BYTES) throw protocolError('TOO_LARGE', `history anchor is ${bytes.length} bytes, at most ${MAX_TX_BYTES}`)
  const r = new Reader(bytes, 'history anchor')
  const h = readAnchor(r)
  r.end()
  return h
}

/**
 * The block reward: its height makes every coinbase of one chain distinct. With `collect`, it
 * carries its parent's verifications, which the subsidy it may claim depends on; with `history`,
 * the supervisors' latest MESSAGE_HISTORY record.
 */
export interface CoinbaseTx { type: 'coinbase'; height: number; outputs: TxOutput[]; collect?: Collect; history?: HistoryAnchor }

/**
 * The verifiers' part of the subsidy a coinbase claims, in basis points (paper 003 §5.1: "supervisors,
 * verifiers and evaluators would get paid from the block's reward"): 10%, split equally among the
 * verifiers whose approvals the coinbase collects.
 */
export const VERIFIERS_SHARE_BPS = 1_000n

/** What each of `approvals` verifiers is paid out of `subsidy`: VERIFIERS_SHARE_BPS of it, split equally, rounded down. */
export function verifierReward(subsidy: bigint, approvals: number): bigint {
  if (subsidy < 0n || !Number.isSafeInteger(approvals) || approvals < 0) throw new Error(`internal: verifier reward of ${subsidy} for ${approvals} approvals`)
  return approvals === 0 ? 0n : (subsidy * VERIFIERS_SHARE_BPS) / 10_000n / BigInt(approvals)
}

/**
 * A coinbase's outputs (the rule is ledger utxo.ts connectBlock's): the block's miner first, paid the
 * subsidy and the fees less the verifiers' rewards, then one output per approval the coinbase
 * collects, in the collect's order, paying that verifier verifierReward(subsidy, approvals).
 */
export function coinbaseOutputs(miner: Uint8Array, subsidy: bigint, fees: bigint, collect?: Collect): TxOutput[] {
  const verifiers = verifierOutputs(subsidy, collect)
  return [{ amount: verifiers.reduce((left, o) => left - o.amount, subsidy + fees), recipient: miner }, ...verifiers]
}

/** A coinbase's outputs 1..k: one per approval its collect carries, in order, paying that verifier verifierReward(subsidy, k). */
export function verifierOutputs(subsidy: bigint, collect?: Collect): TxOutput[] {
  const approvals = collect?.approvals ?? []
  const each = verifierReward(subsidy, approvals.length)
  return approvals.map((a) => ({ amount: each, recipient: a.verifier }))
}
/** One evaluator's Ed25519 signature over the charge's txSigHash. */
export interface Approval { evaluator: Uint8Array; signature: Uint8Array }

/**
 * CHARGE_FOR_TASK (paper 003 §3.3, §4.4): the evaluators' split of task
 * `taskHash`'s committed fee. Its inputs are that task's 'task-fee' coins,
 * each with an all-zero signature (no one key owns a committed fee); the
 * `approvals` of at least ceil(2n/3) of the chain's n evaluators authorise
 * it instead. `resultHash` is the hash of the conclusion they agreed on
 * (which names the best model). The approvals, like input signatures, are
 * not part of what is signed.
 */
export interface TaskCharge { taskHash: Uint8Array; resultHash: Uint8Array; approvals: Approval[] }

/** A signed transfer; fee = inputs - outputs. With `charge`, a CHARGE_FOR_TASK. */
export interface TransferTx { type: 'transfer'; inputs: TxInput[]; outputs: TransferOutput[]; charge?: TaskCharge }
export type Tx = CoinbaseTx | TransferTx

/** Encoded size of an input and of a 'pubkey' output (for fee estimates). */
export const TX_INPUT_SIZE = 32 + 4 + SIGNATURE_SIZE
export const PUBKEY_OUTPUT_SIZE = 8 + 1 + PUBLIC_KEY_SIZE

export function isTransfer(tx: Tx): tx is TransferTx {
  return tx.type === 'transfer'
}

function writeLock(w: Writer, o: TransferOutput): void {
  w.u64(o.amount).u8(LOCK_KINDS[o.lock.kind]).fixed(o.recipient, PUBLIC_KEY_SIZE)
  const lock = o.lock
  switch (lock.kind) {
    case 'pubkey':
      return
    case 'task-fee':
      w.fixed(lock.taskHash, 32).u32(lock.revokeBefore)
      return
    case 'stake':
      writeTicket(w, lock)
      return
    case 'joined':
      w.fixed(lock.taskHash, 32)
      writeTicket(w, lock)
      w.u32(lock.purchaseHeight).fixed(lock.pi, VRF_PROOF_SIZE)
  }
}

/** role, expiry, preferences and VRF key: a stake lock's body, and the part of a joined lock it carries over */
function writeTicket(w: Writer, lock: { role: number; expiry: number; preferences: readonly number[]; vrfPublicKey: Uint8Array }): void {
  if (lock.preferences.length > MAX_PREFERENCES) throw new Error(`internal: ${lock.preferences.length} preferences, at most ${MAX_PREFERENCES}`)
  w.u8(lock.role).u32(lock.expiry).u8(lock.preferences.length)
  for (const p of lock.preferences) w.u16(p)
  w.fixed(lock.vrfPublicKey, PUBLIC_KEY_SIZE)
}

function readTicket(r: Reader): { role: number; expiry: number; preferences: number[]; vrfPublicKey: Uint8Array } {
  const role = r.u8('role')
  if (role >= SELECTION_ROLES.length) throw protocolError('BAD_VALUE', `stake role ${role} unknown, expected < ${SELECTION_ROLES.length}`)
  const expiry = r.u32('expiry')
  const n = r.count(MAX_PREFERENCES, 'preferences', 1)
  const preferences: number[] = []
  for (let i = 0; i < n; i++) preferences.push(r.u16('preference'))
  return { role, expiry, preferences, vrfPublicKey: r.bytes(PUBLIC_KEY_SIZE, 'VRF key') }
}

function readOutput(r: Reader): TransferOutput {
  const amount = r.u64('amount')
  const code = r.u8('lock kind')
  const kind = LOCK_BY_CODE[code]
  if (kind === undefined) throw protocolError('BAD_TYPE', `output lock kind ${code} unknown`)
  const recipient = r.bytes(PUBLIC_KEY_SIZE, 'recipient')
  switch (kind) {
    case 'pubkey':
      return { amount, recipient, lock: { kind } }
    case 'task-fee':
      return { amount, recipient, lock: { kind, taskHash: r.bytes(32, 'task hash'), revokeBefore: r.u32('revokeBefore') } }
    case 'stake':
      return { amount, recipient, lock: { kind, ...readTicket(r) } }
    case 'joined': {
      const taskHash = r.bytes(32, 'task hash')
      const ticket = readTicket(r)
      return {
        amount, recipient,
        lock: { kind, taskHash, ...ticket, purchaseHeight: r.u32('purchase height'), pi: r.bytes(VRF_PROOF_SIZE, 'VRF proof') },
      }
    }
  }
}

/** One transfer output alone (the UTXO set stores coins with it). */
export function transferOutputToBytes(o: TransferOutput): Uint8Array {
  const w = new Writer()
  writeLock(w, o)
  return w.finish()
}

export function transferOutputFromBytes(bytes: Uint8Array): TransferOutput {
  const r = new Reader(bytes, 'output')
  const o = readOutput(r)
  r.end()
  return o
}

/** Bytes shared by the full encoding and the signing bytes; signatures only when `withSignatures`. */
function transferBytes(tx: TransferTx, withSignatures: boolean): Uint8Array {
  const w = new Writer().u16(TX_VERSION).u8(tx.charge === undefined ? TX_TRANSFER : TX_CHARGE).u16(tx.inputs.length)
  for (const i of tx.inputs) {
    w.fixed(i.prevout.txHash, 32).u32(i.prevout.index)
    if (withSignatures) w.fixed(i.signature, SIGNATURE_SIZE)
  }
  w.u16(tx.outputs.length)
  for (const o of tx.outputs) writeLock(w, o)
  const c = tx.charge
  if (c !== undefined) {
    w.fixed(c.taskHash, 32).fixed(c.resultHash, 32)
    if (withSignatures) {
      if (c.approvals.length > MAX_APPROVALS) throw new Error(`internal: ${c.approvals.length} approvals, at most ${MAX_APPROVALS}`)
      w.u8(c.approvals.length)
      for (const a of c.approvals) w.fixed(a.evaluator, PUBLIC_KEY_SIZE).fixed(a.signature, SIGNATURE_SIZE)
    }
  }
  return w.finish()
}

export function txToBytes(tx: Tx): Uint8Array {
  if (tx.type === 'transfer') return transferBytes(tx, true)
  const { collect: c, history: h } = tx
  const flags = (c === undefined ? 0 : EXT_COLLECT) | (h === undefined ? 0 : EXT_HISTORY)
  const w = new Writer().u16(TX_VERSION).u8(flags === 0 ? TX_COINBASE : TX_COINBASE_EXT).u32(tx.height).u16(tx.outputs.length)
  for (const o of tx.outputs) w.u64(o.amount).fixed(o.recipient, PUBLIC_KEY_SIZE)
  if (flags === 0) return w.finish()
  w.u8(flags)
  if (c !== undefined) {
    if (c.approvals.length < 1 || c.approvals.length > MAX_COLLECT_APPROVALS) throw new Error(`internal: ${c.approvals.length} verifier approvals, 1 to ${MAX_COLLECT_APPROVALS}`)
    w.fixed(c.block, 32).u8(c.approvals.length)
    for (const a of c.approvals) writeApproval(w, a)
  }
  if (h !== undefined) writeAnchor(w, h)
  return w.finish()
}

export function txFromBytes(bytes: Uint8Array): Tx {
  if (bytes.length > MAX_TX_BYTES) throw protocolError('TOO_LARGE', `transaction is ${bytes.length} bytes, at most ${MAX_TX_BYTES}`)
  const r = new Reader(bytes, 'transaction')
  const version = r.u16('version')
  if (version !== TX_VERSION) throw protocolError('BAD_VERSION', `transaction version ${version}, expected ${TX_VERSION}`)
  const type = r.u8('type')
  if (type === TX_COINBASE || type === TX_COINBASE_EXT) {
    const height = r.u32('height')
    const n = r.count(MAX_OUTPUTS, 'outputs', 2)
    const outputs: TxOutput[] = []
    for (let i = 0; i < n; i++) outputs.push({ amount: r.u64('amount'), recipient: r.bytes(PUBLIC_KEY_SIZE, 'recipient') })
    if (type === TX_COINBASE) {
      r.end()
      return { type: 'coinbase', height, outputs }
    }
    const flags = r.u8('coinbase extensions')
    if (flags === 0 || (flags & ~(EXT_COLLECT | EXT_HISTORY)) !== 0) throw protocolError('BAD_VALUE', `coinbase extension flags ${flags}, expected 1 to 3`)
    const tx: CoinbaseTx = { type: 'coinbase', height, outputs }
    if ((flags & EXT_COLLECT) !== 0) {
      const block = r.bytes(32, 'collected block')
      const k = r.count(MAX_COLLECT_APPROVALS, 'verifier approvals', 1)
      if (k === 0) throw protocolError('BAD_VALUE', 'a collect holds at least one approval')
      tx.collect = { block, approvals: Array.from({ length: k }, () => readApproval(r)) }
    }
    if ((flags & EXT_HISTORY) !== 0) tx.history = readAnchor(r)
    r.end()
    return tx
  }
  if (type !== TX_TRANSFER && type !== TX_CHARGE) throw protocolError('BAD_TYPE', `transaction type ${type} unknown`)
  const m = r.count(MAX_INPUTS, 'inputs', 2)
  const inputs: TxInput[] = []
  for (let i = 0; i < m; i++) {
    inputs.push({ prevout: { txHash: r.bytes(32, 'input txHash'), index: r.u32('input index') }, signature: r.bytes(SIGNATURE_SIZE, 'signature') })
  }
  const n = r.count(MAX_OUTPUTS, 'outputs', 2)
  const outputs: TransferOutput[] = []
  for (let i = 0; i < n; i++) outputs.push(readOutput(r))
  if (type === TX_TRANSFER) {
    r.end()
    return { type: 'transfer', inputs, outputs }
  }
  const taskHash = r.bytes(32, 'charge task hash')
  const resultHash = r.bytes(32, 'charge result hash')
  const k = r.count(MAX_APPROVALS, 'approvals', 1)
  const approvals: Approval[] = []
  for (let i = 0; i < k; i++) approvals.push({ evaluator: r.bytes(PUBLIC_KEY_SIZE, 'evaluator'), signature: r.bytes(SIGNATURE_SIZE, 'approval') })
  r.end()
  return { type: 'transfer', inputs, outputs, charge: { taskHash, resultHash, approvals } }
}

/**
 * The transaction's id: H_tx(its full encoding, signatures included), the
 * Merkle leaf and what outpoints reference. Strict Ed25519 (canonical S and
 * points) leaves no one but the signer a way to change the signatures.
 */
export function txHash(tx: Tx): Uint8Array {
  return taggedHash(TAGS.tx, txToBytes(tx))
}

/** The encoding without the input signatures: what every input signs. */
export function txSigningBytes(tx: TransferTx): Uint8Array {
  return transferBytes(tx, false)
}

/** What each input's owner signs: H_tx-sig(txSigningBytes(tx)), the whole transaction but its signatures. */
export function txSigHash(tx: TransferTx): Uint8Array {
  return taggedHash(TAGS.txSig, txSigningBytes(tx))
}

/** Encoded size in bytes (the unit of fee rates). */
export function txSize(tx: Tx): number {
  return txToBytes(tx).length
}
