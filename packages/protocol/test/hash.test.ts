import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { TAGS, taggedHash, taggedHashAsync } from '../src/index.js'
import { Prng, hex } from './helpers.js'

describe('taggedHashAsync (WebCrypto) equals taggedHash (noble)', () => {
  const rng = new Prng(0x5a5a)
  // 55/56/64: the SHA-256 padding boundaries once the 64-byte tag prefix is counted in;
  // 437,544 bytes: the float32 model state of the MNIST MLP (109,386 parameters)
  for (const size of [0, 1, 55, 56, 64, 1000, 437_544]) {
    it(`${size} bytes, every tag`, async () => {
      const data = rng.bytes(size)
      for (const tag of Object.values(TAGS)) {
        assert.equal(hex(await taggedHashAsync(tag, data)), hex(taggedHash(tag, data)), tag)
      }
    })
  }

  it('several parts hash as their concatenation', async () => {
    const data = rng.bytes(300)
    const whole = hex(taggedHash(TAGS.model, data))
    assert.equal(hex(taggedHash(TAGS.model, data.subarray(0, 7), data.subarray(7, 200), new Uint8Array(0), data.subarray(200))), whole)
    assert.equal(hex(await taggedHashAsync(TAGS.model, data.subarray(0, 100), data.subarray(100))), whole)
  })

  it('subarray views hash their own bytes, not the whole buffer', async () => {
    const buf = rng.bytes(100)
    const view = buf.subarray(10, 20)
    assert.equal(hex(await taggedHashAsync(TAGS.batch, view)), hex(taggedHash(TAGS.batch, buf.slice(10, 20))))
  })

  it('different tags give different hashes of the same data', () => {
    const seen = new Set(Object.values(TAGS).map((t) => hex(taggedHash(t, new Uint8Array(0)))))
    assert.equal(seen.size, Object.values(TAGS).length)
  })
})
