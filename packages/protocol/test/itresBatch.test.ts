/**
 * The IT_RES batch a miner re-delivers to a supervisor: round-trips, and its decoder refuses
 * too many messages, an over-long message, truncation and trailing bytes with PROTOCOL_* errors.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MAX_ITRES_BATCH, MAX_ITRES_BYTES, itResBatchFromBytes, itResBatchToBytes, itResFromBytes, itResToBytes } from '../src/index.js'
import { randomItRes } from './generators.js'
import { Prng, concat, throwsCode, u16be } from './helpers.js'

const rng = new Prng(0xba7c)

describe('IT_RES batch', () => {
  it('round-trips 0, 1 and the maximum number of messages', () => {
    for (const n of [0, 1, MAX_ITRES_BATCH]) {
      const msgs = Array.from({ length: n }, () => itResToBytes(randomItRes(rng, 20)))
      const back = itResBatchFromBytes(itResBatchToBytes(msgs))
      assert.deepEqual(back, msgs)
      for (const b of back) itResFromBytes(b) // each is still a valid IT_RES
    }
  })

  it('refuses more than MAX_ITRES_BATCH messages on both sides', () => {
    assert.throws(() => itResBatchToBytes(Array.from({ length: MAX_ITRES_BATCH + 1 }, () => new Uint8Array(1))), RangeError)
    throwsCode(() => itResBatchFromBytes(concat(u16be(MAX_ITRES_BATCH + 1))), 'PROTOCOL_TOO_LARGE')
  })

  it('refuses a message longer than an IT_RES can be, before reading it', () => {
    const len = new Uint8Array(4)
    new DataView(len.buffer).setUint32(0, MAX_ITRES_BYTES + 1)
    throwsCode(() => itResBatchFromBytes(concat(u16be(1), len)), 'PROTOCOL_TOO_LARGE')
  })

  it('refuses truncated and trailing bytes', () => {
    const bytes = itResBatchToBytes([itResToBytes(randomItRes(rng, 5)), itResToBytes(randomItRes(rng, 5))])
    for (const cut of [1, 3, 10, bytes.length - 1]) throwsCode(() => itResBatchFromBytes(bytes.subarray(0, cut)), 'PROTOCOL_TRUNCATED')
    throwsCode(() => itResBatchFromBytes(concat(bytes, new Uint8Array([0]))), 'PROTOCOL_TRAILING_BYTES')
  })
})
