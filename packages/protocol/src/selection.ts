import { bytesToBigInt, compareBytes, concatBytes, toHex } from './bytes.js'
import { protocolError } from './errors.js'
import { TAGS, taggedHash } from './hash.js'
import { VRF_OUTPUT_SIZE, vrfProofToHash, vrfProve, vrfVerify } from './vrf.js'

/**
 * Worker selection, paper 003 §4.1. For each live ticket a worker
 *   1. computes s(P, Pmax), the cosine similarity between the ticket's
 *      preferences P and the matching part Pmax of the task's preferences;
 *   2. computes (beta, pi) = VRF_sk(hash_TDB || role);
 *   3. is selected when  s(P, Pmax) >= omega_S * beta / (2^hashlen - 1).
 *
 * Everything here is integer arithmetic, so every node reaches the same
 * answer on every platform:
 *   - s is carried in parts per million (ppm), rounded down, computed exactly
 *     with bigint. Doubles would not do: with u32 weights the sums of squares
 *     pass 2^53 and get rounded, so the last ppm would depend on summation
 *     order and on how another implementation (another language, a GPU)
 *     rounds, and a ticket sitting right at the threshold would be selected
 *     on some nodes and not on others;
 *   - omega_S is carried in ppm too, so the rule becomes
 *       simPpm * (2^512 - 1) >= omegaPpm * beta
 *     with beta read as a 512-bit big-endian integer. A ticket is thus selected
 *     with probability min(1, simPpm / omegaPpm): omega_S = 10 (10_000_000 ppm)
 *     picks about one perfectly matching ticket in ten.
 */

export const SELECTION_ROLES = ['miner', 'supervisor', 'evaluator', 'verifier'] as const
/** a role's index in SELECTION_ROLES: the byte a ticket's stake lock carries */
export const roleIndex = (role: (typeof SELECTION_ROLES)[number]): number => SELECTION_ROLES.indexOf(role)
export type Role = (typeof SELECTION_ROLES)[number]

/** The role byte appended to the block hash in the VRF input. */
export const ROLE_BYTES: Readonly<Record<Role, number>> = { miner: 1, supervisor: 2, evaluator: 3, verifier: 4 }

export const PPM = 1_000_000
const PPM_N = 1_000_000n
/** hashlen of the paper: the VRF output is SHA-512 */
export const SELECTION_HASH_BITS = VRF_OUTPUT_SIZE * 8
const HASH_MAX = (1n << BigInt(SELECTION_HASH_BITS)) - 1n // 2^hashlen - 1

/** Most preference features a vector may have, and the largest weight (u32). */
export const MAX_PREFERENCE_FEATURES = 256
export const MAX_PREFERENCE_WEIGHT = 0xffff_ffff

const BLOCK_HASH_SIZE = 32

function isRole(r: unknown): r is Role {
  return typeof r === 'string' && (SELECTION_ROLES as readonly string[]).includes(r)
}

/**
 * alpha = taskBlockHash || role byte (32 + 1 bytes), the paper's; with `owner` (the ticket owner's
 * 32-byte key), alpha = taskBlockHash || role byte || owner: a proof then holds for that owner's
 * ticket only, so whoever copies a VRF key into a ticket of their own cannot reuse its proofs.
 */
export function vrfInput(taskBlockHash: Uint8Array, role: Role, owner?: Uint8Array): Uint8Array {
  if (!(taskBlockHash instanceof Uint8Array) || taskBlockHash.length !== BLOCK_HASH_SIZE) {
    throw protocolError('BAD_VALUE', `selection: the block hash must be ${BLOCK_HASH_SIZE} bytes, got ${taskBlockHash?.length}`)
  }
  if (!isRole(role)) throw protocolError('BAD_VALUE', `selection: unknown role ${String(role)}`)
  if (owner !== undefined && (!(owner instanceof Uint8Array) || owner.length !== 32)) throw protocolError('BAD_VALUE', 'selection: the owner key must be 32 bytes')
  const out = new Uint8Array(BLOCK_HASH_SIZE + 1 + (owner?.length ?? 0))
  out.set(taskBlockHash)
  out[BLOCK_HASH_SIZE] = ROLE_BYTES[role]
  if (owner !== undefined) out.set(owner, BLOCK_HASH_SIZE + 1)
  return out
}

function integerSqrt(n: bigint): bigint {
  if (n < 2n) return n
  // Newton's method from an overestimate; decreasing until it settles.
  let x = 1n << BigInt((n.toString(2).length + 1) >> 1)
  for (;;) {
    const y = (x + n / x) >> 1n
    if (y >= x) return x
    x = y
  }
}

/** floor(sqrt(n)) for a non-negative safe integer or bigint */
export function isqrt(n: number | bigint): bigint {
  const v = BigInt(n)
  if (v < 0n) throw new Error(`internal: isqrt of negative ${v}`)
  return integerSqrt(v)
}

function checkPreferences(v: readonly number[], what: string): void {
  if (!Array.isArray(v)) throw protocolError('BAD_VALUE', `${what}: expected an array of weights`)
  if (v.length > MAX_PREFERENCE_FEATURES) throw protocolError('TOO_LARGE', `${what}: ${v.length} features, at most ${MAX_PREFERENCE_FEATURES}`)
  for (let i = 0; i < v.length; i++) {
    const x = v[i]
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > MAX_PREFERENCE_WEIGHT) {
      throw protocolError('BAD_VALUE', `${what}[${i}] is ${String(x)}, expected an integer in [0, ${MAX_PREFERENCE_WEIGHT}]`)
    }
  }
}

/**
 * The cosine similarity of two non-negative integer vectors, in parts per
 * million, rounded down:
 *
 *   floor(10^6 * (a.b) / sqrt(|a|^2 |b|^2))
 *
 * Exact: with D = a.b >= 0 and N = |a|^2 |b|^2 > 0, an integer t satisfies
 * t <= 10^6 D / sqrt(N)  iff  t^2 N <= 10^12 D^2, so the answer is
 * isqrt(floor(10^12 D^2 / N)), all in bigint (floor(sqrt(floor(y))) equals
 * floor(sqrt(y)) for real y >= 0). By Cauchy-Schwarz the result lies in
 * [0, 10^6], and is exactly 10^6 for parallel vectors. A zero vector has
 * similarity 0 (it expresses no preference, so it matches nothing).
 *
 * Paper 003 §4.1 compares P with Pmax, "the corresponding maximal subset of
 * possible task preferences": the caller lays both out over the same features,
 * in the same order. Throws PROTOCOL_BAD_VALUE / TOO_LARGE for vectors of
 * different lengths, more than MAX_PREFERENCE_FEATURES features, or weights
 * that are not integers in [0, 2^32 - 1].
 */
export function cosineSimilarity(a: readonly number[], b: readonly number[]): number {
  checkPreferences(a, 'preferences')
  checkPreferences(b, 'task preferences')
  if (a.length !== b.length) throw protocolError('BAD_VALUE', `preference vectors differ in length: ${a.length} vs ${b.length}`)
  let dot = 0n
  let na = 0n
  let nb = 0n
  for (let i = 0; i < a.length; i++) {
    const x = BigInt(a[i]!)
    const y = BigInt(b[i]!)
    dot += x * y
    na += x * x
    nb += y * y
  }
  if (na === 0n || nb === 0n) return 0
  const t = integerSqrt((PPM_N * PPM_N * dot * dot) / (na * nb))
  return Number(t > PPM_N ? PPM_N : t)
}

function checkPpm(v: number, what: string, allowZero: boolean): void {
  if (!Number.isSafeInteger(v) || v < (allowZero ? 0 : 1)) {
    throw protocolError('BAD_VALUE', `${what} is ${String(v)}, expected ${allowZero ? 'a non-negative' : 'a positive'} integer (ppm)`)
  }
}

function checkBeta(beta: Uint8Array): void {
  if (!(beta instanceof Uint8Array) || beta.length !== VRF_OUTPUT_SIZE) {
    throw protocolError('BAD_VALUE', `selection: a VRF output is ${VRF_OUTPUT_SIZE} bytes, got ${beta?.length}`)
  }
}

/**
 * The §4.1 rule, exactly: s >= omega_S * beta / (2^hashlen - 1), with s and
 * omega_S in ppm:  similarityPpm * (2^512 - 1) >= omegaPpm * beta.
 * omegaPpm must be positive; similarityPpm in [0, 10^6].
 */
export function isSelected(beta: Uint8Array, similarityPpm: number, omegaPpm: number): boolean {
  checkBeta(beta)
  checkPpm(similarityPpm, 'similarity', true)
  if (similarityPpm > PPM) throw protocolError('BAD_VALUE', `similarity is ${similarityPpm} ppm, at most ${PPM}`)
  checkPpm(omegaPpm, 'omega_S', false)
  return BigInt(similarityPpm) * HASH_MAX >= BigInt(omegaPpm) * bytesToBigInt(beta)
}

/**
 * The largest omega_S (in ppm) under which this (beta, similarity) is still
 * selected: floor(similarityPpm * (2^512 - 1) / beta), so that
 *   isSelected(beta, s, omega)  iff  omega <= selectionScore(beta, s).
 * Higher is better. For beta = 0 (probability 2^-512) every omega selects;
 * the score is then SELECTION_SCORE_MAX, above any other score.
 */
export const SELECTION_SCORE_MAX = BigInt(PPM) * (HASH_MAX + 1n)
export function selectionScore(beta: Uint8Array, similarityPpm: number): bigint {
  checkBeta(beta)
  checkPpm(similarityPpm, 'similarity', true)
  if (similarityPpm > PPM) throw protocolError('BAD_VALUE', `similarity is ${similarityPpm} ppm, at most ${PPM}`)
  const h = bytesToBigInt(beta)
  if (h === 0n) return SELECTION_SCORE_MAX
  return (BigInt(similarityPpm) * HASH_MAX) / h
}

/** What a worker publishes with its application (JOIN_TASK). */
export interface SelectionProof { pi: Uint8Array; beta: Uint8Array }

/** The worker's side: the VRF proof and output for this block and role. */
export function proveSelection(vrfSecretKey: Uint8Array, taskBlockHash: Uint8Array, role: Role, owner?: Uint8Array): SelectionProof {
  const pi = vrfProve(vrfSecretKey, vrfInput(taskBlockHash, role, owner))
  return { pi, beta: vrfProofToHash(pi) }
}

export type SelectionCheck =
  | { selected: true; beta: Uint8Array }
  | { selected: false; reason: 'invalid-proof' | 'below-threshold' }

/**
 * Everyone else's side: is pi a valid VRF proof by publicKey over
 * (taskBlockHash, role), and does its output pass the §4.1 threshold with
 * the given similarity? Never throws on the untrusted pi / publicKey; throws
 * PROTOCOL_BAD_VALUE on a bad block hash, role, similarity or omega.
 * Both negative answers mean the application broke a rule.
 */
export function verifySelection(
  publicKey: Uint8Array, taskBlockHash: Uint8Array, role: Role, pi: Uint8Array, similarityPpm: number, omegaPpm: number, owner?: Uint8Array,
): SelectionCheck {
  const alpha = vrfInput(taskBlockHash, role, owner)
  const beta = vrfVerify(publicKey, alpha, pi)
  if (beta === undefined) return { selected: false, reason: 'invalid-proof' }
  return isSelected(beta, similarityPpm, omegaPpm) ? { selected: true, beta } : { selected: false, reason: 'below-threshold' }
}

/**
 * Network-wide coefficients for committee sizes (§4.1). The paper's omega_D,
 * omega_t, omega_F are real numbers; we carry them in ppm.
 */
export interface CommitteeParams {
  /** omega_D per kB of dataset, ppm */
  omegaDiskPpm: number
  /** omega_t per second of expected training time, ppm */
  omegaTimePpm: number
  /** omega_F per unit of fee, ppm */
  omegaFeePpm: number
  /** paper §5: "Ten verifiers are automatically selected" */
  verifiers: number
  /** the paper gives no size for evaluators (§4.4: 2/3 must agree); ours */
  minEvaluators: number
  maxEvaluators: number
}

/** Our starting values; the paper fixes none of these coefficients. */
export const DEFAULT_COMMITTEE_PARAMS: Readonly<CommitteeParams> = {
  omegaDiskPpm: 1_000, // one more miner allowed per MB of dataset
  omegaTimePpm: 1_000, // and per 1000 s of expected training
  omegaFeePpm: 0, // the fee does not widen the committee
  verifiers: 10,
  minEvaluators: 3,
  maxEvaluators: 7,
}

/** What the committee sizes depend on. */
export interface CommitteeContext {
  /** |M|, the number of miners of the task (supervisors only) */
  miners?: number
  /** disk_size(D) in kB (miners only) */
  datasetKB?: number
  /** t_exp in seconds (miners only) */
  expectedTrainingSeconds?: number
  /** F, the client's fee in base units (miners only) */
  fee?: bigint
}

export interface CommitteeBounds { min: number; max: number }

function needCount(v: number | undefined, what: string): number {
  if (v === undefined || !Number.isSafeInteger(v) || v < 0) throw protocolError('BAD_VALUE', `committee: ${what} is ${String(v)}, expected a non-negative integer`)
  return v
}

/**
 * Committee sizes, inclusive bounds:
 *   supervisor  [3, max(3, floor(sqrt(|M|)))]                        (§4.1)
 *   miner       [2, floor(omega_D disk_size(D) + omega_t t_exp + omega_F F)]  (§4.1)
 *   verifier    [10, 10]                                              (§5, params.verifiers)
 *   evaluator   [params.minEvaluators, params.maxEvaluators]          (not in the paper)
 * The miner bound may come out below 2: then no committee fits, and §4.1
 * says such a task definition block is invalid (check max >= min).
 */
export function committeeBounds(role: Role, ctx: CommitteeContext, params: Readonly<CommitteeParams> = DEFAULT_COMMITTEE_PARAMS): CommitteeBounds {
  switch (role) {
    case 'supervisor': {
      const m = needCount(ctx.miners, '|M|')
      const root = Number(integerSqrt(BigInt(m)))
      return { min: 3, max: Math.max(3, root) }
    }
    case 'miner': {
      const disk = BigInt(needCount(ctx.datasetKB, 'dataset size (kB)'))
      const time = BigInt(needCount(ctx.expectedTrainingSeconds, 'expected training time (s)'))
      const fee = ctx.fee
      if (typeof fee !== 'bigint' || fee < 0n) throw protocolError('BAD_VALUE', `committee: fee is ${String(fee)}, expected a non-negative bigint`)
      for (const [k, v] of [['omegaDiskPpm', params.omegaDiskPpm], ['omegaTimePpm', params.omegaTimePpm], ['omegaFeePpm', params.omegaFeePpm]] as const) {
        if (!Number.isSafeInteger(v) || v < 0) throw new Error(`internal: committee param ${k} is ${v}`)
      }
      const total = (BigInt(params.omegaDiskPpm) * disk + BigInt(params.omegaTimePpm) * time + BigInt(params.omegaFeePpm) * fee) / PPM_N
      const max = total > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(total)
      return { min: 2, max }
    }
    case 'verifier':
      return { min: params.verifiers, max: params.verifiers }
    case 'evaluator':
      return { min: params.minEvaluators, max: params.maxEvaluators }
    default:
      throw protocolError('BAD_VALUE', `selection: unknown role ${String(role)}`)
  }
}

/** One application that passed verifySelection. */
export interface SelectionCandidate {
  publicKey: Uint8Array
  beta: Uint8Array
  similarityPpm: number
}

function compareKeys(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return a.length - b.length
}

/**
 * Total order on candidates, best first: by beta / similarity ascending (the
 * exact rational, compared by cross-multiplication: the candidate that would
 * survive the largest omega_S comes first; similarity 0 comes last), then by
 * beta, then by public key. Every node sorts the same list the same way.
 */
export function compareCandidates(a: SelectionCandidate, b: SelectionCandidate): number {
  const ha = bytesToBigInt(a.beta)
  const hb = bytesToBigInt(b.beta)
  const sa = BigInt(a.similarityPpm)
  const sb = BigInt(b.similarityPpm)
  if (sa === 0n || sb === 0n) {
    if (sa !== sb) return sa === 0n ? 1 : -1
  } else {
    const l = ha * sb
    const r = hb * sa
    if (l !== r) return l < r ? -1 : 1
  }
  if (ha !== hb) return ha < hb ? -1 : 1
  return compareKeys(a.publicKey, b.publicKey)
}

/**
 * The committee: candidates (already checked with verifySelection) in
 * compareCandidates order, one seat per public key (a key that applied twice
 * keeps its best entry), cut to bounds.max. Undefined when fewer than
 * bounds.min distinct keys applied: the task cannot start with them.
 */
export function rankCandidates<T extends SelectionCandidate>(candidates: readonly T[], bounds: CommitteeBounds): T[] | undefined {
  if (!Number.isSafeInteger(bounds.min) || !Number.isSafeInteger(bounds.max) || bounds.min < 0) {
    throw new Error(`internal: committee bounds [${bounds.min}, ${bounds.max}]`)
  }
  for (const c of candidates) {
    checkBeta(c.beta)
    checkPpm(c.similarityPpm, 'similarity', true)
  }
  const sorted = [...candidates].sort(compareCandidates)
  const seen = new Set<string>()
  const out: T[] = []
  for (const c of sorted) {
    if (out.length >= bounds.max) break
    const id = toHex(c.publicKey)
    if (seen.has(id)) continue
    seen.add(id)
    out.push(c)
  }
  return out.length >= bounds.min ? out : undefined
}

/** §5.2: "ten verifiers are automatically selected based on the mined block hash (as a random seed)". */
export const VERIFIERS_PER_BLOCK = 10

/**
 * The verifiers of a block: the `n` candidates (supervisor keys) whose
 * H_verifier-choice(blockHash || key) are lowest; all of them when there are
 * no more than `n`. Every node computes the same list from the block hash
 * alone, and a miner cannot steer it without mining another block. The list
 * is in that order (ties, impossible for distinct keys, by key).
 */
export function chooseVerifiers(blockHash: Uint8Array, candidates: readonly Uint8Array[], n: number = VERIFIERS_PER_BLOCK): Uint8Array[] {
  if (blockHash.length !== 32) throw protocolError('BAD_VALUE', `block hash of ${blockHash.length} bytes, expected 32`)
  if (!Number.isInteger(n) || n < 1) throw protocolError('BAD_VALUE', `verifiers per block must be a positive integer, got ${n}`)
  return candidates
    .map((key) => ({ key, score: taggedHash(TAGS.verifierChoice, concatBytes(blockHash, key)) }))
    .sort((a, b) => compareBytes(a.score, b.score) || compareBytes(a.key, b.key))
    .slice(0, n)
    .map((x) => x.key)
}

/** Accepting verdicts of the chosen verifiers a node needs before it takes a block it did not re-run: a majority. */
export function verifierQuorum(chosen: number): number {
  return Math.floor(chosen / 2) + 1
}
