import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isPouwError } from '@pouw/protocol'
import { SCHULZE_BAD_BALLOT, schulze } from '../src/index.js'

const A = 0, B = 1, C = 2, D = 3, E = 4

function repeat(times: number, ballot: number[]): number[][] {
  return Array.from({ length: times }, () => ballot.slice())
}

function throwsBallot(fn: () => unknown): void {
  assert.throws(fn, (e: unknown) => isPouwError(e) && e.code === SCHULZE_BAD_BALLOT)
}

/** mulberry32: deterministic test data */
function prng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

function shuffled(n: number, rnd: () => number): number[] {
  const xs = Array.from({ length: n }, (_, i) => i)
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1))
    ;[xs[i], xs[j]] = [xs[j]!, xs[i]!]
  }
  return xs
}

describe('schulze', () => {
  it('gives E > A > C > B > D on the Wikipedia example (45 voters, 5 candidates)', () => {
    const ballots = [
      ...repeat(5, [A, C, B, E, D]),
      ...repeat(5, [A, D, E, C, B]),
      ...repeat(8, [B, E, D, A, C]),
      ...repeat(3, [C, A, B, E, D]),
      ...repeat(7, [C, A, E, B, D]),
      ...repeat(2, [C, B, A, D, E]),
      ...repeat(7, [D, C, E, B, A]),
      ...repeat(8, [E, B, A, D, C]),
    ]
    assert.equal(ballots.length, 45)
    assert.deepEqual(schulze(5, ballots), [E, A, C, B, D])
    // the order of the ballots does not matter
    assert.deepEqual(schulze(5, ballots.slice().reverse()), [E, A, C, B, D])
  })

  it('returns the ballot when all ballots agree', () => {
    const rnd = prng(7)
    for (const c of [1, 2, 5, 40]) {
      const ballot = shuffled(c, rnd)
      assert.deepEqual(schulze(c, repeat(3, ballot)), ballot)
      assert.deepEqual(schulze(c, [ballot]), ballot)
    }
  })

  it('breaks ties by the lowest candidate id (the leader\'s proposal order)', () => {
    assert.deepEqual(schulze(4, []), [0, 1, 2, 3], 'no ballots: all tied')
    // two opposite ballots: every pair tied
    assert.deepEqual(schulze(3, [[2, 1, 0], [0, 1, 2]]), [0, 1, 2])
    // a Condorcet cycle of three equal-strength ballots: 0>1 (2:1), 1>2 (2:1), 2>0 (2:1); all paths have strength 2
    assert.deepEqual(schulze(3, [[0, 1, 2], [1, 2, 0], [2, 0, 1]]), [0, 1, 2])
    // 3 beats everyone; 0, 1, 2 are tied among themselves
    assert.deepEqual(schulze(4, [[3, 2, 1, 0], [3, 0, 1, 2]]), [3, 0, 1, 2])
  })

  it('handles one candidate and no candidates', () => {
    assert.deepEqual(schulze(1, [[0], [0]]), [0])
    assert.deepEqual(schulze(0, [[], []]), [])
  })

  it('is a permutation and respects a Condorcet winner on random ballots', () => {
    const rnd = prng(42)
    for (let trial = 0; trial < 50; trial++) {
      const c = 1 + Math.floor(rnd() * 12)
      const ballots = Array.from({ length: 1 + Math.floor(rnd() * 7) }, () => shuffled(c, rnd))
      const order = schulze(c, ballots)
      assert.deepEqual(order.slice().sort((a, b) => a - b), Array.from({ length: c }, (_, i) => i))
      const beats = (x: number, y: number): boolean =>
        ballots.filter((b) => b.indexOf(x) < b.indexOf(y)).length > ballots.filter((b) => b.indexOf(y) < b.indexOf(x)).length
      for (let x = 0; x < c; x++) {
        if ([...Array(c).keys()].every((y) => y === x || beats(x, y))) assert.equal(order[0], x, 'Condorcet winner first')
      }
    }
  })

  it('refuses invalid ballots with a PouwError', () => {
    throwsBallot(() => schulze(3, [[0, 1]]))
    throwsBallot(() => schulze(3, [[0, 1, 1]]))
    throwsBallot(() => schulze(3, [[0, 1, 3]]))
    throwsBallot(() => schulze(3, [[0, 1, -1]]))
    throwsBallot(() => schulze(3, [[0, 1, 1.5]]))
    throwsBallot(() => schulze(3, [[0, 1, 2], [0, 1, 2, 0]]))
    throwsBallot(() => schulze(3, [[0, 1, '2' as unknown as number]]))
    throwsBallot(() => schulze(-1, []))
    throwsBallot(() => schulze(2.5, []))
    throwsBallot(() => schulze(2, 'no' as unknown as number[][]))
    throwsBallot(() => schulze(2, [null as unknown as number[]]))
  })

  it('orders 256 candidates from 3 ballots quickly (prints the time)', () => {
    const rnd = prng(256)
    const base = shuffled(256, rnd)
    // three receipt orders that differ by local swaps, like gossip at three supervisors
    const ballots = [0, 1, 2].map(() => {
      const b = base.slice()
      for (let k = 0; k < 64; k++) {
        const i = Math.floor(rnd() * 255)
        ;[b[i], b[i + 1]] = [b[i + 1]!, b[i]!]
      }
      return b
    })
    schulze(256, ballots) // warm up
    const runs = 5
    const t0 = performance.now()
    for (let r = 0; r < runs; r++) schulze(256, ballots)
    const ms256 = (performance.now() - t0) / runs
    const big = [0, 1, 2].map(() => shuffled(512, rnd))
    const t1 = performance.now()
    schulze(512, big)
    const ms512 = performance.now() - t1
    console.log(`schulze: 256 candidates x 3 ballots ${ms256.toFixed(1)} ms; 512 x 3 random ballots ${ms512.toFixed(1)} ms`)
    assert.ok(ms256 < 2000)
  })
})
