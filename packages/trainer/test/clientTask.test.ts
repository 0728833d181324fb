import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { taskHash, toHex } from '@pouw/protocol'
import { createClientTask, taskPackageFromBytes, taskPackageToBytes } from '../src/index.js'

const count = 120
const features = 5
const dataset = {
  count, features,
  images: Uint8Array.from({ length: count * features }, (_, i) => (i * 13) % 256),
  labels: Uint8Array.from({ length: count }, (_, i) => i % 4),
}
const taskId = Uint8Array.from({ length: 16 }, (_, i) => 200 - i)

describe('client tasks: definition from an upload, and the package supervisors store', () => {
  it('defines the model from the data (input = features, output = classes) and round-trips the package', () => {
    const { spec, fragments } = createClientTask(dataset, { taskId, hidden: [8, 8], epochs: 4, classes: 4 })
    assert.deepEqual(spec.layers, [features, 8, 8, 4])
    assert.equal(spec.recordCount, count)
    assert.equal(fragments.length, 10)
    assert.equal(fragments.reduce((a, f) => a + f.length, 0), count * (features + 1))
    const back = taskPackageFromBytes(taskPackageToBytes(spec, fragments), 1 << 20)
    assert.equal(toHex(back.hash), toHex(taskHash(spec)))
    assert.deepEqual(back.dataset, dataset)
  })

  it('refuses bad definitions and packages with their rule', () => {
    assert.throws(() => createClientTask(dataset, { taskId, hidden: [0], epochs: 1, classes: 4 }), { code: 'DATA_BAD_PARAMS' })
    assert.throws(() => createClientTask(dataset, { taskId, hidden: [8], epochs: 0, classes: 4 }), { code: 'DATA_BAD_PARAMS' })
    assert.throws(() => createClientTask(dataset, { taskId, hidden: [4096, 4096], epochs: 1, classes: 4 }), { code: 'DATA_BAD_PARAMS' })
    assert.throws(() => createClientTask({ ...dataset, count: 5, images: dataset.images.subarray(0, 25), labels: dataset.labels.subarray(0, 5) }, { taskId, hidden: [8], epochs: 1, classes: 4 }), { code: 'DATA_BAD_PARAMS' })
    const { spec, fragments } = createClientTask(dataset, { taskId, hidden: [8], epochs: 1, classes: 4 })
    const bytes = taskPackageToBytes(spec, fragments)
    assert.throws(() => taskPackageFromBytes(bytes, bytes.length - 1), { code: 'PROTOCOL_TOO_LARGE' })
    assert.throws(() => taskPackageFromBytes(bytes.subarray(0, bytes.length - 3), 1 << 20), { code: 'PROTOCOL_TRUNCATED' })
    assert.throws(() => taskPackageFromBytes(taskPackageToBytes(spec, fragments.slice(0, 9)), 1 << 20), { code: 'PROTOCOL_BAD_VALUE' })
    const swapped = [fragments[1]!, fragments[0]!, ...fragments.slice(2)]
    assert.throws(() => taskPackageFromBytes(taskPackageToBytes(spec, swapped), 1 << 20), { code: 'DATA_FRAGMENT_HASH_MISMATCH' })
    assert.throws(() => taskPackageFromBytes(taskPackageToBytes({ ...spec, layers: [features, 8, 3] }, fragments), 1 << 20), { code: 'DATA_BAD_PARAMS' })
  })
})
