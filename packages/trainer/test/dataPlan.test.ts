// Run: node --import ./scripts/node-polyfills.mjs --import tsx --test packages/trainer/test/dataPlan.test.ts
// Data preparation (paper §4.2.2) on small synthetic data sets: fragment split, fragment permutation,
// train/validation/test split, mini-batches, canonical fragment bytes and their hashes.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { throwsCode } from './throwsCode.js'
import { TAGS, isPouwError, taggedHash, toHex } from '@pouw/protocol'
import {
  DATA_PREP_ERRORS, concatDatasets, datasetFromFragments, fragmentBytes, fragmentHash, fragmentHashAsync,
  fragmentHashes, fragmentPermutation, fragmentRanges, planData, recordBytes, selectRecords, verifyFragment,
  type DataSpec,
} from '../src/data/index.js'
import { splitMix32 } from '../src/prng.js'
import type { Dataset } from '../src/mnist.js'

function seedOf(n: number): Uint8Array {
  return taggedHash(TAGS.seed, new Uint8Array([n]))
}

function synthetic(count: number, features: number, salt = 1): Dataset {
  const next = splitMix32(salt)
  const images = new Uint8Array(count * features)
  for (let i = 0; i < images.length; i++) images[i] = next() & 0xff
  const labels = new Uint8Array(count)
  for (let i = 0; i < count; i++) labels[i] = next() % 10
  return { count, features, images, labels }
}


describe('fragmentRanges', () => {
  it('splits into p consecutive fragments, p-1 equal and a last one no larger', () => {
    let checked = 0
    for (let p = 10; p <= 40; p += 3) {
      for (let n = p; n <= 3000; n += 37) {
        let ranges
        try { ranges = fragmentRanges(n, p) } catch (e) {
          assert.ok(isPouwError(e) && e.code === DATA_PREP_ERRORS.BAD_PARAMS)
          // refused only when no split exists: (p-1)·ceil(n/p) >= n
          assert.ok((p - 1) * Math.ceil(n / p) >= n, `refused n=${n} p=${p}`)
          continue
        }
        checked++
        assert.equal(ranges.length, p)
        let next = 0
        for (const r of ranges) { assert.equal(r.start, next); next += r.count }
        assert.equal(next, n)
        const s = ranges[0]!.count
        for (const r of ranges.slice(0, -1)) assert.equal(r.count, s)
        const last = ranges[p - 1]!.count
        assert.ok(last > 0 && last <= s, `n=${n} p=${p}: last ${last}, first ${s}`)
        if (n % p !== 0) assert.ok(last < s)
      }
    }
    assert.ok(checked > 500)
  })

  it('MNIST sizes: 70,000 in 10 equal fragments, in 13 with a shorter last one', () => {
    assert.deepEqual(fragmentRanges(70_000, 10).map((r) => r.count), new Array(10).fill(7000))
    const r13 = fragmentRanges(70_000, 13)
    assert.equal(r13[0]!.count, 5385)
    assert.equal(r13[12]!.count, 70_000 - 12 * 5385)
  })

  it('refuses p < 10, fewer records than fragments, non-integers, impossible splits', () => {
    throwsCode(() => fragmentRanges(1000, 9), DATA_PREP_ERRORS.BAD_PARAMS, /fragment count/)
    throwsCode(() => fragmentRanges(9, 10), DATA_PREP_ERRORS.BAD_PARAMS, /record count/)
    throwsCode(() => fragmentRanges(100.5, 10), DATA_PREP_ERRORS.BAD_PARAMS)
    throwsCode(() => fragmentRanges(100, 10.5), DATA_PREP_ERRORS.BAD_PARAMS)
    throwsCode(() => fragmentRanges(21, 10), DATA_PREP_ERRORS.BAD_PARAMS, /another p/)
    assert.equal(fragmentRanges(10, 10).length, 10)
  })
})

describe('planData', () => {
  const spec: DataSpec = { recordCount: 1003, fragmentCount: 12, trainPermille: 800, valPermille: 100, batchSize: 16 }

  it('train, validation and test are disjoint and cover D; mini-batches tile D(tr)', () => {
    for (let s = 0; s < 20; s++) {
      const plan = planData(spec, seedOf(s))
      const p = plan.fragments.length
      assert.deepEqual([...plan.trainFragments, ...plan.testFragments].sort((a, b) => a - b), Array.from({ length: p }, (_, i) => i))
      assert.equal(plan.trainFragments.length, Math.floor((12 * 800) / 1000))

      const all = [...plan.trainRecords, ...plan.valRecords, ...plan.testRecords]
      assert.equal(all.length, spec.recordCount)
      assert.equal(new Set(all).size, spec.recordCount)

      // D(tr') = train fragments in permuted order; D(tr) ++ D(val) is exactly that
      const trainPrime = plan.trainFragments.flatMap((f) => Array.from({ length: plan.fragments[f]!.count }, (_, i) => plan.fragments[f]!.start + i))
      assert.deepEqual([...plan.trainRecords, ...plan.valRecords], trainPrime)
      const testExpected = plan.testFragments.flatMap((f) => Array.from({ length: plan.fragments[f]!.count }, (_, i) => plan.fragments[f]!.start + i))
      assert.deepEqual([...plan.testRecords], testExpected)

      // validation: the last floor(m' · 10%) (>= 1) batches of D(tr')
      const mPrime = Math.ceil(trainPrime.length / spec.batchSize)
      assert.equal(plan.valBatchCount, Math.max(1, Math.floor((mPrime * 100) / 1000)))
      assert.equal(plan.batchCount, mPrime - plan.valBatchCount)
      assert.equal(plan.trainRecords.length, plan.batchCount * spec.batchSize)

      const tiled: number[] = []
      for (let b = 0; b < plan.batchCount; b++) {
        const batch = plan.batchRecords(b)
        assert.equal(batch.length, spec.batchSize) // the short batch of D(tr') went to validation
        tiled.push(...batch)
      }
      assert.deepEqual(tiled, [...plan.trainRecords])
    }
  })

  it('without validation the last mini-batch may be smaller', () => {
    const plan = planData({ ...spec, valPermille: 0 }, seedOf(3))
    assert.equal(plan.valRecords.length, 0)
    assert.equal(plan.valBatchCount, 0)
    const m = plan.batchCount
    assert.equal(m, Math.ceil(plan.trainRecords.length / spec.batchSize))
    const last = plan.batchRecords(m - 1)
    assert.ok(last.length >= 1 && last.length <= spec.batchSize)
    assert.equal((m - 1) * spec.batchSize + last.length, plan.trainRecords.length)
    for (let b = 0; b < m - 1; b++) assert.equal(plan.batchRecords(b).length, spec.batchSize)
  })

  it('is deterministic in the seed, and different seeds permute differently', () => {
    const a = planData(spec, seedOf(1))
    const b = planData(spec, seedOf(1))
    assert.deepEqual(a.trainFragments, b.trainFragments)
    assert.deepEqual(a.trainRecords, b.trainRecords)
    assert.deepEqual(a.valRecords, b.valRecords)
    const perms = new Set(Array.from({ length: 30 }, (_, s) => fragmentPermutation(seedOf(s), 12).join(',')))
    assert.ok(perms.size >= 28, `${perms.size} distinct permutations of 30`)
  })

  it('the permutation is a permutation and roughly uniform in where fragment 0 lands', () => {
    const where = new Array<number>(10).fill(0)
    for (let s = 0; s < 2000; s++) {
      const perm = fragmentPermutation(taggedHash(TAGS.seed, new Uint8Array([s & 0xff, s >> 8])), 10)
      assert.deepEqual([...perm].sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
      where[perm.indexOf(0)]!++
    }
    for (const w of where) assert.ok(w > 130 && w < 270, `positions of fragment 0: ${where.join(',')}`)
  })

  it('rounds the train share down but keeps at least one train and one test fragment', () => {
    assert.equal(planData({ ...spec, trainPermille: 1 }, seedOf(0)).trainFragments.length, 1)
    assert.equal(planData({ ...spec, trainPermille: 999 }, seedOf(0)).testFragments.length, 1)
    assert.equal(planData({ ...spec, trainPermille: 500 }, seedOf(0)).trainFragments.length, 6)
    assert.equal(planData({ ...spec, trainPermille: 540 }, seedOf(0)).trainFragments.length, 6)
  })

  it('keeps at least one mini-batch for training, and one for validation when asked', () => {
    const tiny = planData({ recordCount: 100, fragmentCount: 10, trainPermille: 200, valPermille: 999, batchSize: 8 }, seedOf(0))
    // D(tr') = 20 records = 3 batches (8, 8, 4): floor(3 · 0.999) = 2 held out, 1 left
    assert.equal(tiny.valBatchCount, 2)
    assert.equal(tiny.batchCount, 1)
    assert.equal(tiny.valRecords.length, 12)
    const little = planData({ recordCount: 100, fragmentCount: 10, trainPermille: 200, valPermille: 1, batchSize: 8 }, seedOf(0))
    assert.equal(little.valBatchCount, 1)
    const one = planData({ recordCount: 100, fragmentCount: 10, trainPermille: 100, valPermille: 500, batchSize: 64 }, seedOf(0))
    assert.equal(one.batchCount, 1)
    assert.equal(one.valBatchCount, 0) // a single batch of D(tr') stays for training
  })

  it('refuses bad specs and batch indices', () => {
    const seed = seedOf(0)
    throwsCode(() => planData({ ...spec, trainPermille: 0 }, seed), DATA_PREP_ERRORS.BAD_PARAMS, /trainPermille/)
    throwsCode(() => planData({ ...spec, trainPermille: 1000 }, seed), DATA_PREP_ERRORS.BAD_PARAMS, /trainPermille/)
    throwsCode(() => planData({ ...spec, valPermille: 1000 }, seed), DATA_PREP_ERRORS.BAD_PARAMS, /valPermille/)
    throwsCode(() => planData({ ...spec, batchSize: 0 }, seed), DATA_PREP_ERRORS.BAD_PARAMS, /batchSize/)
    throwsCode(() => planData({ ...spec, fragmentCount: 5 }, seed), DATA_PREP_ERRORS.BAD_PARAMS)
    throwsCode(() => planData(spec, new Uint8Array(31)), DATA_PREP_ERRORS.BAD_PARAMS, /32 bytes/)
    const plan = planData(spec, seed)
    throwsCode(() => plan.batchRecords(plan.batchCount), DATA_PREP_ERRORS.BAD_PARAMS)
    throwsCode(() => plan.batchRecords(-1), DATA_PREP_ERRORS.BAD_PARAMS)
  })
})

describe('fragments', () => {
  const data = synthetic(257, 12)
  const ranges = fragmentRanges(data.count, 10)

  it('record bytes are the label then the features; fragment bytes are its records', () => {
    const r = recordBytes(data, 5)
    assert.equal(r.length, 13)
    assert.equal(r[0], data.labels[5])
    assert.deepEqual(r.subarray(1), data.images.subarray(5 * 12, 6 * 12))
    const f = fragmentBytes(data, ranges[1]!)
    assert.equal(f.length, ranges[1]!.count * 13)
    assert.deepEqual(f.subarray(13, 26), recordBytes(data, ranges[1]!.start + 1))
  })

  it('hashes are tagged, per fragment, and the async variant agrees', async () => {
    const hashes = fragmentHashes(data, ranges)
    assert.equal(hashes.length, 10)
    assert.equal(new Set(hashes.map(toHex)).size, 10)
    const bytes = fragmentBytes(data, ranges[3]!)
    assert.deepEqual(hashes[3], taggedHash(TAGS.fragment, bytes))
    assert.deepEqual(await fragmentHashAsync(bytes), fragmentHash(bytes))
    assert.notDeepEqual(fragmentHash(bytes), taggedHash(TAGS.dataset, bytes))
  })

  it('verifyFragment accepts the right bytes and names the fragment on a mismatch', () => {
    const hashes = fragmentHashes(data, ranges)
    ranges.forEach((r, i) => verifyFragment(fragmentBytes(data, r), hashes[i]!, i))
    const tampered = fragmentBytes(data, ranges[7]!)
    tampered[20]! ^= 1
    throwsCode(() => verifyFragment(tampered, hashes[7]!, 7), DATA_PREP_ERRORS.FRAGMENT_HASH_MISMATCH, /fragment 7/)
    throwsCode(() => verifyFragment(fragmentBytes(data, ranges[2]!), hashes[3]!, 2), DATA_PREP_ERRORS.FRAGMENT_HASH_MISMATCH, /fragment 2/)
    throwsCode(() => verifyFragment(tampered.subarray(0, 13), hashes[7]!, 7), DATA_PREP_ERRORS.FRAGMENT_HASH_MISMATCH)
  })

  it('datasetFromFragments rebuilds the data set, in fragment order, and refuses ragged fragments', () => {
    const back = datasetFromFragments(ranges.map((r) => fragmentBytes(data, r)), 12)
    assert.deepEqual(back, data)
    const order = [4, 0, 9]
    const part = datasetFromFragments(order.map((i) => fragmentBytes(data, ranges[i]!)), 12)
    const indices = order.flatMap((i) => Array.from({ length: ranges[i]!.count }, (_, j) => ranges[i]!.start + j))
    assert.deepEqual(part, selectRecords(data, indices))
    const ragged = fragmentBytes(data, ranges[0]!).subarray(0, 30)
    throwsCode(() => datasetFromFragments([fragmentBytes(data, ranges[1]!), ragged], 12), DATA_PREP_ERRORS.BAD_FRAGMENT, /fragment 1/)
    assert.equal(datasetFromFragments([], 12).count, 0)
  })

  it('concatDatasets appends b after a (MNIST train ++ test = D)', () => {
    const a = synthetic(30, 12, 2)
    const b = synthetic(17, 12, 3)
    const d = concatDatasets(a, b)
    assert.equal(d.count, 47)
    assert.deepEqual(recordBytes(d, 29), recordBytes(a, 29))
    assert.deepEqual(recordBytes(d, 30), recordBytes(b, 0))
    assert.deepEqual(recordBytes(d, 46), recordBytes(b, 16))
    throwsCode(() => concatDatasets(a, synthetic(3, 13)), DATA_PREP_ERRORS.BAD_PARAMS, /features/)
  })

  it('a plan over the concatenated set hashes and rebuilds its training fragments', () => {
    const d = concatDatasets(synthetic(600, 8, 4), synthetic(100, 8, 5))
    const plan = planData({ recordCount: d.count, fragmentCount: 10, trainPermille: 857, valPermille: 50, batchSize: 10 }, seedOf(9))
    const hashes = fragmentHashes(d, plan.fragments)
    const revealed = plan.trainFragments.map((f) => fragmentBytes(d, plan.fragments[f]!))
    revealed.forEach((b, i) => verifyFragment(b, hashes[plan.trainFragments[i]!]!, plan.trainFragments[i]!))
    const trainPrime = datasetFromFragments(revealed, 8)
    assert.deepEqual(trainPrime, selectRecords(d, [...plan.trainRecords, ...plan.valRecords]))
    throwsCode(() => fragmentBytes(d, { start: 690, count: 20 }), DATA_PREP_ERRORS.BAD_PARAMS)
    throwsCode(() => recordBytes(d, 700), DATA_PREP_ERRORS.BAD_PARAMS)
  })
})
