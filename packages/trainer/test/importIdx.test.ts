// Run: node --import ./scripts/node-polyfills.mjs --import tsx --test packages/trainer/test/importIdx.test.ts
// MNIST-style idx upload: images idx3 (or idx2) + labels idx1, plain or gzipped, and every refusal with its code.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { gzipSync } from 'fflate'
import { DATASET_ERRORS, importFiles, importIdx } from '../src/data/index.js'
import { throwsCode } from './throwsCode.js'

function idx(dims: number[], data: Uint8Array | number[]): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length)
  const v = new DataView(out.buffer)
  v.setUint32(0, 0x0800 | dims.length)
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d))
  out.set(data, 4 + 4 * dims.length)
  return out
}

function pixels(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 37) & 0xff)
}

describe('importIdx', () => {
  const images = idx([3, 2, 2], pixels(12))
  const labels = idx([3], [2, 0, 2])

  it('reads count x height x width images and their labels', () => {
    const r = importIdx(images, labels)
    assert.equal(r.dataset.count, 3)
    assert.equal(r.features, 4)
    assert.deepEqual(r.shape, [2, 2])
    assert.deepEqual([...r.dataset.images], [...pixels(12)])
    assert.deepEqual([...r.dataset.labels], [2, 0, 2])
    assert.deepEqual(r.classes, ['0', '1', '2'])
    assert.deepEqual(r.summary.classCounts, [1, 0, 1 + 1])
    assert.equal(r.summary.format, 'idx')
    assert.equal(r.summary.skipped, 0)
  })

  it('reads count x features (idx2) records with no shape, and declared class names', () => {
    const r = importIdx(idx([2, 5], pixels(10)), idx([2], [1, 0]), { classes: ['neg', 'pos'] })
    assert.equal(r.features, 5)
    assert.equal(r.shape, undefined)
    assert.deepEqual(r.classes, ['neg', 'pos'])
  })

  it('reads gzipped files, as MNIST is distributed', () => {
    const r = importIdx(gzipSync(images), gzipSync(labels))
    assert.deepEqual([...r.dataset.images], [...pixels(12)])
  })

  it('refuses a label beyond the declared classes, naming the record', () => {
    throwsCode(() => importIdx(images, labels, { classes: ['a', 'b'] }), DATASET_ERRORS.UNKNOWN_LABEL, /record 0: label 2 but only 2 classes/)
  })

  it('refuses bad magic, wrong sizes, mismatched counts, swapped files, no records', () => {
    const badMagic = images.slice(); badMagic[2] = 0x09
    throwsCode(() => importIdx(badMagic, labels), DATASET_ERRORS.CORRUPT, /not an unsigned-byte IDX/)
    throwsCode(() => importIdx(images.subarray(0, images.length - 1), labels), DATASET_ERRORS.CORRUPT, /need 12 data bytes, file has 11/)
    throwsCode(() => importIdx(new Uint8Array(2), labels), DATASET_ERRORS.CORRUPT, /too short/)
    throwsCode(() => importIdx(images, idx([2], [0, 1])), DATASET_ERRORS.BAD_LAYOUT, /3 images but 2 labels/)
    throwsCode(() => importIdx(labels, images), DATASET_ERRORS.BAD_LAYOUT, /swapped/)
    throwsCode(() => importIdx(idx([0, 2, 2], []), idx([0], [])), DATASET_ERRORS.EMPTY)
    throwsCode(() => importIdx(idx([1, 1, 1, 1], [0]), idx([1], [0])), DATASET_ERRORS.BAD_LAYOUT, /4 dimensions/)
  })

  it('refuses a truncated gzip and a gzip that inflates past the cap', () => {
    const gz = gzipSync(images)
    throwsCode(() => importIdx(gz.subarray(0, gz.length - 12), labels), DATASET_ERRORS.CORRUPT)
    const bomb = gzipSync(idx([4096, 32, 32], new Uint8Array(4096 * 1024))) // 4 MiB of zeros in a few KiB
    assert.ok(bomb.length < 16 * 1024)
    throwsCode(() => importIdx(bomb, idx([4096], new Uint8Array(4096)), { limits: { maxFileBytes: 1024 * 1024 } }), DATASET_ERRORS.TOO_LARGE, /inflates past/)
    throwsCode(() => importIdx(images, labels, { limits: { maxFileBytes: 10 } }), DATASET_ERRORS.TOO_LARGE)
  })

  it('importFiles finds the images and the labels file in either order, by magic or by name when gzipped', () => {
    const a = importFiles([{ path: 'l.idx', bytes: labels }, { path: 'i.idx', bytes: images }])
    assert.equal(a.dataset.count, 3)
    const b = importFiles([{ path: 't10k-labels-idx1-ubyte.gz', bytes: gzipSync(labels) }, { path: 't10k-images-idx3-ubyte.gz', bytes: gzipSync(images) }])
    assert.deepEqual(b.dataset, a.dataset)
    throwsCode(() => importFiles([{ path: 'i.idx', bytes: images }]), DATASET_ERRORS.BAD_LAYOUT, /together/)
    throwsCode(() => importFiles([{ path: 'a', bytes: labels }, { path: 'b', bytes: labels }]), DATASET_ERRORS.BAD_LAYOUT)
  })
})
