import { TAGS, Writer, taggedHash, toHex, type AssignmentMethod } from '@pouw/protocol'
import { pouwError } from '../errors.js'
import { assertIntIn, assertSeed, dataPrepError } from './plan.js'

/**
 * Mini-batch assignment for epoch ξ among the miners M of a task (paper
 * §4.2.2): "interleaved parts" or "consistent hashing with bounded loads".
 * Both are pure functions of (params, seed, miners, m, ξ): every miner knows
 * its batches and their order in advance, and a verifier reproduces them.
 * When a miner joins or leaves, the caller passes the new miner list and the
 * assignment is re-evaluated.
 */

export type { AssignmentMethod }

export interface AssignmentParams {
  method: AssignmentMethod
  /** ring of 2^kappa positions (consistent hashing) */
  kappa: number
  /** c = loadFactorPermille / 1000, 1 <= c <= 2: nobody takes more than ceil(c·m/|M|) batches (consistent hashing) */
  loadFactorPermille: number
}

export const MINER_KEY_SIZE = 32
export const MAX_MINERS = 65_536
export const MAX_BATCHES = 1 << 24
export const MAX_EPOCH = 0xffff_ffff

function u32(n: number): Uint8Array {
  return new Writer().u32(n).finish()
}

/**
 * H(b) for mini-batch b: H_batch-key(seed || u32 b). The paper hashes the
 * batch contents; we hash the batch index under the task seed instead, so
 * that assignment needs no data (a verifier or a miner that has not yet
 * downloaded D(tr) can compute it) while remaining unpredictable before the
 * task-definition block is known.
 */
export function batchKey(seed: Uint8Array, b: number): Uint8Array {
  assertSeed(seed)
  assertIntIn(b, 0, MAX_BATCHES - 1, 'mini-batch index')
  return taggedHash(TAGS.batchKey, seed, u32(b))
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return a.length - b.length
}

/** Miners sorted bytewise, checked: 32-byte keys, no duplicates, at least one. */
function sortedMiners(miners: readonly Uint8Array[]): Uint8Array[] {
  assertIntIn(miners.length, 1, MAX_MINERS, 'miner count')
  for (const k of miners) {
    if (!(k instanceof Uint8Array) || k.length !== MINER_KEY_SIZE) {
      throw dataPrepError('BAD_PARAMS', `a miner key must be ${MINER_KEY_SIZE} bytes, got ${k instanceof Uint8Array ? k.length : typeof k}`)
    }
  }
  const sorted = [...miners].sort(compareBytes)
  for (let i = 1; i < sorted.length; i++) {
    if (compareBytes(sorted[i - 1]!, sorted[i]!) === 0) throw dataPrepError('BAD_PARAMS', `miner ${toHex(sorted[i]!)} listed twice`)
  }
  return sorted
}

/** Low `kappa` bits of a hash read as a big-endian integer, i.e. H mod 2^kappa (kappa <= 32). */
function ringPosition(h: Uint8Array, kappa: number): number {
  const v = new DataView(h.buffer, h.byteOffset + h.length - 4, 4).getUint32(0)
  return kappa === 32 ? v : v % 2 ** kappa
}

/** Position of a miner on the ring: H_miner-ring(key) mod 2^kappa. */
export function minerRingPosition(key: Uint8Array, kappa: number): number {
  assertIntIn(kappa, 1, 32, 'kappa')
  return ringPosition(taggedHash(TAGS.minerRing, key), kappa)
}

/** Position of mini-batch b in epoch ξ: H_batch-ring(H(b) || u32 ξ) mod 2^kappa. */
export function batchRingPosition(seed: Uint8Array, b: number, epoch: number, kappa: number): number {
  assertIntIn(kappa, 1, 32, 'kappa')
  assertIntIn(epoch, 0, MAX_EPOCH, 'epoch')
  return ringPosition(taggedHash(TAGS.batchRing, batchKey(seed, b), u32(epoch)), kappa)
}

function assertParams(params: AssignmentParams, batchCount: number, epoch: number): void {
  if (params.method !== 'interleaved' && params.method !== 'consistent-hashing') {
    throw dataPrepError('BAD_PARAMS', `unknown assignment method ${String(params.method)}`)
  }
  if (params.method === 'consistent-hashing') {
    assertIntIn(params.kappa, 1, 32, 'kappa')
    assertIntIn(params.loadFactorPermille, 1000, 2000, 'loadFactorPermille')
  }
  assertIntIn(batchCount, 0, MAX_BATCHES, 'mini-batch count')
  assertIntIn(epoch, 0, MAX_EPOCH, 'epoch')
}

/**
 * Interleaved parts. Batches are sorted by batchKey; the j-th miner in
 * bytewise order (0-based) takes sorted positions (j + ξ + t·|M|) mod m for
 * t = 0, 1, ... while j + t·|M| < m: the paper's b_{i+ξ-1}, b_{i+ξ-1+|M|}, ...
 * with the batches seen as a circle. Loads differ by at most one.
 */
function interleaved(seed: Uint8Array, miners: Uint8Array[], m: number, epoch: number): number[][] {
  const keys = Array.from({ length: m }, (_, b) => ({ b, key: batchKey(seed, b) }))
  keys.sort((x, y) => compareBytes(x.key, y.key) || x.b - y.b)
  const shift = epoch % Math.max(1, m)
  const n = miners.length
  return miners.map((_, j) => {
    const out: number[] = []
    for (let i = j; i < m; i += n) out.push(keys[(i + shift) % m]!.b)
    return out
  })
}

/**
 * Consistent hashing with bounded loads. Miners sit on a ring of 2^κ
 * positions at H(key) mod 2^κ, ordered by (position, key bytes). Batch b of
 * epoch ξ sits at H(H(b) || ξ) mod 2^κ and belongs to the miner with the
 * greatest position <= its own (the last miner on the ring when it is below
 * all of them): "the hashes between his/her hash and his/her successor's".
 * Batches are placed in ascending (position, index) order; a miner that
 * already holds cap = ceil(c·m/|M|) batches passes the batch on to the next
 * miner on the ring. Since c >= 1, cap·|M| >= m and every batch finds a miner.
 * Each miner processes its batches in ascending (position, index) order.
 */
function consistentHashing(params: AssignmentParams, seed: Uint8Array, miners: Uint8Array[], m: number, epoch: number): number[][] {
  const n = miners.length
  const kappa = params.kappa
  const ring = miners.map((key, j) => ({ j, key, pos: minerRingPosition(key, kappa) }))
  ring.sort((x, y) => x.pos - y.pos || compareBytes(x.key, y.key))
  const ringPos = ring.map((r) => r.pos)

  const batches = Array.from({ length: m }, (_, b) => ({ b, pos: batchRingPosition(seed, b, epoch, kappa) }))
  batches.sort((x, y) => x.pos - y.pos || x.b - y.b)

  const denom = 1000 * n
  const cap = Math.floor((params.loadFactorPermille * m + denom - 1) / denom)
  const load = new Array<number>(n).fill(0)
  const out: number[][] = miners.map(() => [])
  let owner = n - 1 // batches below every miner wrap to the last one
  let next = 0 // ring index of the first miner whose position is above the current batch
  for (const { b, pos } of batches) {
    while (next < n && ringPos[next]! <= pos) { owner = next; next++ }
    let r = owner
    while (load[r]! >= cap) r = (r + 1) % n
    load[r]!++
    out[ring[r]!.j]!.push(b)
  }
  return out
}

function assign(params: AssignmentParams, seed: Uint8Array, miners: readonly Uint8Array[], batchCount: number, epoch: number): { sorted: Uint8Array[]; lists: number[][] } {
  assertSeed(seed)
  assertParams(params, batchCount, epoch)
  const sorted = sortedMiners(miners)
  const lists = params.method === 'interleaved'
    ? interleaved(seed, sorted, batchCount, epoch)
    : consistentHashing(params, seed, sorted, batchCount, epoch)
  return { sorted, lists }
}

/**
 * The batches of every miner for epoch `epoch` (0-based): miner key hex ->
 * mini-batch indices in processing order. Every batch appears exactly once;
 * every miner has an entry (maybe empty); the result does not depend on the
 * order of `miners`. Entries are in bytewise miner order.
 */
export function assignBatches(params: AssignmentParams, seed: Uint8Array, miners: readonly Uint8Array[], batchCount: number, epoch: number): Map<string, number[]> {
  const { sorted, lists } = assign(params, seed, miners, batchCount, epoch)
  return new Map(sorted.map((k, j) => [toHex(k), lists[j]!]))
}

/** The batches of `miner`, in processing order; DATA_UNKNOWN_MINER when it is not among `miners`. */
export function batchesOf(params: AssignmentParams, seed: Uint8Array, miners: readonly Uint8Array[], batchCount: number, epoch: number, miner: Uint8Array): number[] {
  const list = assignBatches(params, seed, miners, batchCount, epoch).get(toHex(miner))
  if (list === undefined) throw dataPrepError('UNKNOWN_MINER', `${toHex(miner)} is not a miner of this task`)
  return list
}

/**
 * Where mini-batch `batch` sits in `miner`'s order for the epoch: its 0-based
 * position q, or undefined when the batch is not the miner's (or the miner is
 * not one of `miners`). Recomputes the whole assignment: a verifier checking
 * many claims should call assignBatches once and keep the map.
 */
export function positionInEpoch(params: AssignmentParams, seed: Uint8Array, miners: readonly Uint8Array[], batchCount: number, epoch: number, miner: Uint8Array, batch: number): number | undefined {
  const list = assignBatches(params, seed, miners, batchCount, epoch).get(toHex(miner))
  const q = list?.indexOf(batch) ?? -1
  return q < 0 ? undefined : q
}

/**
 * Verifier's check of a claim "miner trained batch `batch` as its `position`-th
 * batch of epoch ξ" against an assignment from assignBatches: throws
 * POUW_BATCH_NOT_ASSIGNED (the miner broke the rule) when it is not so.
 */
export function assertBatchAssigned(assignment: ReadonlyMap<string, readonly number[]>, miner: Uint8Array, batch: number, position: number): void {
  const list = assignment.get(toHex(miner))
  if (list === undefined) throw pouwError('BATCH_NOT_ASSIGNED', `${toHex(miner)} is not a miner of this task in this epoch`)
  if (list[position] !== batch) {
    const q = list.indexOf(batch)
    throw pouwError('BATCH_NOT_ASSIGNED', q < 0
      ? `batch ${batch} is not assigned to ${toHex(miner)}`
      : `batch ${batch} is ${toHex(miner)}'s batch ${q}, not ${position}`, { batch, position, actual: q < 0 ? null : q })
  }
}
