// Run: node --import ./scripts/node-polyfills.mjs --import tsx --test packages/trainer/test/deadReckoning.test.ts
// Exact, CPU-only parts of the trainer: Algorithm 1's thresholding, the verifier's band comparison,
// deterministic initialisation, and the IDX loader's refusals.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { SIGN_BIT, TAGS, isPouwError, mlpNet, netShapes, taggedHash, toHex, float32Bytes, type TaskSpec } from '@pouw/protocol'
import {
  DATA_ERRORS, accumulateResidual, compareMessageMap, datasetFromIdx, initialParameters,
  parseIdx, thresholdResidual,
} from '../src/index.js'

/** The next float32 above `x` (x > 0). */
function nextUp(x: number): number {
  const f = new Float32Array([x])
  const u = new Uint32Array(f.buffer)
  u[0] = u[0]! + 1
  return f[0]!
}

function task(overrides: Partial<TaskSpec> = {}): TaskSpec {
  return {
    taskId: new Uint8Array(16).fill(7), net: mlpNet([784, 128, 64, 10]), optimizer: { kind: 'sgd' }, initSeed: 20201,
    tau: Math.fround(0.001), learningRate: Math.fround(0.1), batchSize: 64, commitLead: 2,
    noncesBatchDiv: 4096, noncesModelDiv: 1024, recordCount: 1000,
    fragmentHashes: Array.from({ length: 10 }, () => new Uint8Array(32)), trainPermille: 900, valPermille: 0,
    assignment: 'interleaved', kappa: 10, loadFactorPermille: 1250, epochs: 1,
    patience: 0, bandPpm: 1000, maxBandDisagreements: 8, expectedSeconds: 0, hardware: 'any', metric: 'accuracy', ...overrides,
  }
}

describe('Algorithm 1: thresholding the residual', () => {
  it('sends only values strictly beyond +-tau, sign bit 1 for +, and subtracts tau exactly', () => {
    const tau = 0.5
    const above = nextUp(0.5)
    const r = Float32Array.from([0.5, -0.5, 0.75, -0.75, 0.25, 0, above, -above, 1.25, Math.fround(1.3), -0.4999])
    const { map, residual } = thresholdResidual(r, tau)
    assert.deepEqual([...map], [
      (SIGN_BIT | 2) >>> 0, 3, (SIGN_BIT | 6) >>> 0, 7, (SIGN_BIT | 8) >>> 0, (SIGN_BIT | 9) >>> 0,
    ])
    const expected = Float32Array.from([
      0.5, -0.5, 0.25, -0.25, 0.25, 0, Math.fround(above - 0.5), Math.fround(-above + 0.5),
      0.75, // only one tau per iteration, however far beyond
      Math.fround(Math.fround(1.3) - 0.5), Math.fround(-0.4999),
    ])
    assert.deepEqual(float32Bytes(residual), float32Bytes(expected))
    assert.notEqual(residual, r, 'the input is not modified')
    assert.equal(r[2], 0.75)
  })

  it('at the task threshold tau = fround(0.001): exactly tau is kept, the next float32 is sent', () => {
    const tau = Math.fround(0.001)
    const up = nextUp(tau)
    const { map, residual } = thresholdResidual(Float32Array.from([tau, -tau, up, -up]), tau)
    assert.deepEqual([...map], [(SIGN_BIT | 2) >>> 0, 3])
    assert.equal(residual[0], tau)
    assert.equal(residual[1], -tau)
    assert.equal(residual[2], Math.fround(up - tau))
    assert.equal(residual[3], Math.fround(-up + tau))
    assert.ok(residual[2]! > 0 && residual[2]! < 1e-9)
  })

  it('accumulates r + fround(lr * g) in float32', () => {
    const lr = Math.fround(0.1)
    const res = Float32Array.from([0, 1, -2, 0.001])
    const g = Float32Array.from([1, 2, 3, Math.fround(0.3)])
    const out = accumulateResidual(res, g, lr)
    for (let i = 0; i < res.length; i++) assert.equal(out[i], Math.fround(res[i]! + Math.fround(lr * g[i]!)))
    assert.equal(res[0], 0, 'the residual is not modified')
  })

  it('an empty residual gives an empty map', () => {
    const { map, residual } = thresholdResidual(new Float32Array(5), 0.1)
    assert.equal(map.length, 0)
    assert.deepEqual([...residual], [0, 0, 0, 0, 0])
  })
})

describe('compareMessageMap: the band around tau', () => {
  // tau and band exact in binary: |v| in [0.375, 0.625] is in the band
  const tau = 0.5
  const band = 0.125
  const plus = (i: number) => (SIGN_BIT | i) >>> 0
  const minus = (i: number) => i

  it('an honest map agrees everywhere', () => {
    const r = Float32Array.from([0.9, -0.9, 0.1, 0.5, -0.5, 0.51])
    const honest = thresholdResidual(r, tau).map
    assert.deepEqual(compareMessageMap(honest, r, tau, band), { outside: 0, inBand: 0, firstOutside: -1 })
  })

  it('counts disagreements within the band as in-band, the band edge included', () => {
    const r = Float32Array.from([0.55, -0.45, 0.625, -0.375, 0.2])
    // claims: 0 not sent (v = 0.55 expects +), 1 sent as - (v = -0.45 expects nothing),
    // 2 not sent (exactly tau + band), 3 sent as - (exactly tau - band)
    const claimed = Uint32Array.from([minus(1), minus(3)])
    assert.deepEqual(compareMessageMap(claimed, r, tau, band), { outside: 0, inBand: 4, firstOutside: -1 })
  })

  it('counts disagreements outside the band, and reports the first', () => {
    const r = Float32Array.from([0.1, 0.9, -0.9, Math.fround(0.6251), 0.3, -0.2])
    // 0 claimed + (v far below tau), 1 not claimed (far above), 2 claimed + (expects -),
    // 3 not claimed (just outside the band), 4 ok (nothing), 5 claimed - (far below tau)
    const claimed = Uint32Array.from([plus(0), plus(2), minus(5)])
    assert.deepEqual(compareMessageMap(claimed, r, tau, band), { outside: 5, inBand: 0, firstOutside: 0 })
  })

  it('a claim of the opposite sign is never a rounding difference, even near tau', () => {
    // v = -0.55 expects -tau; a backend's rounding can move it into (-tau, 0], never to +tau
    const r = Float32Array.from([-0.55, 0.55])
    const claimed = Uint32Array.from([plus(0), minus(1)])
    assert.deepEqual(compareMessageMap(claimed, r, tau, band), { outside: 2, inBand: 0, firstOutside: 0 })
  })

  it('a zero band accepts only the exact map', () => {
    const r = Float32Array.from([0.5000001, 0.7])
    assert.deepEqual(compareMessageMap(Uint32Array.from([plus(1)]), r, tau, 0), { outside: 1, inBand: 0, firstOutside: 0 })
    assert.deepEqual(compareMessageMap(Uint32Array.from([plus(0), plus(1)]), r, tau, 0), { outside: 0, inBand: 0, firstOutside: -1 })
  })
})

describe('deterministic initialisation', () => {
  it('the same task gives bit-identical parameters, biases zero, weights within the Glorot limit', () => {
    const t = task()
    const a = initialParameters(t)
    const b = initialParameters(task())
    assert.equal(a.length, 784 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10)
    assert.deepEqual(float32Bytes(a), float32Bytes(b))
    for (const p of netShapes(t.net).params) {
      const w = a.subarray(p.offset, p.offset + p.size)
      if (p.name === 'bias') {
        assert.ok(w.every((x) => x === 0))
        continue
      }
      const [inSize, outSize] = p.shape as [number, number]
      const limit = Math.sqrt(6 / (inSize + outSize))
      const maxAbs = w.reduce((m, x) => Math.max(m, Math.abs(x)), 0)
      assert.ok(maxAbs <= limit && maxAbs > 0.9 * limit, `layer ${inSize}x${outSize}: max |w| ${maxAbs}, limit ${limit}`)
    }
  })

  it('another seed gives other parameters; the frozen hash of the default ones does not change', () => {
    const a = initialParameters(task())
    const c = initialParameters(task({ initSeed: 20202 }))
    assert.notDeepEqual(float32Bytes(a), float32Bytes(c))
    // frozen vector: a change here changes every task's genesis model (and every model hash)
    assert.equal(toHex(taggedHash(TAGS.model, float32Bytes(a))), FROZEN_INIT_HASH)
  })
})

describe('IDX loader', () => {
  function idx(dims: number[], data: Uint8Array, magic = [0, 0, 0x08]): Uint8Array {
    const out = new Uint8Array(4 + 4 * dims.length + data.length)
    const v = new DataView(out.buffer)
    out.set(magic, 0)
    v.setUint8(3, dims.length)
    dims.forEach((d, i) => v.setUint32(4 + 4 * i, d))
    out.set(data, 4 + 4 * dims.length)
    return out
  }
  const images = (n: number) => idx([n, 2, 2], Uint8Array.from({ length: n * 4 }, (_, i) => i))
  const labels = (ls: number[]) => idx([ls.length], Uint8Array.from(ls))

  function throwsBadIdx(fn: () => unknown, re: RegExp): void {
    assert.throws(fn, (e: unknown) => {
      assert.ok(isPouwError(e), `expected a PouwError, got ${String(e)}`)
      assert.equal(e.code, DATA_ERRORS.BAD_IDX)
      assert.equal(e.code, 'DATA_BAD_IDX')
      assert.match(e.message, re)
      return true
    })
  }

  it('parses a well-formed pair', () => {
    const d = datasetFromIdx(images(3), labels([0, 9, 5]))
    assert.equal(d.count, 3)
    assert.equal(d.features, 4)
    assert.deepEqual([...d.labels], [0, 9, 5])
    assert.deepEqual([...d.images.subarray(4, 8)], [4, 5, 6, 7])
  })

  it('refuses a bad magic number', () => {
    throwsBadIdx(() => parseIdx(idx([1], new Uint8Array(1), [0, 0, 0x09]), 'x'), /not an unsigned-byte IDX/) // int8 type
    throwsBadIdx(() => parseIdx(idx([1], new Uint8Array(1), [1, 0, 0x08]), 'x'), /not an unsigned-byte IDX/)
    throwsBadIdx(() => parseIdx(idx([1], new Uint8Array(1), [0, 0, 0x0d]), 'x'), /magic/) // float
    throwsBadIdx(() => datasetFromIdx(idx([1, 2, 2], new Uint8Array(4), [0x12, 0x34, 0x08]), labels([1])), /images/)
  })

  it('refuses truncated files and trailing bytes', () => {
    throwsBadIdx(() => parseIdx(new Uint8Array([0, 0, 8]), 'x'), /too short/)
    throwsBadIdx(() => parseIdx(new Uint8Array(0), 'x'), /too short/)
    throwsBadIdx(() => parseIdx(new Uint8Array([0, 0, 8, 3, 0, 0, 0, 2]), 'x'), /3 dimensions/) // header cut
    throwsBadIdx(() => parseIdx(new Uint8Array([0, 0, 8, 0]), 'x'), /0 dimensions/)
    const whole = images(3)
    throwsBadIdx(() => parseIdx(whole.subarray(0, whole.length - 1), 'images'), /need 12 data bytes, file has 11/)
    throwsBadIdx(() => datasetFromIdx(whole.subarray(0, whole.length - 5), labels([1, 2, 3])), /images/)
    const l = labels([1, 2, 3])
    throwsBadIdx(() => datasetFromIdx(whole, l.subarray(0, l.length - 1)), /labels/)
    const extra = new Uint8Array(whole.length + 1)
    extra.set(whole)
    throwsBadIdx(() => parseIdx(extra, 'x'), /need 12 data bytes, file has 13/)
  })

  it('refuses a label above 9, a count mismatch and labels with two dimensions', () => {
    throwsBadIdx(() => datasetFromIdx(images(3), labels([0, 10, 5])), /label 1 is 10/)
    throwsBadIdx(() => datasetFromIdx(images(3), labels([0, 1, 255])), /label 2 is 255/)
    throwsBadIdx(() => datasetFromIdx(images(3), labels([0, 1])), /3 images but 2 labels/)
    throwsBadIdx(() => datasetFromIdx(images(2), idx([2, 1], Uint8Array.from([1, 2]))), /expected 1 dimension/)
  })
})

// Frozen when these tests were written (task() above: seed 20201, layers 784-128-64-10).
const FROZEN_INIT_HASH = '70eccede39c3a7e08a53a22cd835c96382677452a8c207d397812bb29c18e463'
