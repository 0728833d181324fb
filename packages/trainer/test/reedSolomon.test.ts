// Run: node --import ./scripts/node-polyfills.mjs --import tsx --test packages/trainer/test/reedSolomon.test.ts
// (k + h) Reed-Solomon storage (paper §4.2.3): field arithmetic, round trips from every subset of k
// shards for small (k, h), errors for too few / malformed / inconsistent shards, parameter choice, speed.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { throwsCode } from './throwsCode.js'
import { DATA_PREP_ERRORS, gfInv, gfMul, rsDecode, rsEncode, rsParamsFor, rsShardSize } from '../src/data/index.js'
import { splitMix32 } from '../src/prng.js'

function randomBytes(n: number, salt: number): Uint8Array {
  const next = splitMix32(salt)
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) out[i] = next() & 0xff
  return out
}


/** Every subset of {0..n-1}, as a bit mask. */
function* subsets(n: number): Generator<number> {
  for (let mask = 0; mask < 1 << n; mask++) yield mask
}

function popcount(x: number): number {
  let c = 0
  for (; x; x &= x - 1) c++
  return c
}

describe('GF(2^8)', () => {
  /** Carry-less multiply mod x^8+x^4+x^3+x^2+1, bit by bit: an independent reference. */
  function slowMul(a: number, b: number): number {
    let p = 0
    for (let i = 0; i < 8; i++) {
      if (b & 1) p ^= a
      b >>= 1
      a <<= 1
      if (a & 0x100) a ^= 0x11d
    }
    return p
  }

  it('multiplication matches the bitwise reference; every non-zero element has an inverse', () => {
    for (let a = 0; a < 256; a++) for (let b = 0; b < 256; b++) assert.equal(gfMul(a, b), slowMul(a, b))
    for (let a = 1; a < 256; a++) assert.equal(gfMul(a, gfInv(a)), 1)
  })
})

describe('rsEncode / rsDecode', () => {
  it('is systematic: the first k shards are the zero-padded data', () => {
    const data = randomBytes(1001, 1)
    const shards = rsEncode(data, 4, 2)
    assert.equal(shards.length, 6)
    const size = rsShardSize(1001, 4)
    assert.equal(size, 251)
    for (const s of shards) assert.equal(s.length, size)
    for (let j = 0; j < 4; j++) {
      const part = data.subarray(j * size, (j + 1) * size)
      assert.deepEqual(shards[j]!.subarray(0, part.length), part)
    }
    assert.deepEqual(shards[3]!.subarray(1001 - 3 * 251), new Uint8Array(4 * 251 - 1001))
  })

  it('round-trips from every set of at least k shards, for every small (k, h)', () => {
    let cases = 0
    for (let k = 1; k <= 5; k++) {
      for (let h = 0; h <= 4; h++) {
        for (const len of [0, 1, k * 7, k * 7 + 3]) {
          const data = randomBytes(len, 100 * k + 10 * h + len)
          const shards = rsEncode(data, k, h)
          for (const mask of subsets(k + h)) {
            const given = shards.map((s, i) => (mask & (1 << i) ? s : undefined))
            if (popcount(mask) >= k) {
              assert.deepEqual(rsDecode(given, k, h, len), data, `k=${k} h=${h} len=${len} shards ${mask.toString(2)}`)
              cases++
            } else {
              throwsCode(() => rsDecode(given, k, h, len), DATA_PREP_ERRORS.RS_TOO_FEW_SHARDS)
            }
          }
        }
      }
    }
    assert.ok(cases > 1000)
  })

  it('round-trips larger (k, h) from the parity-heavy end', () => {
    const data = randomBytes(50_000, 7)
    for (const [k, h] of [[10, 5], [16, 16], [200, 55], [1, 254]] as const) {
      const shards = rsEncode(data, k, h)
      // drop the first h shards (as many data shards as possible)
      const given = shards.map((s, i) => (i < h ? undefined : s))
      assert.deepEqual(rsDecode(given, k, h, data.length), data, `k=${k} h=${h}`)
    }
  })

  it('refuses fewer than k shards, wrong shard lists and sizes, and bad (k, h)', () => {
    const data = randomBytes(100, 3)
    const shards = rsEncode(data, 3, 2)
    throwsCode(() => rsDecode([shards[0], undefined, undefined, shards[3], undefined], 3, 2, 100), DATA_PREP_ERRORS.RS_TOO_FEW_SHARDS, /2 of 5 shards, at least 3/)
    throwsCode(() => rsDecode(shards.slice(0, 4), 3, 2, 100), DATA_PREP_ERRORS.RS_BAD_SHARD, /5 shard slots/)
    throwsCode(() => rsDecode([...shards, shards[0]!], 3, 2, 100), DATA_PREP_ERRORS.RS_BAD_SHARD)
    throwsCode(() => rsDecode([shards[0], shards[1]!.subarray(1), shards[2], undefined, undefined], 3, 2, 100), DATA_PREP_ERRORS.RS_BAD_SHARD, /shard 1/)
    throwsCode(() => rsDecode(shards, 3, 2, 120), DATA_PREP_ERRORS.RS_BAD_SHARD) // 120 bytes need 40-byte shards
    throwsCode(() => rsEncode(data, 0, 2), DATA_PREP_ERRORS.BAD_PARAMS)
    throwsCode(() => rsEncode(data, 200, 56), DATA_PREP_ERRORS.BAD_PARAMS, /k \+ h <= 255/)
    throwsCode(() => rsEncode(data, 2, -1), DATA_PREP_ERRORS.BAD_PARAMS)
    throwsCode(() => rsDecode(shards, 3, 2, -1), DATA_PREP_ERRORS.BAD_PARAMS)
  })

  it('finds a corrupted shard among more than k, and non-zero padding', () => {
    const data = randomBytes(100, 4)
    const shards = rsEncode(data, 3, 2)
    const bad = shards.map((s) => s.slice())
    bad[4]![7]! ^= 0x40
    throwsCode(() => rsDecode(bad, 3, 2, 100), DATA_PREP_ERRORS.RS_INCONSISTENT, /shard 4/)
    const badData = shards.map((s) => s.slice())
    badData[1]![0]! ^= 1
    throwsCode(() => rsDecode(badData, 3, 2, 100), DATA_PREP_ERRORS.RS_INCONSISTENT)
    // exactly k shards cannot reveal corruption: the wrong data comes back (hashes must catch it)
    const exactlyK = [badData[0], badData[1], badData[2], undefined, undefined]
    assert.notDeepEqual(rsDecode(exactlyK, 3, 2, 100), data)
    assert.deepEqual(rsDecode(bad, 3, 2, 100, { verify: false }), data) // the k data shards are intact; parity unchecked
    const padded = shards.map((s) => s.slice())
    padded[2]![padded[2]!.length - 1] = 9 // 100 bytes in 3 shards of 34: the last 2 bytes are padding
    throwsCode(() => rsDecode(padded, 3, 2, 100), DATA_PREP_ERRORS.RS_INCONSISTENT, /padding/)
  })

  it('encodes 4 MB with k = 2, h = 1 well under a second, and decodes it from a parity shard', () => {
    const data = randomBytes(4 * 1024 * 1024, 5)
    const t0 = performance.now()
    const shards = rsEncode(data, 2, 1)
    const encodeMs = performance.now() - t0
    const t1 = performance.now()
    const back = rsDecode([undefined, shards[1], shards[2]], 2, 1, data.length)
    const decodeMs = performance.now() - t1
    assert.ok(encodeMs < 500, `encode took ${encodeMs.toFixed(0)} ms`)
    assert.ok(decodeMs < 500, `decode took ${decodeMs.toFixed(0)} ms`)
    assert.ok(back.every((v, i) => v === data[i]))
  })
})

describe('rsParamsFor', () => {
  it('picks k in [|S|/3, 2|S|/3] with k + h = |S|', () => {
    assert.deepEqual(rsParamsFor(1), { k: 1, h: 0 })
    assert.deepEqual(rsParamsFor(2), { k: 1, h: 1 })
    assert.deepEqual(rsParamsFor(3), { k: 2, h: 1 })
    assert.deepEqual(rsParamsFor(9), { k: 6, h: 3 })
    for (let n = 2; n <= 255; n++) {
      const { k, h } = rsParamsFor(n)
      assert.equal(k + h, n)
      assert.ok(k >= n / 3 && k <= (2 * n) / 3, `n=${n}: k=${k}`)
      const beta = n / k
      assert.ok(beta >= 1.5 && beta <= 3, `n=${n}: redundancy ${beta}`)
    }
    throwsCode(() => rsParamsFor(0), DATA_PREP_ERRORS.BAD_PARAMS)
    throwsCode(() => rsParamsFor(256), DATA_PREP_ERRORS.BAD_PARAMS)
  })
})
