/**
 * difficulty_block_time_ratio: how close the testnet's difficulty rule holds
 * the block time after the hash rate rises tenfold (a crowd of volunteers
 * opens the page). Simulated, so the figure is the same on every machine:
 * solve times are exponential with mean work / hash rate, drawn from a
 * seeded PRNG. The rule and its parameters are the relay's (chainParamsFor:
 * 30 s target, 600 s half-life, ±150 s clamp, the genesis difficulty as the
 * easiest). Baseline in the same run: the same hash rates with the bits fixed
 * at genesis, as before the rule was wired.
 */
import { difficultyToBits, computeNextBits, type DifficultyParams } from '@pouw/ledger'
import { extendWindow, workFromBits, type BlockTiming } from '@pouw/protocol'
import { splitMix32 } from '@pouw/trainer'

const T = 30
const GENESIS_BITS = difficultyToBits(20_000n)
const PARAMS: DifficultyParams = { targetSpacing: T, halfLife: 20 * T, maxSolveDeviation: 5 * T, powLimitBits: GENESIS_BITS }
/** header hashes per second that make the genesis difficulty take T seconds a block */
const RATE = Number(workFromBits(GENESIS_BITS)) / T
const BLOCKS = 1_000

/** Mean solve time (s) of the last half of BLOCKS blocks mined at `rate` hashes/s, with or without the rule. */
function meanSolveTime(rate: number, adjust: boolean, seed: number): number {
  const next = splitMix32(seed)
  let window: BlockTiming[] = [{ time: 1_763_769_600, bits: GENESIS_BITS }]
  let total = 0
  for (let i = 0; i < BLOCKS; i++) {
    const bits = adjust ? computeNextBits(window, PARAMS) : GENESIS_BITS
    const work = Number(workFromBits(bits))
    const solve = Math.max(1, Math.round((-Math.log((next() + 1) / 2 ** 32) * work) / rate))
    if (i >= BLOCKS / 2) total += solve
    window = extendWindow(window, { time: window[window.length - 1]!.time + solve, bits })
  }
  return total / (BLOCKS / 2)
}

export function difficultyFigures(emit: (name: string, value: number, unit: string, note: string) => void): void {
  const adjusted = meanSolveTime(10 * RATE, true, 1)
  const fixed = meanSolveTime(10 * RATE, false, 1)
  emit('difficulty_block_time_ratio', adjusted / T, 'ratio',
    `mean block time / the ${T} s target after the hash rate rose tenfold, testnet rule (blocks ${BLOCKS / 2}-${BLOCKS}, simulated); goal 1`)
  emit('fixed_difficulty_block_time_ratio', fixed / T, 'ratio', 'the same with the difficulty fixed at genesis (the baseline: blocks ten times too fast)')
}
