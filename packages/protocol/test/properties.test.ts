/**
 * Property tests over seeded random objects: decode(encode(x)) = x, the
 * encoding is canonical (encode(decode(b)) = b), and signed messages still
 * verify after the round trip.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  blockFromBytes, blockToBytes, evidenceFromBytes, evidenceToBytes, float32Bytes, headerFromBytes, headerHash,
  headerToBytes, itResFromBytes, itResHash, itResToBytes, submissionFromBytes, submissionToBytes, taskFromBytes,
  taskToBytes, txFromBytes, txToBytes, verdictFromBytes, verdictToBytes, verifyItResSignature, verifyVerdictSignature,
  type Evidence,
} from '../src/index.js'
import {
  randomBlock, randomEvidence, randomHeader, randomItRes, randomSubmission, randomTask, randomTx, randomVerdict,
} from './generators.js'
import { Prng, hex } from './helpers.js'

/** checks decode(encode(x)) deep-equals x and re-encodes to the same bytes; returns the bytes */
function roundTrip<T>(x: T, encode: (x: T) => Uint8Array, decode: (b: Uint8Array) => T, compare = (a: T, b: T): void => assert.deepStrictEqual(a, b)): Uint8Array {
  const bytes = encode(x)
  const back = decode(bytes)
  compare(back, x)
  assert.equal(hex(encode(back)), hex(bytes))
  return bytes
}

describe('round trips', () => {
  it('IT_RES: 200 random signed messages decode to themselves and still verify', async () => {
    const rng = new Prng(1)
    for (let i = 0; i < 200; i++) {
      const m = randomItRes(rng, i % 10 === 0 ? 5000 : 300)
      const bytes = roundTrip(m, itResToBytes, itResFromBytes)
      assert.equal(await verifyItResSignature(itResFromBytes(bytes)), true)
      assert.equal(hex(itResHash(bytes)), hex(itResHash(itResToBytes(m))))
    }
  })

  it('blocks, headers and transactions: 300 random ones', () => {
    const rng = new Prng(2)
    for (let i = 0; i < 300; i++) {
      const b = randomBlock(rng)
      roundTrip(b, blockToBytes, blockFromBytes)
      roundTrip(b.header, headerToBytes, headerFromBytes)
      assert.equal(hex(headerHash(headerFromBytes(headerToBytes(b.header)))), hex(headerHash(b.header)))
      roundTrip(randomTx(rng), txToBytes, txFromBytes)
      roundTrip(randomHeader(rng), headerToBytes, headerFromBytes)
    }
  })

  it('evidence: 200 random ones, float32 bits kept exactly (NaN payloads, -0)', () => {
    const rng = new Prng(3)
    const bits = (e: Evidence): unknown => ({ ...e, model: hex(float32Bytes(e.model)), residual: hex(float32Bytes(e.residual)) })
    for (let i = 0; i < 200; i++) {
      roundTrip(randomEvidence(rng), evidenceToBytes, evidenceFromBytes, (a, b) => assert.deepStrictEqual(bits(a), bits(b)))
    }
  })

  it('task specs, submissions and verdicts: 200 random ones each', async () => {
    const rng = new Prng(4)
    for (let i = 0; i < 200; i++) {
      roundTrip(randomTask(rng), taskToBytes, taskFromBytes)
      roundTrip(randomSubmission(rng), submissionToBytes, submissionFromBytes)
      const v = randomVerdict(rng)
      roundTrip(v, verdictToBytes, verdictFromBytes)
      assert.equal(await verifyVerdictSignature(verdictFromBytes(verdictToBytes(v))), true)
    }
  })
})
