import { sha256 } from '@noble/hashes/sha2.js'
import { PPM, Reader, Writer, bytesEqual, compareBytes, concatBytes, toHex } from '@pouw/protocol'
import { ledgerError } from './errors.js'
import type { Payout } from './tickets.js'

/**
 * Finalisation, paper 003 §4.4 (and §3.3's CHARGE_FOR_TASK, paper 001 §5.2's
 * trimmed mean): evaluators test every miner's final model on the client's
 * test set, agree on a conclusion by commit-then-reveal, and split the fee.
 * Pure functions of integers, bigint and bytes.
 *
 *   conclusionToBytes / conclusionFromBytes   the canonical conclusion
 *   computeConclusionCommitment / checkReveal  commit-then-reveal
 *   decideAgreement                           >= ceil(2n/3) identical conclusions decide
 *   trimmedMeanScores                         per-miner trimmed mean, outlier evaluators
 *   computeCharge                             CHARGE_FOR_TASK: the fee and stakes, to the unit
 */

// ---- (b) the conclusion ----

export const CONCLUSION_VERSION = 2
export const TASK_ID_SIZE = 16
export const CONCLUSION_KEY_SIZE = 32
/** most miners a conclusion scores, and most cheaters it names */
export const MAX_CONCLUSION_ENTRIES = 1024

/**
 * match: the test set hashes to what the task committed; mismatch: it does not (the client
 * cheated); unavailable: there is no task to test, as the evaluator holds no definition and data
 * for the task its fee names (the client paid for a task it never delivered): a malformed task,
 * whose fee goes to the workers that reported it
 */
export type TestSetVerdict = 'match' | 'mismatch' | 'unavailable'

export interface MinerScore {
  /** the miner's key (32 bytes) */
  miner: Uint8Array
  /** the miner's final model on the test set, in parts per million of the
   * task's metric (accuracy 97.31% = 973_100), an integer in [0, 10^6] */
  scorePpm: number
}

/**
 * What an evaluator concludes about a task. Canonical: scores sorted by miner
 * key, keys unique; cheaters sorted and unique; bestMiner derived from the
 * scores (see assertValidConclusion). Two honest evaluators with the same
 * findings produce the same bytes, which is what agreement compares.
 */
export interface Conclusion {
  taskId: Uint8Array
  /** do the test set's mini-batches hash to what the task definition committed? ('mismatch': the client cheated) */
  testSetVerdict: TestSetVerdict
  /** every miner whose final model was tested */
  scores: MinerScore[]
  /** worker nodes (miners, supervisors) found dishonest during the task: their stakes are captured */
  cheaters: Uint8Array[]
  /** 'unavailable' only: the workers that reported the task malformed, sorted and unique (empty otherwise) */
  reporters: Uint8Array[]
  /** the honest miner with the best score (ties: the lowest key); absent when there is none */
  bestMiner: Uint8Array | undefined
}

const VERDICT_BYTES: Readonly<Record<TestSetVerdict, number>> = { match: 0, mismatch: 1, unavailable: 2 }

/**
 * The best honest miner of `scores`: highest scorePpm, ties to the lowest key;
 * miners listed in `cheaters` do not count. Undefined when no honest miner was
 * scored.
 */
export function bestMinerOf(scores: readonly MinerScore[], cheaters: readonly Uint8Array[]): Uint8Array | undefined {
  const bad = new Set(cheaters.map(toHex))
  let best: MinerScore | undefined
  for (const s of scores) {
    if (bad.has(toHex(s.miner))) continue
    if (best === undefined || s.scorePpm > best.scorePpm || (s.scorePpm === best.scorePpm && compareBytes(s.miner, best.miner) < 0)) best = s
  }
  return best?.miner
}

function isKey(k: unknown, size = CONCLUSION_KEY_SIZE): k is Uint8Array {
  return k instanceof Uint8Array && k.length === size
}

function strictlyIncreasing(keys: readonly Uint8Array[]): boolean {
  for (let i = 1; i < keys.length; i++) if (compareBytes(keys[i - 1]!, keys[i]!) >= 0) return false
  return true
}

/**
 * Throws LEDGER_BAD_CONCLUSION unless `c` is a canonical conclusion: a 16-byte
 * task id, a known verdict, at most MAX_CONCLUSION_ENTRIES scores with 32-byte
 * miner keys in strictly increasing order and integer scores in [0, 10^6],
 * cheaters and reporters likewise sorted and unique, and bestMiner exactly bestMinerOf. An
 * 'unavailable' conclusion scores no one and names no cheater; only it names reporters.
 */
export function assertValidConclusion(c: Conclusion): void {
  const bad = (msg: string): never => { throw ledgerError('BAD_CONCLUSION', msg) }
  if (!isKey(c.taskId, TASK_ID_SIZE)) bad(`the task id must be ${TASK_ID_SIZE} bytes`)
  if (!(c.testSetVerdict in VERDICT_BYTES)) bad(`unknown test-set verdict ${String(c.testSetVerdict)}`)
  if (!Array.isArray(c.scores) || c.scores.length > MAX_CONCLUSION_ENTRIES) bad(`at most ${MAX_CONCLUSION_ENTRIES} scores`)
  if (!Array.isArray(c.cheaters) || c.cheaters.length > MAX_CONCLUSION_ENTRIES) bad(`at most ${MAX_CONCLUSION_ENTRIES} cheaters`)
  for (const s of c.scores) {
    if (!isKey(s.miner)) bad(`a miner key must be ${CONCLUSION_KEY_SIZE} bytes`)
    if (!Number.isSafeInteger(s.scorePpm) || s.scorePpm < 0 || s.scorePpm > PPM) bad(`score ${String(s.scorePpm)} is not an integer in [0, ${PPM}] ppm`)
  }
  if (!Array.isArray(c.reporters) || c.reporters.length > MAX_CONCLUSION_ENTRIES) bad(`at most ${MAX_CONCLUSION_ENTRIES} reporters`)
  for (const k of c.cheaters) if (!isKey(k)) bad(`a cheater key must be ${CONCLUSION_KEY_SIZE} bytes`)
  for (const k of c.reporters) if (!isKey(k)) bad(`a reporter key must be ${CONCLUSION_KEY_SIZE} bytes`)
  if (!strictlyIncreasing(c.scores.map((s) => s.miner))) bad('scores must be sorted by miner key, each miner once')
  if (!strictlyIncreasing(c.cheaters)) bad('cheaters must be sorted, each once')
  if (!strictlyIncreasing(c.reporters)) bad('reporters must be sorted, each once')
  if (c.testSetVerdict === 'unavailable' && (c.scores.length > 0 || c.cheaters.length > 0)) bad('an unavailable task has no scores and no cheaters')
  if (c.testSetVerdict !== 'unavailable' && c.reporters.length > 0) bad('only an unavailable task has reporters')
  const best = bestMinerOf(c.scores, c.cheaters)
  const same = best === undefined ? c.bestMiner === undefined : c.bestMiner !== undefined && bytesEqual(best, c.bestMiner)
  if (!same) bad(`the best miner must be ${best === undefined ? 'absent (no honest miner was scored)' : toHex(best)}`)
}

/**
 * The canonical bytes (big-endian):
 *   u8 version (2) | taskId (16) | u8 verdict (0 match, 1 mismatch, 2 unavailable)
 *   | u16 n | n x (miner key (32) | u32 scorePpm)
 *   | u16 m | m x cheater key (32)
 *   | u16 r | r x reporter key (32)
 *   | u8 hasBest (0 / 1) | [best miner key (32)]
 */
export function conclusionToBytes(c: Conclusion): Uint8Array {
  assertValidConclusion(c)
  const w = new Writer().u8(CONCLUSION_VERSION).fixed(c.taskId, TASK_ID_SIZE).u8(VERDICT_BYTES[c.testSetVerdict])
  w.u16(c.scores.length)
  for (const s of c.scores) w.fixed(s.miner, CONCLUSION_KEY_SIZE).u32(s.scorePpm)
  w.u16(c.cheaters.length)
  for (const k of c.cheaters) w.fixed(k, CONCLUSION_KEY_SIZE)
  w.u16(c.reporters.length)
  for (const k of c.reporters) w.fixed(k, CONCLUSION_KEY_SIZE)
  if (c.bestMiner === undefined) w.u8(0)
  else w.u8(1).fixed(c.bestMiner, CONCLUSION_KEY_SIZE)
  return w.finish()
}

export const MAX_CONCLUSION_BYTES = 1 + TASK_ID_SIZE + 1 + 2 + MAX_CONCLUSION_ENTRIES * (CONCLUSION_KEY_SIZE + 4) + 2 * (2 + MAX_CONCLUSION_ENTRIES * CONCLUSION_KEY_SIZE) + 1 + CONCLUSION_KEY_SIZE

/**
 * Decodes untrusted bytes. Throws PROTOCOL_* for bytes that do not parse
 * (truncated, too large, trailing, unknown version) and LEDGER_BAD_CONCLUSION
 * for a parsed conclusion that is not canonical.
 */
export function conclusionFromBytes(bytes: Uint8Array): Conclusion {
  if (!(bytes instanceof Uint8Array)) throw ledgerError('BAD_CONCLUSION', 'a conclusion must be bytes')
  if (bytes.length > MAX_CONCLUSION_BYTES) throw ledgerError('BAD_CONCLUSION', `a conclusion is ${bytes.length} bytes, at most ${MAX_CONCLUSION_BYTES}`)
  const r = new Reader(bytes, 'conclusion')
  const v = r.u8('version')
  if (v !== CONCLUSION_VERSION) throw ledgerError('BAD_CONCLUSION', `conclusion version ${v}, expected ${CONCLUSION_VERSION}`)
  const taskId = r.bytes(TASK_ID_SIZE, 'task id')
  const vb = r.u8('verdict')
  const testSetVerdict = (Object.keys(VERDICT_BYTES) as TestSetVerdict[]).find((k) => VERDICT_BYTES[k] === vb)
  if (testSetVerdict === undefined) throw ledgerError('BAD_CONCLUSION', `unknown test-set verdict byte ${vb}`)
  const n = r.count(MAX_CONCLUSION_ENTRIES, 'scores', 2)
  const scores: MinerScore[] = []
  for (let i = 0; i < n; i++) scores.push({ miner: r.bytes(CONCLUSION_KEY_SIZE, 'miner key'), scorePpm: r.u32('score') })
  const m = r.count(MAX_CONCLUSION_ENTRIES, 'cheaters', 2)
  const cheaters: Uint8Array[] = []
  for (let i = 0; i < m; i++) cheaters.push(r.bytes(CONCLUSION_KEY_SIZE, 'cheater key'))
  const k = r.count(MAX_CONCLUSION_ENTRIES, 'reporters', 2)
  const reporters: Uint8Array[] = []
  for (let i = 0; i < k; i++) reporters.push(r.bytes(CONCLUSION_KEY_SIZE, 'reporter key'))
  const hasBest = r.u8('has best miner')
  if (hasBest > 1) throw ledgerError('BAD_CONCLUSION', `has-best-miner byte ${hasBest}, expected 0 or 1`)
  const bestMiner = hasBest === 1 ? r.bytes(CONCLUSION_KEY_SIZE, 'best miner') : undefined
  r.end()
  const c: Conclusion = { taskId, testSetVerdict, scores, cheaters, reporters, bestMiner }
  assertValidConclusion(c)
  return c
}

/** A canonical conclusion from unordered findings: sorts, and derives the best miner. */
export function createConclusion(
  taskId: Uint8Array, testSetVerdict: TestSetVerdict, scores: readonly MinerScore[], cheaters: readonly Uint8Array[], reporters: readonly Uint8Array[] = [],
): Conclusion {
  const s = [...scores].sort((a, b) => compareBytes(a.miner, b.miner))
  const ch = [...cheaters].sort(compareBytes)
  const c: Conclusion = { taskId, testSetVerdict, scores: s, cheaters: ch, reporters: [...reporters].sort(compareBytes), bestMiner: bestMinerOf(s, ch) }
  assertValidConclusion(c)
  return c
}

// ---- (a) commit-then-reveal ----

/**
 * Commitment format: a salted, domain-separated hash, not encryption.
 *
 *   commitment = SHA256(T || T || taskId || evaluator || u32 len || conclusion || salt)
 *   T = SHA256("pouw/conclusion-commit")
 *
 * (the construction of protocol's taggedHash, with its own tag), where salt is
 * 32 bytes the evaluator draws at random and reveals with the conclusion.
 *
 * Why a hash and not the paper's "encrypted form + decryption key": both hide
 * the conclusion until the reveal, but only the hash is binding by itself. A
 * common AEAD (AES-GCM, ChaCha20-Poly1305) is not key-committing: one
 * ciphertext can be opened to two different plaintexts with two keys, so a
 * cheat could pick his conclusion after seeing the others'. A hash commitment
 * is binding (collision resistance) and, with a 256-bit random salt, hiding;
 * its check is one hash, with no cipher to agree on.
 *
 * Why taskId and the evaluator's key are inside: otherwise an evaluator could
 * copy another's commitment and, after the other's reveal, reveal the same
 * (conclusion, salt): exactly the copying commit-then-reveal exists to stop.
 * The length prefix keeps (conclusion, salt) splits unambiguous.
 */
export const CONCLUSION_SALT_SIZE = 32
const COMMIT_TAG = 'pouw/conclusion-commit'
let commitPrefix: Uint8Array | undefined

export function computeConclusionCommitment(taskId: Uint8Array, evaluator: Uint8Array, conclusion: Uint8Array, salt: Uint8Array): Uint8Array {
  if (!isKey(taskId, TASK_ID_SIZE)) throw new Error(`internal: a task id is ${TASK_ID_SIZE} bytes`)
  if (!isKey(evaluator)) throw new Error(`internal: an evaluator key is ${CONCLUSION_KEY_SIZE} bytes`)
  if (!isKey(salt, CONCLUSION_SALT_SIZE)) throw new Error(`internal: a salt is ${CONCLUSION_SALT_SIZE} bytes`)
  if (commitPrefix === undefined) {
    const t = sha256(new TextEncoder().encode(COMMIT_TAG))
    commitPrefix = concatBytes(t, t)
  }
  const len = new Writer().u32(conclusion.length).finish()
  return sha256.create().update(commitPrefix).update(taskId).update(evaluator).update(len).update(conclusion).update(salt).digest()
}

/**
 * Checks an evaluator's reveal against its earlier commitment and returns
 * the decoded conclusion. Throws LEDGER_BAD_REVEAL when the salt is not 32
 * bytes or the reveal does not hash to the commitment (the evaluator broke the
 * protocol: its stake is captured), LEDGER_BAD_CONCLUSION / PROTOCOL_* when it
 * does but the conclusion is malformed, or is about another task.
 */
export function checkReveal(commitment: Uint8Array, taskId: Uint8Array, evaluator: Uint8Array, conclusion: Uint8Array, salt: Uint8Array): Conclusion {
  if (!isKey(commitment)) throw ledgerError('BAD_REVEAL', `a commitment is ${CONCLUSION_KEY_SIZE} bytes, got ${(commitment as Uint8Array | undefined)?.length}`)
  if (!(conclusion instanceof Uint8Array) || conclusion.length > MAX_CONCLUSION_BYTES) throw ledgerError('BAD_REVEAL', 'the revealed conclusion is not bytes of a conclusion\'s size')
  if (!isKey(salt, CONCLUSION_SALT_SIZE)) throw ledgerError('BAD_REVEAL', `the salt must be ${CONCLUSION_SALT_SIZE} bytes, got ${(salt as Uint8Array | undefined)?.length}`)
  const expected = computeConclusionCommitment(taskId, evaluator, conclusion, salt)
  if (!bytesEqual(expected, commitment)) {
    throw ledgerError('BAD_REVEAL', `the reveal of evaluator ${toHex(evaluator)} does not match its commitment`, { evaluator: toHex(evaluator) })
  }
  const c = conclusionFromBytes(conclusion)
  if (!bytesEqual(c.taskId, taskId)) throw ledgerError('BAD_CONCLUSION', `the conclusion is about task ${toHex(c.taskId)}, not ${toHex(taskId)}`)
  return c
}

// ---- (c) agreement ----

export interface RevealedConclusion {
  evaluator: Uint8Array
  /** canonical conclusion bytes (checked with checkReveal) */
  conclusion: Uint8Array
}

export type Agreement =
  | { decided: true; conclusion: Uint8Array; agreeing: Uint8Array[]; dissenting: Uint8Array[]; silent: Uint8Array[] }
  | { decided: false; largest: number; needed: number; silent: Uint8Array[] }

/** ceil(2n/3): identical conclusions needed among n evaluators. */
export function agreementThreshold(n: number): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`internal: committee of ${n} evaluators`)
  return Math.ceil((2 * n) / 3)
}

/**
 * Rule (§4.4): among the n evaluators of `committee`, a conclusion revealed
 * identically (byte for byte) by at least ceil(2n/3) of them decides. Two
 * groups can never both reach it (2 ceil(2n/3) > n). Evaluators that did not
 * reveal count against agreement (n is the committee, not the reveals).
 * Otherwise decided is false: draw a new round of evaluators.
 *
 * Throws LEDGER_BAD_REVEAL for a reveal from outside the committee or a second
 * reveal by the same evaluator. Key lists come out sorted.
 */
export function decideAgreement(committee: readonly Uint8Array[], reveals: readonly RevealedConclusion[]): Agreement {
  const members = new Map<string, Uint8Array>()
  for (const k of committee) {
    if (!isKey(k)) throw new Error(`internal: an evaluator key is ${CONCLUSION_KEY_SIZE} bytes`)
    members.set(toHex(k), k)
  }
  if (members.size !== committee.length) throw new Error('internal: the evaluator committee repeats a key')
  const groups = new Map<string, Uint8Array[]>()
  const revealed = new Set<string>()
  for (const r of reveals) {
    const id = isKey(r.evaluator) ? toHex(r.evaluator) : ''
    if (!members.has(id)) throw ledgerError('BAD_REVEAL', 'a reveal from an evaluator outside the committee', { evaluator: id })
    if (revealed.has(id)) throw ledgerError('BAD_REVEAL', `evaluator ${id} revealed twice`, { evaluator: id })
    revealed.add(id)
    const g = toHex(r.conclusion)
    const list = groups.get(g) ?? []
    list.push(r.evaluator)
    groups.set(g, list)
  }
  const silent = [...members.entries()].filter(([id]) => !revealed.has(id)).map(([, k]) => k).sort(compareBytes)
  const needed = agreementThreshold(committee.length)
  let largest = 0
  for (const [g, list] of groups) {
    largest = Math.max(largest, list.length)
    if (list.length >= needed) {
      const dissenting: Uint8Array[] = []
      for (const [h, other] of groups) if (h !== g) dissenting.push(...other)
      return {
        decided: true, conclusion: reveals.find((r) => toHex(r.conclusion) === g)!.conclusion,
        agreeing: [...list].sort(compareBytes), dissenting: dissenting.sort(compareBytes), silent,
      }
    }
  }
  return { decided: false, largest, needed, silent }
}

// ---- (d) trimmed mean, outliers ----

export interface EvaluatorScores {
  evaluator: Uint8Array
  scores: readonly MinerScore[]
}

export interface TrimmedMean {
  /** per miner (sorted by key): the trimmed mean of the evaluators' scores, ppm, rounded down */
  scores: MinerScore[]
  /** evaluators far from the consensus (sorted): some score off by more than the tolerance, or a miner left out */
  outliers: Uint8Array[]
  /** per evaluator (input order): its largest |score - trimmed mean| over the miners, ppm (-1 when it left a miner out) */
  deviations: number[]
}

/** k = floor((m - 1) / 3): scores trimmed from each end of m values. */
export function trimCount(m: number): number {
  return Math.floor((m - 1) / 3)
}

/**
 * Paper 001 §5.2: Q = trimmed_mean(s_1..s_k); reward evaluators close to
 * consensus, penalise outliers. Per miner, the m scores the evaluators gave
 * are sorted and k = floor((m - 1) / 3) are dropped from each end; the mean of
 * the rest is rounded down. Why that k: with f < m/3 Byzantine evaluators (the
 * same bound as the 2/3 agreement) at most k of them exist, so every value
 * kept lies between two honest ones: liars can never drag the mean outside
 * the honest range.
 *
 * An evaluator is an outlier when, for some miner, its score differs from the
 * trimmed mean by more than `tolerancePpm`, or when it scored fewer miners
 * than the others together did. Outliers get no evaluator reward
 * (computeCharge, status 'outlier'); their stake is not captured, as a far
 * score is as likely a bad GPU as a lie.
 */
export function trimmedMeanScores(evaluations: readonly EvaluatorScores[], tolerancePpm: number): TrimmedMean {
  if (!Number.isSafeInteger(tolerancePpm) || tolerancePpm < 0) throw new Error(`internal: tolerance ${tolerancePpm} ppm`)
  const byMiner = new Map<string, { miner: Uint8Array; values: number[] }>()
  const seen = new Set<string>()
  for (const e of evaluations) {
    if (!isKey(e.evaluator)) throw new Error(`internal: an evaluator key is ${CONCLUSION_KEY_SIZE} bytes`)
    const id = toHex(e.evaluator)
    if (seen.has(id)) throw ledgerError('BAD_REVEAL', `evaluator ${id} scored twice`, { evaluator: id })
    seen.add(id)
    const mine = new Set<string>()
    for (const s of e.scores) {
      if (!isKey(s.miner) || !Number.isSafeInteger(s.scorePpm) || s.scorePpm < 0 || s.scorePpm > PPM) {
        throw ledgerError('BAD_CONCLUSION', `evaluator ${id}: a score must name a 32-byte miner and be an integer in [0, ${PPM}] ppm`)
      }
      const m = toHex(s.miner)
      if (mine.has(m)) throw ledgerError('BAD_CONCLUSION', `evaluator ${id} scored miner ${m} twice`)
      mine.add(m)
      const entry = byMiner.get(m) ?? { miner: s.miner, values: [] }
      entry.values.push(s.scorePpm)
      byMiner.set(m, entry)
    }
  }
  const mean = new Map<string, number>()
  const scores: MinerScore[] = []
  for (const [m, { miner, values }] of [...byMiner.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const sorted = [...values].sort((a, b) => a - b)
    const k = trimCount(sorted.length)
    const kept = sorted.slice(k, sorted.length - k)
    const q = Math.floor(kept.reduce((x, y) => x + y, 0) / kept.length)
    mean.set(m, q)
    scores.push({ miner, scorePpm: q })
  }
  const outliers: Uint8Array[] = []
  const deviations: number[] = []
  for (const e of evaluations) {
    let dev = e.scores.length < byMiner.size ? -1 : 0
    if (dev === 0) for (const s of e.scores) dev = Math.max(dev, Math.abs(s.scorePpm - mean.get(toHex(s.miner))!))
    deviations.push(dev)
    if (dev < 0 || dev > tolerancePpm) outliers.push(e.evaluator)
  }
  return { scores, outliers: outliers.sort(compareBytes), deviations }
}

// ---- (e) CHARGE_FOR_TASK ----

export interface ChargeParams {
  /** shares of the fee, basis points, summing to 10_000 */
  minersBps: number
  supervisorsBps: number
  evaluatorsBps: number
  /** part of an offline worker's stake that is captured (§3.3: "e.g. 10%"), basis points */
  offlinePenaltyBps: number
}

/** Our starting values; the paper fixes none of the shares. */
export const DEFAULT_CHARGE_PARAMS: Readonly<ChargeParams> = {
  minersBps: 7_000,
  supervisorsBps: 2_000,
  evaluatorsBps: 1_000,
  offlinePenaltyBps: 1_000,
}

export const BPS = 10_000

/** honest: did the work; cheat: caught breaking a rule (stake captured); offline: selected but absent (part of the stake captured) */
export type WorkerStatus = 'honest' | 'cheat' | 'offline'
/** honest: agreed with the consensus; outlier: far from the trimmed mean (no reward); cheat: bad or missing reveal (stake captured) */
export type EvaluatorStatus = 'honest' | 'outlier' | 'cheat'

export interface WorkerParticipant {
  key: Uint8Array
  stake: bigint
  status: WorkerStatus
}

export interface MinerParticipant extends WorkerParticipant {
  /** the decided score on the test set, ppm */
  scorePpm: number
}

export interface EvaluatorParticipant {
  key: Uint8Array
  stake: bigint
  status: EvaluatorStatus
}

/**
 * completed: the task ran and the evaluators decided a conclusion;
 * not-run: it could not run (too few workers, revoked, ...): the fee goes back;
 * malformed: workers reported the task definition as malformed (§7.3).
 */
export type TaskOutcome = 'completed' | 'not-run' | 'malformed'

export interface ChargeInput {
  /**
   * who paid the fee (its task-fee coins' owners, one entry per key: usually the one client) and how
   * much: refunds to the client are apportioned among them by what each paid, so a coin added to
   * someone else's task takes back its own share and no more
   */
  clients: readonly { key: Uint8Array; paid: bigint }[]
  fee: bigint
  outcome: TaskOutcome
  /** completed tasks: the evaluators' verdict on the test set (default 'match') */
  testSetVerdict?: TestSetVerdict
  miners: readonly MinerParticipant[]
  supervisors: readonly WorkerParticipant[]
  evaluators: readonly EvaluatorParticipant[]
  /** malformed tasks: the worker nodes (miners or supervisors) that reported it */
  reporters?: readonly Uint8Array[]
  /**
   * stakes that joined the task (JOIN_TASK) but were not selected: returned in full. One key may
   * appear more than once (several tickets), and may also be a miner's (one seat per key).
   */
  unselected?: readonly { key: Uint8Array; stake: bigint }[]
}

/**
 * Splits `total` in proportion to `weights`, exactly to the unit (Hamilton's
 * largest-remainder method): each gets floor(total w_i / W), and the units left
 * over (fewer than the number of weights) go one each to the largest
 * remainders (total w_i mod W), ties to the lower index. A zero weight never
 * gets a unit. All weights zero: equal weights.
 */
export function apportion(total: bigint, weights: readonly bigint[]): bigint[] {
  if (total < 0n) throw new Error(`internal: apportion ${total}`)
  if (weights.length === 0) {
    if (total !== 0n) throw new Error('internal: apportion a positive total among nobody')
    return []
  }
  for (const w of weights) if (w < 0n) throw new Error(`internal: negative weight ${w}`)
  let W = weights.reduce((a, b) => a + b, 0n)
  const ws = W === 0n ? weights.map(() => 1n) : weights
  if (W === 0n) W = BigInt(weights.length)
  const out = ws.map((w) => (total * w) / W)
  let left = total - out.reduce((a, b) => a + b, 0n)
  const order = ws.map((w, i) => ({ i, rem: (total * w) % W })).sort((a, b) => (a.rem === b.rem ? a.i - b.i : a.rem > b.rem ? -1 : 1))
  for (const { i } of order) {
    if (left === 0n) break
    out[i]! += 1n
    left -= 1n
  }
  return out
}

function chargeError(msg: string, details?: Record<string, unknown>): never {
  throw ledgerError('BAD_CHARGE', msg, details)
}

function checkChargeParams(p: ChargeParams): void {
  for (const [k, v] of [['minersBps', p.minersBps], ['supervisorsBps', p.supervisorsBps], ['evaluatorsBps', p.evaluatorsBps], ['offlinePenaltyBps', p.offlinePenaltyBps]] as const) {
    if (!Number.isSafeInteger(v) || v < 0 || v > BPS) chargeError(`${k} is ${v}, expected an integer in [0, ${BPS}]`)
  }
  if (p.minersBps + p.supervisorsBps + p.evaluatorsBps !== BPS) {
    chargeError(`the fee shares sum to ${p.minersBps + p.supervisorsBps + p.evaluatorsBps} bps, expected ${BPS}`)
  }
}

function sortedRole<T extends { key: Uint8Array; stake: bigint; status: string }>(list: readonly T[], role: string, statuses: readonly string[]): T[] {
  if (!Array.isArray(list)) chargeError(`${role}s must be a list`)
  for (const p of list) {
    if (!isKey(p.key)) chargeError(`a ${role} key must be ${CONCLUSION_KEY_SIZE} bytes`)
    if (typeof p.stake !== 'bigint' || p.stake < 0n) chargeError(`${role} ${toHex(p.key)}: stake ${String(p.stake)} is not a non-negative bigint`)
    if (!statuses.includes(p.status)) chargeError(`${role} ${toHex(p.key)}: unknown status ${String(p.status)}`)
  }
  const sorted = [...list].sort((a, b) => compareBytes(a.key, b.key))
  if (!strictlyIncreasing(sorted.map((p) => p.key))) chargeError(`a ${role} is listed twice`)
  return sorted
}

/**
 * Rule: CHARGE_FOR_TASK, the fee and the task's stakes to the unit. Pure; the
 * output does not depend on the order of the input lists. Every amount in
 * (the fee and every participant's stake) is paid out exactly once:
 *
 *   sum(payouts) = fee + sum(stakes of miners, supervisors, evaluators, unselected)
 *
 * Stakes (every outcome):
 *   unselected        returned in full ('stake-return');
 *   honest, outlier   returned in full ('stake-return');
 *   offline           floor(stake offlinePenaltyBps / 10^4) captured, the rest returned;
 *   cheat             captured in full.
 *   The captured total is shared ('stake-redistribution') among the honest
 *   miners and supervisors in proportion to their stakes; if there are none,
 *   among the honest evaluators by stake; if none either, it goes to the clients.
 *
 * The fee:
 *   not-run, or completed with no honest miner: refunded to the clients ('fee-refund');
 *   malformed: floor(fee evaluatorsBps / 10^4) to the honest evaluators
 *     (equal shares; nothing if none), the rest to the reporters in equal
 *     shares ('malformed-report'); §7.3 "confiscated and distributed to worker
 *     nodes and to evaluators";
 *   completed with an honest miner: the fee is apportioned among the three
 *     pools by their bps; the supervisors' pool goes to the honest supervisors
 *     in equal shares, the evaluators' pool to the honest evaluators in equal
 *     shares (an empty group's pool is added to the miners'), the miners' pool
 *     to the honest miners in proportion to scorePpm (equal shares when all
 *     scores are 0, or when the test set did not match its hashes: then the
 *     scores measure nothing).
 *
 * What goes to the clients is apportioned among them by what each paid.
 * Every split uses apportion() over participants sorted by key, so remainders
 * fall deterministically. Payouts come out grouped (fee payouts, then stake
 * returns, then redistributions), each group by recipient key; zero amounts
 * are left out. Throws LEDGER_BAD_CHARGE for an input that breaks these rules
 * (bps not summing to 10^4, duplicate or malformed keys, negative amounts,
 * scores outside [0, 10^6], a malformed outcome without reporters or with a
 * reporter that is not a worker).
 */
export function computeCharge(input: ChargeInput, params: ChargeParams = DEFAULT_CHARGE_PARAMS): Payout[] {
  checkChargeParams(params)
  const clients = [...input.clients].sort((a, b) => compareBytes(a.key, b.key))
  if (clients.length === 0) chargeError('a charge needs the fee\'s payer')
  for (const c of clients) {
    if (!isKey(c.key)) chargeError(`a client key must be ${CONCLUSION_KEY_SIZE} bytes`)
    if (typeof c.paid !== 'bigint' || c.paid < 0n) chargeError(`client ${toHex(c.key)}: paid ${String(c.paid)} is not a non-negative bigint`)
  }
  if (!strictlyIncreasing(clients.map((c) => c.key))) chargeError('a client is listed twice')
  if (typeof input.fee !== 'bigint' || input.fee < 0n) chargeError(`fee ${String(input.fee)} is not a non-negative bigint`)
  if (!['completed', 'not-run', 'malformed'].includes(input.outcome)) chargeError(`unknown outcome ${String(input.outcome)}`)
  const verdict = input.testSetVerdict ?? 'match'
  if (!(verdict in VERDICT_BYTES)) chargeError(`unknown test-set verdict ${String(verdict)}`)
  const miners = sortedRole(input.miners, 'miner', ['honest', 'cheat', 'offline'])
  for (const m of miners) {
    if (!Number.isSafeInteger(m.scorePpm) || m.scorePpm < 0 || m.scorePpm > PPM) chargeError(`miner ${toHex(m.key)}: score ${String(m.scorePpm)} outside [0, ${PPM}]`)
  }
  const supervisors = sortedRole(input.supervisors, 'supervisor', ['honest', 'cheat', 'offline'])
  const evaluators = sortedRole(input.evaluators, 'evaluator', ['honest', 'outlier', 'cheat'])

  const feePayouts: Payout[] = []
  const pay = (list: Payout[], keys: readonly Uint8Array[], amounts: readonly bigint[], reason: Payout['reason']): void => {
    keys.forEach((k, i) => { if (amounts[i]! > 0n) list.push({ recipient: k, amount: amounts[i]!, reason }) })
  }
  const equal = (n: number): bigint[] => Array.from({ length: n }, () => 1n)
  const honestMiners = miners.filter((m) => m.status === 'honest')
  const honestSupervisors = supervisors.filter((s) => s.status === 'honest')
  const honestEvaluators = evaluators.filter((e) => e.status === 'honest')

  // the fee
  if (input.outcome === 'malformed') {
    const reporters = [...(input.reporters ?? [])].sort(compareBytes)
    if (reporters.length === 0) chargeError('a malformed task needs at least one reporter')
    if (!strictlyIncreasing(reporters)) chargeError('a reporter is listed twice')
    const workers = new Set([...miners, ...supervisors].map((p) => toHex(p.key)))
    for (const r of reporters) if (!isKey(r) || !workers.has(toHex(r))) chargeError('a reporter must be one of the task\'s miners or supervisors')
    const evalPool = honestEvaluators.length > 0 ? (input.fee * BigInt(params.evaluatorsBps)) / BigInt(BPS) : 0n
    pay(feePayouts, honestEvaluators.map((e) => e.key), apportion(evalPool, equal(honestEvaluators.length)), 'evaluator-reward')
    pay(feePayouts, reporters, apportion(input.fee - evalPool, equal(reporters.length)), 'malformed-report')
  } else if (input.outcome === 'not-run' || honestMiners.length === 0) {
    pay(feePayouts, clients.map((c) => c.key), apportion(input.fee, clients.map((c) => c.paid)), 'fee-refund')
  } else {
    const [minersPool0, supervisorsPool, evaluatorsPool] = apportion(input.fee, [params.minersBps, params.supervisorsBps, params.evaluatorsBps].map(BigInt))
    let minersPool = minersPool0!
    if (honestSupervisors.length > 0) pay(feePayouts, honestSupervisors.map((s) => s.key), apportion(supervisorsPool!, equal(honestSupervisors.length)), 'supervisor-reward')
    else minersPool += supervisorsPool!
    if (honestEvaluators.length > 0) pay(feePayouts, honestEvaluators.map((e) => e.key), apportion(evaluatorsPool!, equal(honestEvaluators.length)), 'evaluator-reward')
    else minersPool += evaluatorsPool!
    const weights = verdict === 'match' ? honestMiners.map((m) => BigInt(m.scorePpm)) : equal(honestMiners.length)
    pay(feePayouts, honestMiners.map((m) => m.key), apportion(minersPool, weights), 'miner-reward')
  }

  // the stakes
  const returns: Payout[] = []
  let captured = 0n
  for (const p of [...miners, ...supervisors, ...evaluators]) {
    let back = p.stake
    if (p.status === 'cheat') back = 0n
    else if (p.status === 'offline') back = p.stake - (p.stake * BigInt(params.offlinePenaltyBps)) / BigInt(BPS)
    captured += p.stake - back
    if (back > 0n) returns.push({ recipient: p.key, amount: back, reason: 'stake-return' })
  }
  for (const u of input.unselected ?? []) {
    if (!isKey(u.key)) chargeError(`an unselected stake's key must be ${CONCLUSION_KEY_SIZE} bytes`)
    if (typeof u.stake !== 'bigint' || u.stake < 0n) chargeError(`unselected ${toHex(u.key)}: stake ${String(u.stake)} is not a non-negative bigint`)
    if (u.stake > 0n) returns.push({ recipient: u.key, amount: u.stake, reason: 'stake-return' })
  }
  const redistribution: Payout[] = []
  if (captured > 0n) {
    const fair = [...honestMiners, ...honestSupervisors]
    const takers = fair.length > 0 ? fair : honestEvaluators
    if (takers.length > 0) pay(redistribution, takers.map((p) => p.key), apportion(captured, takers.map((p) => p.stake)), 'stake-redistribution')
    else pay(redistribution, clients.map((c) => c.key), apportion(captured, clients.map((c) => c.paid)), 'stake-redistribution')
  }

  const byKey = (a: Payout, b: Payout): number => compareBytes(a.recipient, b.recipient) || (a.amount < b.amount ? -1 : a.amount > b.amount ? 1 : 0)
  return [...feePayouts.sort(byKey), ...returns.sort(byKey), ...redistribution.sort(byKey)]
}

/** sum of amounts, for callers checking a CHARGE_FOR_TASK against its inputs */
export function sumPayouts(payouts: readonly Payout[]): bigint {
  return payouts.reduce((a, p) => a + p.amount, 0n)
}
