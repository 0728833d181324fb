import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  MAX_INDEX, applyMessageMap, assertValidMessageMap, entryIndex, entryPositive, float32Bytes, mapEntry, messageMapToBytes,
  type MessageMap,
} from '../src/index.js'
import { Prng, hex, throwsCode } from './helpers.js'

/** a canonical map over `n` parameters: strictly increasing indices, random signs */
function randomMap(rng: Prng, n: number, density: number): MessageMap {
  const out: number[] = []
  for (let i = 0; i < n; i++) if (rng.u32() / 2 ** 32 < density) out.push(mapEntry(rng.bool(), i))
  return Uint32Array.from(out)
}

/** Reference: plain numbers, one Math.fround per update (theta[i] -= +tau or -tau). */
function referenceApply(theta: Float32Array, map: MessageMap, tau: number): Float32Array {
  const out = Array.from(theta)
  for (const e of map) {
    const i = entryIndex(e)
    out[i] = Math.fround(entryPositive(e) ? out[i]! - tau : out[i]! + tau)
  }
  return Float32Array.from(out)
}

describe('applyMessageMap', () => {
  it('is bit-exact with a Math.fround reference (random theta, maps and float32 tau)', () => {
    const rng = new Prng(0xabcdef)
    for (let round = 0; round < 200; round++) {
      const n = 1 + rng.int(2000)
      const theta = Float32Array.from({ length: n }, () => (rng.bool() ? rng.float32In(rng.pick([1e-6, 1e-3, 1, 1e6])) : rng.float32()))
      const map = randomMap(rng, n, rng.pick([0.01, 0.3, 1]))
      const tau = rng.pick([Math.fround(1e-3), Math.fround(rng.u32() / 2 ** 40), 1.401298464324817e-45, 1, 3.4028234663852886e38])
      const expected = referenceApply(theta, map, tau)
      const got = theta.slice()
      applyMessageMap(got, map, tau)
      assert.equal(hex(float32Bytes(got)), hex(float32Bytes(expected)), `round ${round}`)
    }
  })

  it('with a tau that is not a float32 value, each result is the double result rounded once', () => {
    const theta = Float32Array.from([1, -1, 0.1, 1e-8])
    const map = Uint32Array.from([mapEntry(true, 0), mapEntry(false, 1), mapEntry(true, 2), mapEntry(false, 3)])
    const got = theta.slice()
    applyMessageMap(got, map, 0.001)
    assert.equal(hex(float32Bytes(got)), hex(float32Bytes(referenceApply(theta, map, 0.001))))
  })

  it('only the mapped parameters change, and applying +tau then -tau moves each one by float32 rounding at most', () => {
    const rng = new Prng(7)
    const theta = Float32Array.from({ length: 500 }, () => rng.float32In(1))
    const map = randomMap(rng, 500, 0.2)
    const tau = Math.fround(1e-3)
    const got = theta.slice()
    applyMessageMap(got, map, tau)
    const touched = new Set(Array.from(map, entryIndex))
    for (let i = 0; i < theta.length; i++) if (!touched.has(i)) assert.equal(Object.is(got[i], theta[i]), true)
    applyMessageMap(got, Uint32Array.from(map, (e) => (e ^ 0x8000_0000) >>> 0), tau)
    for (let i = 0; i < theta.length; i++) assert.ok(Math.abs(got[i]! - theta[i]!) <= 2 ** -23)
  })
})

describe('message map entries', () => {
  it('mapEntry / entryIndex / entryPositive round trip, up to MAX_INDEX', () => {
    for (const i of [0, 1, 12345, MAX_INDEX - 1, MAX_INDEX]) {
      for (const pos of [true, false]) {
        const e = mapEntry(pos, i)
        assert.ok(e >= 0 && e <= 0xffff_ffff)
        assert.equal(entryIndex(e), i)
        assert.equal(entryPositive(e), pos)
      }
    }
    assert.equal(hex(messageMapToBytes(Uint32Array.from([mapEntry(true, MAX_INDEX), mapEntry(false, 1)]))), 'ffffffff00000001')
  })

  it('mapEntry refuses indices outside [0, 2^31) (our own invariant, a plain Error)', () => {
    for (const i of [-1, MAX_INDEX + 1, 0.5, NaN]) assert.throws(() => mapEntry(true, i), /internal/)
  })

  it('assertValidMessageMap: strictly increasing and below the parameter count', () => {
    const m = (...xs: [boolean, number][]): MessageMap => Uint32Array.from(xs, ([p, i]) => mapEntry(p, i))
    assert.doesNotThrow(() => assertValidMessageMap(m(), 0))
    assert.doesNotThrow(() => assertValidMessageMap(m([true, 0], [false, 1], [true, 9]), 10))
    throwsCode(() => assertValidMessageMap(m([true, 0], [false, 0]), 10), 'PROTOCOL_NOT_CANONICAL')
    throwsCode(() => assertValidMessageMap(m([true, 5], [false, 4]), 10), 'PROTOCOL_NOT_CANONICAL')
    throwsCode(() => assertValidMessageMap(m([true, 9], [true, 10]), 10), 'PROTOCOL_BAD_VALUE')
    throwsCode(() => assertValidMessageMap(m([true, 0]), 0), 'PROTOCOL_BAD_VALUE')
  })
})
