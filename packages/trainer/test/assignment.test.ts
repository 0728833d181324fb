// Run: node --import ./scripts/node-polyfills.mjs --import tsx --test packages/trainer/test/assignment.test.ts
// Mini-batch assignment (paper §4.2.2): interleaved parts and consistent hashing with bounded loads.
// Partition, determinism, independence from miner order, load bounds, processing order, churn.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { throwsCode } from './throwsCode.js'
import { TAGS, taggedHash, toHex } from '@pouw/protocol'
import {
  DATA_PREP_ERRORS, assertBatchAssigned, assignBatches, batchKey, batchRingPosition, batchesOf, minerRingPosition,
  positionInEpoch, type AssignmentParams,
} from '../src/data/index.js'
import { POUW_ERRORS } from '../src/errors.js'

const SEED = taggedHash(TAGS.seed, new Uint8Array([42]))
const INTERLEAVED: AssignmentParams = { method: 'interleaved', kappa: 10, loadFactorPermille: 1000 }
const CONSISTENT: AssignmentParams = { method: 'consistent-hashing', kappa: 10, loadFactorPermille: 1250 }

function minerKeys(n: number, salt = 0): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => taggedHash(TAGS.seed, new Uint8Array([0xee, salt, i >> 8, i & 0xff])))
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return 0
}

function owners(a: Map<string, number[]>): Map<number, string> {
  const out = new Map<number, string>()
  for (const [k, list] of a) for (const b of list) out.set(b, k)
  return out
}

function assertPartition(a: Map<string, number[]>, miners: Uint8Array[], m: number): void {
  assert.deepEqual([...a.keys()].sort(), miners.map(toHex).sort())
  const all = [...a.values()].flat()
  assert.equal(all.length, m)
  assert.deepEqual(all.sort((x, y) => x - y), Array.from({ length: m }, (_, i) => i))
}


/** Seeded shuffle for "miners given in another order". */
function shuffled<T>(xs: T[], salt: number): T[] {
  const out = [...xs]
  let s = salt
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0
    const j = s % (i + 1)
    const t = out[i]!; out[i] = out[j]!; out[j] = t
  }
  return out
}

describe('batchKey', () => {
  it('is a tagged hash of (seed, u32 b), distinct per batch and per seed', () => {
    assert.deepEqual(batchKey(SEED, 258), taggedHash(TAGS.batchKey, SEED, new Uint8Array([0, 0, 1, 2])))
    const keys = new Set(Array.from({ length: 500 }, (_, b) => toHex(batchKey(SEED, b))))
    assert.equal(keys.size, 500)
    assert.notDeepEqual(batchKey(SEED, 0), batchKey(taggedHash(TAGS.seed, new Uint8Array([43])), 0))
    throwsCode(() => batchKey(SEED, -1), DATA_PREP_ERRORS.BAD_PARAMS)
    throwsCode(() => batchKey(new Uint8Array(16), 0), DATA_PREP_ERRORS.BAD_PARAMS)
  })
})

describe('interleaved parts', () => {
  it('miner j takes sorted positions (j + ξ + t·|M|) mod m, in that order', () => {
    const m = 10
    const miners = minerKeys(3)
    const sortedMiners = [...miners].sort(compareBytes)
    const sortedBatches = Array.from({ length: m }, (_, b) => b).sort((x, y) => compareBytes(batchKey(SEED, x), batchKey(SEED, y)))
    for (const epoch of [0, 1, 2, 9, 10, 23]) {
      const a = assignBatches(INTERLEAVED, SEED, miners, m, epoch)
      sortedMiners.forEach((k, j) => {
        const expected: number[] = []
        for (let t = 0; j + t * 3 < m; t++) expected.push(sortedBatches[(j + epoch + t * 3) % m]!)
        assert.deepEqual(a.get(toHex(k)), expected, `epoch ${epoch}, miner ${j}`)
      })
    }
  })

  it('partitions the batches with loads differing by at most one, whatever the miner order', () => {
    for (const [n, m] of [[1, 7], [3, 10], [8, 1000], [7, 1000], [5, 3], [4, 0]] as const) {
      const miners = minerKeys(n)
      for (const epoch of [0, 5]) {
        const a = assignBatches(INTERLEAVED, SEED, miners, m, epoch)
        assertPartition(a, miners, m)
        const loads = [...a.values()].map((l) => l.length)
        assert.ok(Math.max(...loads) - Math.min(...loads) <= 1, `n=${n} m=${m}: ${loads.join(',')}`)
        assert.deepEqual(assignBatches(INTERLEAVED, SEED, shuffled(miners, 7), m, epoch), a)
      }
    }
  })

  it('rotates with the epoch', () => {
    const miners = minerKeys(4)
    const a0 = assignBatches(INTERLEAVED, SEED, miners, 100, 0)
    const a1 = assignBatches(INTERLEAVED, SEED, miners, 100, 1)
    const a100 = assignBatches(INTERLEAVED, SEED, miners, 100, 100)
    assert.notDeepEqual(a0, a1)
    assert.deepEqual(a0, a100) // ξ only matters mod m
  })
})

describe('consistent hashing with bounded loads', () => {
  /** Reference: scan the ring for each batch, in ascending (position, index) order. */
  function reference(params: AssignmentParams, miners: Uint8Array[], m: number, epoch: number): Map<string, number[]> {
    const ring = miners.map((k) => ({ k, pos: minerRingPosition(k, params.kappa) }))
      .sort((x, y) => x.pos - y.pos || compareBytes(x.k, y.k))
    const cap = Math.ceil((params.loadFactorPermille * m) / (1000 * miners.length) - 1e-9)
    const batches = Array.from({ length: m }, (_, b) => ({ b, pos: batchRingPosition(SEED, b, epoch, params.kappa) }))
      .sort((x, y) => x.pos - y.pos || x.b - y.b)
    const lists = ring.map(() => [] as number[])
    for (const { b, pos } of batches) {
      let r = ring.length - 1
      for (let i = 0; i < ring.length; i++) if (ring[i]!.pos <= pos) r = i
      while (lists[r]!.length >= cap) r = (r + 1) % ring.length
      lists[r]!.push(b)
    }
    return new Map(ring.map((x, i) => [toHex(x.k), lists[i]!] as [string, number[]]).sort((x, y) => (x[0] < y[0] ? -1 : 1)))
  }

  it('matches a straightforward reference, in bytewise miner order', () => {
    for (const [n, m, lf, kappa] of [[8, 1000, 1250, 10], [3, 50, 1000, 4], [5, 333, 2000, 10], [16, 120, 1500, 32], [6, 4, 1000, 10]] as const) {
      const params: AssignmentParams = { method: 'consistent-hashing', kappa, loadFactorPermille: lf }
      const miners = minerKeys(n, 1)
      for (const epoch of [0, 3]) {
        const a = assignBatches(params, SEED, miners, m, epoch)
        assert.deepEqual(a, reference(params, miners, m, epoch), `n=${n} m=${m} c=${lf}`)
        assert.deepEqual([...a.keys()], miners.map(toHex).sort())
      }
    }
  })

  it('partitions, never exceeds ceil(c·m/|M|), and does not depend on the miner order', () => {
    for (const lf of [1000, 1100, 1250, 1500, 2000]) {
      for (const [n, m] of [[8, 1000], [3, 10], [1, 50], [10, 7], [7, 999]] as const) {
        const params: AssignmentParams = { ...CONSISTENT, loadFactorPermille: lf }
        const miners = minerKeys(n, 2)
        const a = assignBatches(params, SEED, miners, m, 1)
        assertPartition(a, miners, m)
        const cap = Math.ceil((lf * m) / (1000 * n) - 1e-9)
        for (const l of a.values()) assert.ok(l.length <= cap, `c=${lf} n=${n} m=${m}: load ${l.length} > ${cap}`)
        assert.deepEqual(assignBatches(params, SEED, shuffled(miners, lf), m, 1), a)
      }
    }
  })

  it('each miner processes its batches in ascending ring position, then index', () => {
    const a = assignBatches(CONSISTENT, SEED, minerKeys(8), 500, 2)
    for (const list of a.values()) {
      for (let i = 1; i < list.length; i++) {
        const p = batchRingPosition(SEED, list[i - 1]!, 2, 10)
        const q = batchRingPosition(SEED, list[i]!, 2, 10)
        assert.ok(p < q || (p === q && list[i - 1]! < list[i]!))
      }
    }
  })

  it('with loose bounds, a batch goes to the miner at or before it on the ring', () => {
    const params: AssignmentParams = { method: 'consistent-hashing', kappa: 10, loadFactorPermille: 2000 }
    const m = 40
    const check = (miners: Uint8Array[]): boolean => {
      const a = assignBatches(params, SEED, miners, m, 0)
      const cap = Math.ceil((2 * m) / miners.length)
      if (Math.max(...[...a.values()].map((l) => l.length)) >= cap) return false // the cap may have bound
      const ring = miners.map((k) => ({ hex: toHex(k), pos: minerRingPosition(k, 10) })).sort((x, y) => x.pos - y.pos)
      const own = owners(a)
      for (let b = 0; b < m; b++) {
        const pos = batchRingPosition(SEED, b, 0, 10)
        const before = ring.filter((r) => r.pos <= pos)
        const expected = before.length > 0 ? before[before.length - 1]! : ring[ring.length - 1]!
        assert.equal(own.get(b), expected.hex, `batch ${b} at ${pos}`)
      }
      return true
    }
    assert.ok(check(minerKeys(2, 3))) // two miners, c = 2: the cap is m, it never binds
    let checked = 0
    for (let salt = 0; salt < 40; salt++) if (check(minerKeys(5, 100 + salt))) checked++
    assert.ok(checked >= 5, `only ${checked} five-miner rings where the cap does not bind`)
  })

  it('assignment changes with the epoch, and ring positions are H mod 2^κ', () => {
    const miners = minerKeys(8)
    assert.notDeepEqual(assignBatches(CONSISTENT, SEED, miners, 200, 0), assignBatches(CONSISTENT, SEED, miners, 200, 1))
    const h = taggedHash(TAGS.minerRing, miners[0]!)
    const low = new DataView(h.buffer, h.byteOffset + 28, 4).getUint32(0)
    assert.equal(minerRingPosition(miners[0]!, 10), low % 1024)
    assert.equal(minerRingPosition(miners[0]!, 32), low)
    const hb = taggedHash(TAGS.batchRing, batchKey(SEED, 5), new Uint8Array([0, 0, 0, 7]))
    assert.equal(batchRingPosition(SEED, 5, 7, 10), new DataView(hb.buffer, hb.byteOffset + 28, 4).getUint32(0) % 1024)
  })
})

describe('churn: one of 8 miners leaves', () => {
  const m = 1000
  const miners = minerKeys(8, 9)
  const rest = miners.filter((_, i) => i !== 3)

  /** Batches that change hands when miner 3 of 8 leaves: those of others, and all; averaged over `trials` miner sets. */
  function moved(params: AssignmentParams, trials = 1): { others: number; total: number } {
    let others = 0, total = 0
    for (let t = 0; t < trials; t++) {
      const all = trials === 1 ? miners : minerKeys(8, 20 + t)
      const gone = toHex(all[3]!)
      const left = all.filter((_, i) => i !== 3)
      const before = owners(assignBatches(params, SEED, all, m, 4))
      const after = assignBatches(params, SEED, left, m, 4)
      assertPartition(after, left, m)
      const now = owners(after)
      for (let b = 0; b < m; b++) {
        if (before.get(b) === now.get(b)) continue
        total++
        if (before.get(b) !== gone) others++
      }
    }
    return { others: others / trials, total: total / trials }
  }

  it('consistent hashing moves few batches besides the departed miner\'s', () => {
    // One ring position per miner (no virtual nodes) makes arcs uneven, so the bound binds and
    // passes some batches on; the looser the bound, the fewer move.
    const c125 = moved(CONSISTENT, 10)
    assert.ok(c125.others < 0.25 * m, `c = 1.25: ${c125.others} of others' batches moved on average`)
    const c2 = moved({ ...CONSISTENT, loadFactorPermille: 2000 }, 10)
    assert.ok(c2.others < 0.1 * m, `c = 2: ${c2.others} of others' batches moved on average`)
    const inter = moved(INTERLEAVED, 10)
    assert.ok(c125.total * 2 < inter.total, `consistent ${c125.total} vs interleaved ${inter.total}`)
    assert.ok(c2.others < c125.others)
  })

  it('interleaved rebalances exactly: loads ceil/floor of m/7, most batches change hands', () => {
    const after = assignBatches(INTERLEAVED, SEED, rest, m, 4)
    const loads = [...after.values()].map((l) => l.length).sort((x, y) => x - y)
    assert.deepEqual(loads, [142, 143, 143, 143, 143, 143, 143])
    assert.ok(moved(INTERLEAVED).total > 0.6 * m)
  })

  it('a miner joining is also re-evaluated', () => {
    const more = [...miners, ...minerKeys(1, 10)]
    for (const params of [INTERLEAVED, CONSISTENT]) {
      const a = assignBatches(params, SEED, more, m, 0)
      assertPartition(a, more, m)
      assert.ok(a.get(toHex(more[8]!))!.length > 0)
    }
  })
})

describe('verifier helpers and bad input', () => {
  const miners = minerKeys(5)

  it('batchesOf, positionInEpoch and assertBatchAssigned agree with assignBatches', () => {
    for (const params of [INTERLEAVED, CONSISTENT]) {
      const a = assignBatches(params, SEED, miners, 60, 3)
      for (const k of miners) {
        const list = batchesOf(params, SEED, miners, 60, 3, k)
        assert.deepEqual(list, a.get(toHex(k)))
        list.forEach((b, q) => {
          assert.equal(positionInEpoch(params, SEED, miners, 60, 3, k, b), q)
          assertBatchAssigned(a, k, b, q)
        })
      }
      const k0 = miners[0]!
      const mine = a.get(toHex(k0))!
      const notMine = Array.from({ length: 60 }, (_, b) => b).find((b) => !mine.includes(b))!
      assert.equal(positionInEpoch(params, SEED, miners, 60, 3, k0, notMine), undefined)
      throwsCode(() => assertBatchAssigned(a, k0, notMine, 0), POUW_ERRORS.BATCH_NOT_ASSIGNED, /not assigned/)
      throwsCode(() => assertBatchAssigned(a, k0, mine[1]!, 0), POUW_ERRORS.BATCH_NOT_ASSIGNED, /batch 1, not 0/)
      const stranger = minerKeys(1, 77)[0]!
      assert.equal(positionInEpoch(params, SEED, miners, 60, 3, stranger, 0), undefined)
      throwsCode(() => batchesOf(params, SEED, miners, 60, 3, stranger), DATA_PREP_ERRORS.UNKNOWN_MINER)
      throwsCode(() => assertBatchAssigned(a, stranger, 0, 0), POUW_ERRORS.BATCH_NOT_ASSIGNED)
    }
  })

  it('refuses duplicate or malformed miners and out-of-range parameters', () => {
    const bad = DATA_PREP_ERRORS.BAD_PARAMS
    throwsCode(() => assignBatches(INTERLEAVED, SEED, [...miners, miners[2]!.slice()], 10, 0), bad, /twice/)
    throwsCode(() => assignBatches(INTERLEAVED, SEED, [new Uint8Array(31)], 10, 0), bad, /32 bytes/)
    throwsCode(() => assignBatches(INTERLEAVED, SEED, [], 10, 0), bad, /miner count/)
    throwsCode(() => assignBatches(CONSISTENT, SEED, miners, -1, 0), bad)
    throwsCode(() => assignBatches(CONSISTENT, SEED, miners, 10, 1.5), bad, /epoch/)
    throwsCode(() => assignBatches({ ...CONSISTENT, kappa: 0 }, SEED, miners, 10, 0), bad, /kappa/)
    throwsCode(() => assignBatches({ ...CONSISTENT, kappa: 33 }, SEED, miners, 10, 0), bad, /kappa/)
    throwsCode(() => assignBatches({ ...CONSISTENT, loadFactorPermille: 999 }, SEED, miners, 10, 0), bad, /loadFactor/)
    throwsCode(() => assignBatches({ ...CONSISTENT, loadFactorPermille: 2001 }, SEED, miners, 10, 0), bad, /loadFactor/)
    throwsCode(() => assignBatches({ ...CONSISTENT, method: 'round-robin' as 'interleaved' }, SEED, miners, 10, 0), bad, /method/)
    throwsCode(() => assignBatches(CONSISTENT, new Uint8Array(0), miners, 10, 0), bad, /seed/)
  })
})
