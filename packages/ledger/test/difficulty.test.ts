import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { targetFromBits, bitsFromTarget } from '@pouw/protocol'
import {
  DEFAULT_DIFFICULTY_PARAMS, DIFFICULTY_WINDOW, LEDGER_ERRORS, computeNextBits, difficultyToBits, maxStepPpm, scaleTarget,
  windowSolveTime, type BlockTiming, type DifficultyParams,
} from '../src/index.js'
import { Prng } from '../../protocol/test/helpers.js'

const LIMIT_BITS = difficultyToBits(1n) // target 2^256 - 1 rounded down: the easiest there is
const PARAMS: DifficultyParams = { ...DEFAULT_DIFFICULTY_PARAMS, powLimitBits: LIMIT_BITS }
const T = PARAMS.targetSpacing
const START_BITS = difficultyToBits(1n << 20n)

/** t0, t0 + T, t0 + 2T, ... all with `bits` */
function onTime(n: number, bits = START_BITS, t0 = 1_700_000_000): BlockTiming[] {
  return Array.from({ length: n }, (_, i) => ({ time: t0 + i * T, bits }))
}

/** log2(b / a) for two positive bigints, to double precision */
function log2Ratio(a: bigint, b: bigint): number {
  const shift = BigInt(Math.max(0, a.toString(2).length - 60))
  return Math.log2(Number(b >> shift)) - Math.log2(Number(a >> shift))
}

/** The largest change one block may make, as log2 of the factor (plus the compact rounding, below 2^-15). */
const MAX_STEP_LOG2 = PARAMS.maxSolveDeviation / PARAMS.halfLife
/** aserti3-2d's 2^x is within 0.013% (2e-4 in log2), the compact encoding rounds down by under 2^-15 */
const ROUNDING_LOG2 = 2e-4 + 2 ** -15

describe('difficulty: the rule, block by block', () => {
  it('on-time blocks leave the bits exactly as they were', () => {
    for (const n of [2, 3, 4, 10]) assert.equal(computeNextBits(onTime(n), PARAMS), START_BITS, `window of ${n}`)
  })

  it('with only the parent, its bits stand (clamped to the limit)', () => {
    assert.equal(computeNextBits(onTime(1), PARAMS), START_BITS)
    const easy = bitsFromTarget(targetFromBits(LIMIT_BITS))
    assert.equal(computeNextBits(onTime(1, easy), { ...PARAMS, powLimitBits: START_BITS }), START_BITS)
  })

  it('a block late by s - T moves the target by 2^((s - T) / halfLife), within aserti3-2d precision', () => {
    const prng = new Prng(7)
    for (let i = 0; i < 300; i++) {
      const dev = prng.int(2 * PARAMS.maxSolveDeviation + 1) - PARAMS.maxSolveDeviation
      // a short window (near genesis): s is the plain difference; a full one: the medians'
      const w = i % 2 === 0 ? onTime(2) : onTime(DIFFICULTY_WINDOW)
      if (w.length === 2) w[1]!.time += dev
      else if (dev >= -T) { w[2]!.time += dev; w[3]!.time += dev } // medians 2T + dev and T
      else continue
      assert.equal(windowSolveTime(w), T + dev)
      const got = log2Ratio(targetFromBits(START_BITS), targetFromBits(computeNextBits(w, PARAMS)))
      const want = dev / PARAMS.halfLife
      assert.ok(Math.abs(got - want) < 2e-4, `dev ${dev}: log2 change ${got}, expected ${want}`)
    }
  })

  it('scaleTarget matches 2^x to within 0.013% (aserti3-2d)', () => {
    const prng = new Prng(11)
    const base = 1n << 200n
    for (let i = 0; i < 2_000; i++) {
      const e = prng.int(40 * 65_536) - 20 * 65_536
      const got = scaleTarget(base, BigInt(e))
      const ratio = Number(got >> 100n) / 2 ** 100 / 2 ** (e / 65_536)
      assert.ok(Math.abs(ratio - 1) < 1.3e-4, `exponent ${e / 65_536}: ratio ${ratio}`)
    }
    assert.equal(scaleTarget(base, 0n), base)
    assert.equal(scaleTarget(base, 65_536n), base * 2n)
    assert.equal(scaleTarget(base, -65_536n), base / 2n)
  })

  it('one block never moves the target by more than 2^(maxSolveDeviation / halfLife), whatever the timestamps', () => {
    const prng = new Prng(3)
    const bound = MAX_STEP_LOG2 + ROUNDING_LOG2
    for (let i = 0; i < 1_000; i++) {
      const n = 2 + prng.int(4)
      const w: BlockTiming[] = Array.from({ length: n }, () => ({ time: prng.u32(), bits: START_BITS }))
      const step = log2Ratio(targetFromBits(START_BITS), targetFromBits(computeNextBits(w, PARAMS)))
      assert.ok(Math.abs(step) <= bound, `step 2^${step} beyond 2^${bound}`)
    }
    const ppm = maxStepPpm(PARAMS)
    assert.ok(Math.abs(ppm / 1e6 - (2 ** MAX_STEP_LOG2 - 1)) < 2e-4, `maxStepPpm ${ppm}`)
  })

  it('a wild timestamp is never a median: s stays a difference of two honest times (median of 3)', () => {
    const prng = new Prng(5)
    for (let i = 0; i < 200; i++) {
      // honest blocks with irregular spacing, then one of the middle two lies by 10^4 to 10^6 s
      const base = onTime(DIFFICULTY_WINDOW)
      for (let j = 1; j < base.length; j++) base[j]!.time = base[j - 1]!.time + 1 + prng.int(3 * T)
      const k = 1 + prng.int(2)
      const wild = base.map((b) => ({ ...b }))
      wild[k]!.time += (prng.bool() ? 1 : -1) * (10_000 + prng.int(1_000_000))
      const s = windowSolveTime(wild)!
      const honest = base.filter((_, j) => j !== k).map((b) => b.time)
      const diffs = honest.flatMap((x) => honest.map((y) => x - y))
      assert.ok(diffs.includes(s), `block ${k} off by ${wild[k]!.time - base[k]!.time}: s = ${s} is no honest difference`)
      assert.ok(Math.abs(s) <= base[3]!.time - base[0]!.time)
    }
    // whereas without the filter (a 2-block window) it moves the target by the full clamp
    const two = onTime(2)
    two[1]!.time += 1_000_000
    const step = log2Ratio(targetFromBits(START_BITS), targetFromBits(computeNextBits(two, PARAMS)))
    assert.ok(Math.abs(step - MAX_STEP_LOG2) < 2e-4)
  })

  it('clamps to the limit and never reaches zero', () => {
    const easyLimit = difficultyToBits((1n << 20n) - (1n << 15n)) // 3% easier than START_BITS
    const late = onTime(2)
    late[1]!.time += 10_000
    assert.equal(computeNextBits(late, { ...PARAMS, powLimitBits: easyLimit }), easyLimit)
    const tiny = [{ time: 0, bits: bitsFromTarget(1n) }, { time: 0, bits: bitsFromTarget(1n) }]
    assert.equal(targetFromBits(computeNextBits(tiny, PARAMS)), 1n)
  })

  it('rejects parent bits that do not decode with LEDGER_BAD_BITS', () => {
    for (const bits of [0x0180_0001, 0x0480_0001, 0x2301_0000, 0]) {
      assert.throws(() => computeNextBits([{ time: 0, bits }], PARAMS), (e: { code?: string }) => e.code === LEDGER_ERRORS.BAD_BITS)
    }
  })
})

/**
 * Mining simulated in continuous time: a block at target t needs on average
 * 2^256 / (t + 1) hashes; with hash rate H the solve time is exponential with
 * that mean over H (drawn from a seeded PRNG, rounded to whole seconds).
 */
function simulate(rates: Array<{ blocks: number; hashesPerSecond: number }>, seed: number, params = PARAMS) {
  const prng = new Prng(seed)
  const chain: BlockTiming[] = onTime(DIFFICULTY_WINDOW)
  const solve: number[] = []
  let maxStep = 0
  for (const { blocks, hashesPerSecond } of rates) {
    for (let i = 0; i < blocks; i++) {
      const parent = chain[chain.length - 1]!
      const bits = computeNextBits(chain.slice(-DIFFICULTY_WINDOW), params)
      maxStep = Math.max(maxStep, Math.abs(log2Ratio(targetFromBits(parent.bits), targetFromBits(bits))))
      const work = Number((1n << 256n) / (targetFromBits(bits) + 1n))
      const u = (prng.u32() + 1) / 2 ** 32
      const s = Math.round((-Math.log(u) * work) / hashesPerSecond)
      solve.push(s)
      chain.push({ time: parent.time + s, bits })
    }
  }
  return { solve, chain, maxStep }
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length
}

describe('difficulty: simulated hash-rate steps', () => {
  it('converges to the target block time after each step (x10 up, /100 down, x10 up), with bounded steps', () => {
    const H = Number(1n << 20n) / T // the starting difficulty suits this rate exactly
    const phases = [
      { blocks: 2_000, hashesPerSecond: H },
      { blocks: 2_000, hashesPerSecond: H * 10 },
      { blocks: 2_000, hashesPerSecond: H / 10 },
      { blocks: 2_000, hashesPerSecond: H },
    ]
    const { solve, maxStep } = simulate(phases, 42)
    for (let p = 0; p < phases.length; p++) {
      // the second half of each phase: the rule has had 1000 blocks (17 half-lives) to settle
      const tail = solve.slice(p * 2_000 + 1_000, (p + 1) * 2_000)
      const m = mean(tail)
      // 1000 exponential solve times: the mean's standard deviation is about 3% of T
      assert.ok(Math.abs(m - T) < 0.1 * T, `phase ${p}: mean solve time ${m.toFixed(1)} s, target ${T} s`)
    }
    assert.ok(maxStep <= MAX_STEP_LOG2 + ROUNDING_LOG2, `largest step 2^${maxStep}`)
    // right after the x10 step blocks come fast, and the rule reacts: the first 20 blocks are well under T
    assert.ok(mean(solve.slice(2_000, 2_020)) < T / 2)
  })

  it('holds the block time over many seeds (no drift from rounding)', () => {
    const H = Number(1n << 20n) / T
    const all: number[] = []
    for (let seed = 1; seed <= 6; seed++) all.push(...simulate([{ blocks: 1_500, hashesPerSecond: H * 3 }], seed).solve.slice(500))
    const m = mean(all)
    assert.ok(Math.abs(m - T) < 0.05 * T, `mean solve time ${m.toFixed(2)} s over ${all.length} blocks`)
  })

  it('a long gap (no task training for a day) eases by one bounded step, with no catch-up burst afterwards', () => {
    const chain = onTime(DIFFICULTY_WINDOW)
    const last = chain[chain.length - 1]!
    chain.push({ time: last.time + 86_400, bits: last.bits })
    // the median of 3 sees the gap one block later
    assert.equal(computeNextBits(chain.slice(-DIFFICULTY_WINDOW), PARAMS), START_BITS)
    chain.push({ time: last.time + 86_400 + T, bits: START_BITS })
    const after = computeNextBits(chain.slice(-DIFFICULTY_WINDOW), PARAMS)
    const step = log2Ratio(targetFromBits(START_BITS), targetFromBits(after))
    assert.ok(step > 0 && step <= MAX_STEP_LOG2 + ROUNDING_LOG2, `step 2^${step}`)
    // then on-time blocks: the target stays put (a schedule-anchored rule would keep easing to catch up)
    let bits = after
    for (let i = 0; i < 20; i++) {
      const p = chain[chain.length - 1]!
      chain.push({ time: p.time + T, bits })
      bits = computeNextBits(chain.slice(-DIFFICULTY_WINDOW), PARAMS)
    }
    assert.ok(Math.abs(log2Ratio(targetFromBits(after), targetFromBits(bits))) <= MAX_STEP_LOG2 + 20 * ROUNDING_LOG2)
  })

  it('alternating early and late timestamps do not ratchet the difficulty', () => {
    const X = 10 * T
    for (const offset of [X, -X]) {
      const chain = onTime(DIFFICULTY_WINDOW)
      const t0 = chain[chain.length - 1]!.time
      for (let i = 1; i <= 1_000; i++) {
        const bits = computeNextBits(chain.slice(-DIFFICULTY_WINDOW), PARAMS)
        chain.push({ time: t0 + i * T + (i % 2 === 0 ? offset : -offset), bits })
      }
      const drift = log2Ratio(targetFromBits(START_BITS), targetFromBits(chain[chain.length - 1]!.bits))
      // the blocks came on schedule; only the timestamps lied: the target ends within a few steps of where it began
      assert.ok(Math.abs(drift) < 3 * MAX_STEP_LOG2, `drift 2^${drift}`)
    }
  })
})
