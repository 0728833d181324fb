import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  NONCE_OFFSET, addToNonce, bigIntToBytes, bytesToBigInt, hashMeetsTarget, headerToBytes, nonceOffset, type BlockHeader,
} from '../src/index.js'
import { Prng, hex } from './helpers.js'

const TWO_256 = 1n << 256n
const nonceOf = (n: bigint): Uint8Array => bigIntToBytes(((n % TWO_256) + TWO_256) % TWO_256)

describe('nonce helpers', () => {
  it('addToNonce / nonceOffset round trip on random nonces', () => {
    const rng = new Prng(0x9e3779b9)
    for (let i = 0; i < 500; i++) {
      const base = rng.bytes(32)
      const j = rng.pick([0, 1, 255, 256, 65_535, rng.int(2 ** 31), 2 ** 32 - 1, 2 ** 52])
      const cand = addToNonce(base, j)
      assert.equal(cand.length, 32)
      assert.equal(bytesToBigInt(cand), (bytesToBigInt(base) + BigInt(j)) % TWO_256)
      assert.equal(nonceOffset(base, cand, j + 1), j)
      assert.equal(nonceOffset(base, cand, j), -1, 'limit is exclusive')
    }
  })

  it('wraps around at 2^256', () => {
    const max = nonceOf(TWO_256 - 1n)
    assert.equal(hex(max), 'ff'.repeat(32))
    assert.equal(hex(addToNonce(max, 1)), '00'.repeat(32))
    assert.equal(hex(addToNonce(max, 2)), `${'00'.repeat(31)}01`)
    for (const k of [1n, 2n, 1000n]) {
      const base = nonceOf(-k) // 2^256 - k
      for (const j of [0, 1, Number(k) - 1, Number(k), Number(k) + 1, 100_000]) {
        const cand = addToNonce(base, j)
        assert.equal(bytesToBigInt(cand), (TWO_256 - k + BigInt(j)) % TWO_256)
        assert.equal(nonceOffset(base, cand, 100_001), j, `k ${k} j ${j}`)
      }
    }
  })

  it('nonceOffset: -1 below the base and at or past the limit', () => {
    const base = nonceOf(1000n)
    assert.equal(nonceOffset(base, base, 1), 0)
    assert.equal(nonceOffset(base, base, 0), -1)
    assert.equal(nonceOffset(base, nonceOf(999n), 2 ** 31), -1, 'one below the base is 2^256 - 1 ahead')
    assert.equal(nonceOffset(nonceOf(0n), nonceOf(-1n), Number.MAX_SAFE_INTEGER), -1)
    assert.equal(nonceOffset(nonceOf(-1n), nonceOf(0n), 2), 1)
  })

  it('NONCE_OFFSET is where the nonce sits in an encoded header', () => {
    const nonce = nonceOf(0x0102_0304n << 100n)
    const h: BlockHeader = {
      version: 1, prevHash: new Uint8Array(32).fill(1), merkleRoot: new Uint8Array(32).fill(2), time: 3, bits: 4,
      nonce, hashMsg: new Uint8Array(32).fill(5), hashMsgHist: new Uint8Array(32).fill(6),
    }
    assert.deepEqual(headerToBytes(h).subarray(NONCE_OFFSET, NONCE_OFFSET + 32), nonce)
  })

  it('hashMeetsTarget: a hash equal to the target meets it, one above does not', () => {
    const t = 0xffffn << 208n
    assert.equal(hashMeetsTarget(nonceOf(t), t), true)
    assert.equal(hashMeetsTarget(nonceOf(t + 1n), t), false)
    assert.equal(hashMeetsTarget(nonceOf(0n), 0n), true)
  })
})
