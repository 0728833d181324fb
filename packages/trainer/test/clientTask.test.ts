import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { describeNet, mlpNet, mlpSizes, taskFromBytes, taskHash, taskToBytes, toHex } from '@pouw/protocol'
import { createClientTask, parseLayers, taskPackageFromBytes, taskPackageToBytes } from '../src/index.js'

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
    const { spec, fragments } = createClientTask(dataset, { taskId, hidden: parseLayers('8, 8'), epochs: 4, classes: 4 })
    assert.deepEqual(mlpSizes(spec.net), [features, 8, 8, 4])
    assert.equal(spec.recordCount, count)
    assert.equal(fragments.length, 10)
    assert.equal(fragments.reduce((a, f) => a + f.length, 0), count * (features + 1))
    const back = taskPackageFromBytes(taskPackageToBytes(spec, fragments), 1 << 20)
    assert.equal(toHex(back.hash), toHex(taskHash(spec)))
    assert.deepEqual(back.dataset, dataset)
  })

  it('refuses bad definitions and packages with their rule', () => {
    assert.throws(() => createClientTask(dataset, { taskId, hidden: parseLayers('0'), epochs: 1, classes: 4 }), { code: 'DATA_BAD_PARAMS' })
    assert.throws(() => createClientTask(dataset, { taskId, hidden: parseLayers('8'), epochs: 0, classes: 4 }), { code: 'DATA_BAD_PARAMS' })
    assert.throws(() => createClientTask(dataset, { taskId, hidden: parseLayers('4096, 4096'), epochs: 1, classes: 4 }), { code: 'DATA_BAD_PARAMS' })
    assert.throws(() => createClientTask({ ...dataset, count: 5, images: dataset.images.subarray(0, 25), labels: dataset.labels.subarray(0, 5) }, { taskId, hidden: parseLayers('8'), epochs: 1, classes: 4 }), { code: 'DATA_BAD_PARAMS' })
    const { spec, fragments } = createClientTask(dataset, { taskId, hidden: parseLayers('8'), epochs: 1, classes: 4 })
    const bytes = taskPackageToBytes(spec, fragments)
    assert.throws(() => taskPackageFromBytes(bytes, bytes.length - 1), { code: 'PROTOCOL_TOO_LARGE' })
    assert.throws(() => taskPackageFromBytes(bytes.subarray(0, bytes.length - 3), 1 << 20), { code: 'PROTOCOL_TRUNCATED' })
    assert.throws(() => taskPackageFromBytes(taskPackageToBytes(spec, fragments.slice(0, 9)), 1 << 20), { code: 'PROTOCOL_BAD_VALUE' })
    const swapped = [fragments[1]!, fragments[0]!, ...fragments.slice(2)]
    assert.throws(() => taskPackageFromBytes(taskPackageToBytes(spec, swapped), 1 << 20), { code: 'DATA_FRAGMENT_HASH_MISMATCH' })
    assert.throws(() => taskPackageFromBytes(taskPackageToBytes({ ...spec, net: mlpNet([features, 8, 3]) }, fragments), 1 << 20), { code: 'DATA_BAD_PARAMS' })
  })

  it('defines any network the text names over an image shape, with its training rule, and writes it in version 3', () => {
    const images = { ...dataset, features: 25 * 1, images: new Uint8Array(count * 25), count }
    const hidden = parseLayers('conv 4 3 same relu\nbatchnorm, maxpool 2, flatten, dense 8 sigmoid, dropout 0.5')
    const { spec } = createClientTask(images, {
      taskId, hidden, inputShape: [5, 5, 1], loss: 'mse', optimizer: { kind: 'momentum', momentum: 0.9 }, epochs: 3, patience: 1, expectedSeconds: 90, hardware: 'gpu', classes: 4,
    })
    assert.equal(describeNet(spec.net), '[5, 5, 1] → conv2d 4 3×3 same relu → batchNorm → maxPool 2 → flatten → dense 8 sigmoid → dropout 0.5 → dense 4 (mse)')
    assert.equal(spec.learningRate, Math.fround(0.01), 'momentum\'s default rate')
    const bytes = taskToBytes(spec)
    assert.equal(bytes[1], 3)
    assert.deepEqual(taskFromBytes(bytes), spec)
    const plain = createClientTask(dataset, { taskId, hidden: parseLayers('8'), epochs: 1, classes: 4 }).spec
    assert.equal(taskToBytes(plain)[1], 2, 'a plain MLP by SGD is written in version 2')
  })

  it('refuses networks that do not fit the data, with the layer and the reason', () => {
    const refuse = (o: Partial<Parameters<typeof createClientTask>[1]>, message: RegExp): void =>
      assert.throws(() => createClientTask(dataset, { taskId, hidden: [], epochs: 1, classes: 4, ...o }), (e: Error & { code?: string }) => e.code === 'DATA_BAD_PARAMS' && message.test(e.message))
    refuse({ hidden: parseLayers('conv 4 3') }, /layer 1 \(conv2d\) takes \[height, width, channels\]/)
    refuse({ inputShape: [2, 2, 1] }, /input shape \[2, 2, 1\] does not hold the data's 5 features/)
    refuse({ inputShape: [5, 1, 1], hidden: parseLayers('conv 2 3, flatten') }, /a 3×3 window does not fit its 5×1 input/)
    refuse({ inputShape: [5, 1, 1] }, /layer 1 \(dense\) takes \[features\]; its input is \[5, 1, 1\] \(flatten first\)/)
    refuse({ patience: 1001 }, /patience must be an integer in \[0, 1000\]/)
    refuse({ learningRate: 0 }, /learning rate/)
    refuse({ hidden: parseLayers('dense 65536'), batchSize: 1100 }, /a batch of 1100 records makes the layers output 72\d+ values, at most 67108864/)
  })

  it('reads the layer text, and names the layer it cannot read', () => {
    assert.deepEqual(parseLayers(' 32, dense 8 tanh\nmaxpool 3 stride 2, avgpool 2, flatten, batchnorm, dropout 0.1, conv 16 5 stride 2 same elu '), [
      { kind: 'dense', units: 32, activation: 'relu' }, { kind: 'dense', units: 8, activation: 'tanh' },
      { kind: 'maxPool', size: 3, stride: 2 }, { kind: 'avgPool', size: 2, stride: 2 }, { kind: 'flatten' }, { kind: 'batchNorm' },
      { kind: 'dropout', ratePermille: 100 }, { kind: 'conv2d', filters: 16, kernel: 5, stride: 2, padding: 'same', activation: 'elu' },
    ])
    assert.deepEqual(parseLayers(''), [])
    for (const [text, why] of [
      ['dense', /layer 1 \("dense"\): units must be a whole number, got nothing/], ['8, lstm 4', /layer 2 \("lstm 4"\): a layer is dense, conv/],
      ['dense 8 swish', /"swish" is not an option here/], ['dropout 0.95', /rate must be in \(0, 0.9\]/], ['flatten 2', /"2" is not an option/],
      ['conv 8 3.5', /the kernel size must be a whole number/], ['maxpool 2 same', /"same" is not an option/],
    ] as const) assert.throws(() => parseLayers(text), (e: Error & { code?: string }) => e.code === 'DATA_BAD_PARAMS' && why.test(e.message), text)
  })
})
