import { DIFFICULTY_WINDOW, bitsFromTarget, targetFromBits, type BlockTiming, type DifficultyParams } from '@pouw/protocol'
import { ledgerError } from './errors.js'

/**
 * Difficulty adjustment: the compact bits a block must meet, from its parent's
 * and a few ancestors' (time, bits), so that blocks come about every
 * `targetSpacing` seconds whatever the hash rate.
 *
 * Why not paper 002's rule: it "dynamically adjusts training data scale, model
 * complexity" to hold the block time. That changes the useful work (the
 * client's task), not the header target; a task is fixed by its client when it
 * is defined, and letting block timing rewrite it is neither a consensus rule
 * every node can compute from the headers nor safe (the miner who controls the
 * timing would control the task). So the header target is adjusted instead,
 * with a well-known rule:
 *
 * Relative ASERT (the per-block exponential moving average of the target,
 * Bitcoin Cash's aserti3-2d applied block to block):
 *
 *   target' = target_parent * 2^((s - T) / halfLife)
 *
 * where T = targetSpacing and s is the parent's solve time. A block that came
 * halfLife seconds late doubles the target (halves the difficulty); one that
 * came exactly on time leaves it unchanged. Over many blocks the exponents add
 * up: without clamping, target_n = target_0 * 2^((t_n - t_0 - nT)/halfLife), so
 * the target follows the schedule and the mean block time is T (the clamps and
 * the compact encoding's rounding make it a hair off, see the tests).
 *
 * Why relative, not BCH's absolute ASERT anchored at a fixed block: PoUW blocks
 * are found only while a task is training, so the chain has long gaps. An
 * absolute schedule would, after a day's gap, drop the difficulty to the limit
 * and let a day's worth of blocks through at once to catch up; the relative
 * rule forgets the gap after one bounded step.
 *
 * Details, all integer:
 *   - s = median(t_p, t_p-1, t_p-2) - median(t_p-1, t_p-2, t_p-3) over the
 *     window (p the parent), as BCH's "suitable block": one block with a wild
 *     timestamp is never a median, so however far off it is, s stays the
 *     difference of two honest times of the window. With fewer than 4 blocks,
 *     s = t_p - t_p-1; with only the parent, its bits stand.
 *     These differences still telescope, so the schedule argument holds.
 *   - s is clamped to [T - maxSolveDeviation, T + maxSolveDeviation],
 *     symmetric around T, which bounds the change per block to a factor of
 *     2^(±maxSolveDeviation/halfLife). Symmetric on purpose: clamping negative
 *     solve times at zero but not long ones would let a miner alternating
 *     early and late timestamps ratchet the difficulty down.
 *   - 2^x is aserti3-2d's: x in 16.16 fixed point (floor), the fractional part
 *     through the cubic 2^f ~ 1 + (195766423245049 f + 971821376 f^2 +
 *     5127 f^3 + 2^47) / 2^48 (f in 1/65536 units; exact at f = 0 and 1, within
 *     0.013% between), the integer part as a shift.
 *   - The result is clamped to [1, target(powLimitBits)] and encoded with
 *     bitsFromTarget (rounding down).
 */

export { DIFFICULTY_WINDOW, type BlockTiming, type DifficultyParams }


/**
 * Our starting values: one-minute blocks, a one-hour half-life (60 blocks), and
 * solve times clamped to [-5 min, +7 min], so one block moves the target by a
 * factor of at most 2^(360/3600) = 2^0.1 (about 7.2%).
 */
export const DEFAULT_DIFFICULTY_PARAMS: Readonly<Omit<DifficultyParams, 'powLimitBits'>> = {
  targetSpacing: 60,
  halfLife: 3_600,
  maxSolveDeviation: 360,
}

const FRAC_BITS = 16n
const ONE = 1n << FRAC_BITS

function checkParams(p: DifficultyParams): void {
  for (const [k, v, min] of [['targetSpacing', p.targetSpacing, 1], ['halfLife', p.halfLife, 1], ['maxSolveDeviation', p.maxSolveDeviation, 0]] as const) {
    if (!Number.isSafeInteger(v) || v < min) throw new Error(`internal: difficulty param ${k} is ${v}, expected an integer >= ${min}`)
  }
  if (targetFromBits(p.powLimitBits) < 1n) throw new Error(`internal: powLimitBits 0x${p.powLimitBits.toString(16)} encode a zero target`)
}

function median3(a: number, b: number, c: number): number {
  return Math.max(Math.min(a, b), Math.min(Math.max(a, b), c))
}

/** floor(a / b) for b > 0 (bigint division truncates toward zero) */
function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b
  return a % b !== 0n && a < 0n ? q - 1n : q
}

/**
 * target * 2^(exponent / 65536), aserti3-2d's integer approximation
 * (exponent a signed 16.16 fixed-point number).
 */
export function scaleTarget(target: bigint, exponent: bigint): bigint {
  const shifts = exponent >> FRAC_BITS // arithmetic shift: floor
  const frac = exponent - (shifts << FRAC_BITS) // in [0, 65536)
  const factor = ONE + ((195_766_423_245_049n * frac + 971_821_376n * frac * frac + 5_127n * frac * frac * frac + (1n << 47n)) >> 48n)
  const scaled = target * factor
  const s = shifts - FRAC_BITS
  return s < 0n ? scaled >> -s : scaled << s
}

/**
 * The solve time the rule uses for the block after `window` (oldest first, the
 * parent last), before clamping: see the module comment. Undefined with fewer
 * than two blocks.
 */
export function windowSolveTime(window: readonly BlockTiming[]): number | undefined {
  const n = window.length
  if (n < 2) return undefined
  const t = (i: number): number => window[n - 1 - i]!.time // t(0) = parent
  if (n < DIFFICULTY_WINDOW) return t(0) - t(1)
  return median3(t(0), t(1), t(2)) - median3(t(1), t(2), t(3))
}

function checkWindow(window: readonly BlockTiming[]): void {
  if (!Array.isArray(window) || window.length === 0) throw new Error('internal: the difficulty window needs at least the parent')
  for (const b of window) {
    if (!Number.isSafeInteger(b.time) || b.time < 0 || b.time > 0xffff_ffff) throw new Error(`internal: block time ${b.time} is not a u32`)
    if (!Number.isSafeInteger(b.bits) || b.bits < 0 || b.bits > 0xffff_ffff) throw new Error(`internal: bits ${b.bits} are not a u32`)
  }
}

/**
 * Rule: the compact bits required of the block whose parent is the last entry
 * of `window` (the parent's ancestors oldest first, the parent last; only the
 * last DIFFICULTY_WINDOW entries are read, fewer near genesis). Pure: the same
 * window and params give the same bits on every node.
 *
 * Throws LEDGER_BAD_BITS when the parent's bits do not decode (negative,
 * overflowing or zero target): a chain holding such a parent is broken.
 */
export function computeNextBits(window: readonly BlockTiming[], params: DifficultyParams): number {
  checkParams(params)
  checkWindow(window)
  const parent = window[window.length - 1]!
  let parentTarget: bigint
  try {
    parentTarget = targetFromBits(parent.bits)
  } catch (e) {
    throw ledgerError('BAD_BITS', `parent bits 0x${parent.bits.toString(16)} do not decode: ${(e as Error).message}`, { bits: parent.bits })
  }
  if (parentTarget === 0n) throw ledgerError('BAD_BITS', `parent bits 0x${parent.bits.toString(16)} encode a zero target`, { bits: parent.bits })
  const limit = targetFromBits(params.powLimitBits)
  const solve = windowSolveTime(window)
  if (solve === undefined) return bitsFromTarget(parentTarget > limit ? limit : parentTarget)
  const T = params.targetSpacing
  const B = params.maxSolveDeviation
  const s = Math.min(T + B, Math.max(T - B, solve))
  const exponent = floorDiv(BigInt(s - T) << FRAC_BITS, BigInt(params.halfLife))
  let next = scaleTarget(parentTarget, exponent)
  if (next < 1n) next = 1n
  if (next > limit) next = limit
  return bitsFromTarget(next)
}

/**
 * The largest factor by which one block may move the target either way under
 * `params`, in parts per million above 1 (rounded up): 2^(B/halfLife) - 1.
 * For tests and for documentation of a parameter set.
 */
export function maxStepPpm(params: Omit<DifficultyParams, 'powLimitBits'>): number {
  const e = (BigInt(params.maxSolveDeviation) << FRAC_BITS) / BigInt(params.halfLife) + 1n
  const scaled = scaleTarget(1_000_000n << 64n, e)
  return Number((scaled + (1n << 64n) - 1n) >> 64n) - 1_000_000
}
