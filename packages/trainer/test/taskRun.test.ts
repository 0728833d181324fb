import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as tf from '@tensorflow/tfjs'
import { generateKeyPair, netShapes, taskHash, type TaskSpec } from '@pouw/protocol'
import {
  DEFAULT_OPTIMIZERS, TaskData, createClientTask, createOptimizer, metricPpm, nextBelow, parseLayers, splitMix32, equivocationFromBytes, equivocationToBytes, finalModelFromBytes, finalModelToBytes, layersModel, loadBatch,
  sameFinalModel, signFinalModel, taskSeed, testScore, trainTask, verifyEquivocation, verifyFinalModel,
} from '../src/index.js'
import { createNodeEngine } from '../src/node.js'

/** Four classes a small MLP can learn: the quadrant of (feature 0, feature 1); features 2 and 3 are noise. */
function quadrants(count: number): { count: number; features: number; images: Uint8Array; labels: Uint8Array } {
  const next = splitMix32(12345)
  const rnd = (): number => next() & 255
  const images = new Uint8Array(count * 4)
  const labels = new Uint8Array(count)
  for (let i = 0; i < count; i++) {
    for (let f = 0; f < 4; f++) images[i * 4 + f] = rnd()
    labels[i] = (images[i * 4]! >= 128 ? 1 : 0) + (images[i * 4 + 1]! >= 128 ? 2 : 0)
  }
  return { count, features: 4, images, labels }
}

/** Two classes a small convolutional network can learn: 8×8 images with a horizontal or a vertical bar, over noise. */
function bars(count: number): { count: number; features: number; images: Uint8Array; labels: Uint8Array } {
  const next = splitMix32(777)
  const rnd = (n: number): number => nextBelow(next, n)
  const images = new Uint8Array(count * 64)
  const labels = new Uint8Array(count)
  for (let i = 0; i < count; i++) {
    const [label, at] = [rnd(2), rnd(8)]
    for (let p = 0; p < 64; p++) images[i * 64 + p] = rnd(80)
    for (let k = 0; k < 8; k++) images[i * 64 + (label === 0 ? at * 8 + k : k * 8 + at)] = 200 + rnd(56)
    labels[i] = label
  }
  return { count, features: 64, images, labels }
}

describe('client task runs: applications, training alone, scores and the downloadable model', () => {
  it('a selected miner trains the task; the evaluators\' score equals the accuracy of the TensorFlow.js model it downloads', async () => {
    const dataset = quadrants(600)
    const { spec } = createClientTask(dataset, { taskId: new Uint8Array(16).fill(7), hidden: parseLayers('16'), epochs: 8, classes: 4 })
    const data = new TaskData(spec, dataset, taskSeed(new Uint8Array(32).fill(9), spec))
    const engine = await createNodeEngine(spec.net)
    let batches = 0
    const theta = await trainTask(engine, data, { onBatch: () => { batches++ } })
    assert.equal(batches, spec.epochs * data.plan.batchCount)
    const score = await testScore(engine, data, theta)
    assert.equal(score.count, data.plan.testRecords.length)
    assert.deepEqual(new Set(loadBatch(dataset, data.plan.testRecords).labels), new Set([0, 1, 2, 3]), 'every class is in the test split')
    assert.ok(score.scorePpm > 700_000, `trained well above chance (25%): ${score.scorePpm} ppm`)
    assert.deepEqual(await trainTask(engine, data), theta, 'training is deterministic on one backend')

    const { modelJson, weights } = layersModel(spec, theta)
    const artifacts = modelJson as { modelTopology: object; weightsManifest: { weights: tf.io.WeightsManifestEntry[] }[] }
    const model = await tf.loadLayersModel(tf.io.fromMemory({
      modelTopology: artifacts.modelTopology, weightSpecs: artifacts.weightsManifest[0]!.weights, weightData: weights.slice().buffer,
    }))
    const { x, labels } = loadBatch(dataset, data.plan.testRecords)
    const predicted = tf.tidy(() => (model.predict(tf.tensor2d(x, [labels.length, 4])) as tf.Tensor).argMax(1).dataSync())
    const correct = labels.reduce((n, l, i) => n + (predicted[i] === l ? 1 : 0), 0)
    assert.equal(correct, score.correct, 'the downloaded model gets the evaluators\' count right')
  })

  it('a convolutional network with batch norm, dropout, Adam and early stopping trains, and its downloaded model scores what the evaluators do', async () => {
    const dataset = bars(400)
    const hidden = parseLayers('conv 4 3 same relu, batchnorm, maxpool 2, conv 6 3 elu, avgpool 2 stride 1, flatten, dense 12 tanh, dropout 0.25')
    const { spec } = createClientTask(dataset, {
      taskId: new Uint8Array(16).fill(5), hidden, inputShape: [8, 8, 1], optimizer: DEFAULT_OPTIMIZERS.adam,
      learningRate: 0.01, epochs: 12, patience: 2, metric: 'macro-f1', classes: 2, batchSize: 32,
    })
    const data = new TaskData(spec, dataset, taskSeed(new Uint8Array(32).fill(4), spec))
    assert.ok(data.plan.valRecords.length > 0, 'early stopping has a validation holdout to watch')
    const engine = await createNodeEngine(spec.net, 'cpu')
    const epochs: number[] = []
    const theta = await trainTask(engine, data, { onEpoch: (e) => epochs.push(e.validationPpm) })
    const best = Math.max(...epochs)
    assert.ok(epochs.length >= 1 && epochs.length <= spec.epochs, `validated after each epoch (${epochs.length})`)
    assert.ok(epochs.length < spec.epochs, `stopped early (${epochs.length} of ${spec.epochs} epochs)`)
    assert.equal(epochs.length - 1 - epochs.indexOf(best), spec.patience, 'exactly patience epochs after the best')
    const { x: vx, labels: vl } = loadBatch(dataset, data.plan.valRecords)
    assert.equal(metricPpm('macro-f1', (await engine.evaluate(theta, vx, vl, vl.length)).predicted, vl), best, 'the result is the best validation epoch\'s model')
    const [mean, variance] = ['moving_mean', 'moving_variance'].map((name) => netShapes(spec.net).params.find((p) => p.name === name)!)
    assert.ok(theta.subarray(mean!.offset, mean!.offset + mean!.size).some((v) => v !== 0), 'the moving mean moved from 0')
    assert.ok(theta.subarray(variance!.offset, variance!.offset + variance!.size).some((v) => v !== 1), 'the moving variance moved from 1')
    assert.deepEqual(await trainTask(engine, data), theta, 'training (dropout masks included) is deterministic on one backend')

    const score = await testScore(engine, data, theta)
    assert.deepEqual(new Set(loadBatch(dataset, data.plan.testRecords).labels), new Set([0, 1]), 'both classes are in the test split')
    assert.ok(score.scorePpm > 800_000, `trained well above chance (50%): ${score.scorePpm} ppm`)
    const { modelJson, weights } = layersModel(spec, theta)
    const artifacts = modelJson as { modelTopology: object; weightsManifest: { weights: tf.io.WeightsManifestEntry[] }[] }
    const model = await tf.loadLayersModel(tf.io.fromMemory({
      modelTopology: artifacts.modelTopology, weightSpecs: artifacts.weightsManifest[0]!.weights, weightData: weights.slice().buffer,
    }))
    assert.deepEqual(model.layers.map((l) => l.getClassName()), ['Reshape', 'Conv2D', 'BatchNormalization', 'MaxPooling2D', 'Conv2D', 'AveragePooling2D', 'Flatten', 'Dense', 'Dropout', 'Dense'])
    const { x, labels } = loadBatch(dataset, data.plan.testRecords)
    const predicted = tf.tidy(() => (model.predict(tf.tensor2d(x, [labels.length, 64])) as tf.Tensor).argMax(1).dataSync())
    const correct = labels.reduce((n, l, i) => n + (predicted[i] === l ? 1 : 0), 0)
    assert.equal(correct, score.correct, 'the downloaded model gets the evaluators\' count right')
    assert.equal(metricPpm('macro-f1', predicted, labels), score.scorePpm, 'and the evaluators\' macro-F1')
    // relays score on wasm (one backend per process, the verifier's): every layer kind's forward pass runs there, to the same classes
    const onCpu = (await engine.evaluate(theta, x, labels, labels.length)).predicted
    const wasm = await createNodeEngine(spec.net, 'wasm')
    assert.deepEqual((await wasm.evaluate(theta, x, labels, labels.length)).predicted, onCpu)
  })

  it('scores accuracy and macro-F1 to the ppm, rounded down', () => {
    // labels 0 0 0 1 1 2; predicted 0 0 1 1 2 2: class 0 TP 2 FN 1 (F1 4/5), class 1 TP 1 FP 1 FN 1 (1/2), class 2 TP 1 FP 1 (2/3)
    const [labels, predicted] = [[0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2]]
    assert.equal(metricPpm('accuracy', predicted, labels), 666_666)
    assert.equal(metricPpm('macro-f1', predicted, labels), 655_555) // (0.8 + 0.5 + 0.6667) / 3
    assert.equal(metricPpm('macro-f1', [3, 3], [0, 0]), 0, 'a class only predicted counts, with F1 0')
    assert.equal(metricPpm('macro-f1', [1, 1], [1, 1]), 1_000_000)
    // F1s 1, 0.4 and 0.4: exactly 0.6, where a sum in doubles gives 0.59999…
    assert.equal(metricPpm('macro-f1', [0, 1, 1, 1, 1, 2], [0, 1, 2, 2, 2, 2]), 600_000)
    assert.throws(() => metricPpm('accuracy', [256], [0]), /outside/)
  })

  it('each optimiser takes its documented step', () => {
    const task = (optimizer: TaskSpec['optimizer']): TaskSpec => createClientTask(quadrants(120), { taskId: new Uint8Array(16), hidden: [], optimizer, learningRate: 0.5, epochs: 1, classes: 4 }).spec
    const n = 4 * 4 + 4
    const grad = new Float32Array(n).fill(0.25)
    const run = (o: TaskSpec['optimizer'], steps: number): number => {
      const theta = new Float32Array(n)
      const opt = createOptimizer(task(o))
      for (let i = 0; i < steps; i++) opt.step(theta, grad, new Float32Array(0))
      return theta[0]!
    }
    assert.equal(run({ kind: 'sgd' }, 2), -0.25) // 2 x 0.5 x 0.25
    assert.equal(run({ kind: 'momentum', momentum: 0.5 }, 2), Math.fround(-0.125 - 0.5 * 0.375)) // v = 0.25, then 0.375
    // Adam's first step is lr x sign(g) whatever g's size (bias-corrected m / sqrt(v) = g / |g|), up to epsilon
    assert.ok(Math.abs(run(DEFAULT_OPTIMIZERS.adam, 1) + 0.5) < 1e-5)
  })

  it('final models are signed by the ticket owner and round-trip; tampering fails', async () => {
    const owner = generateKeyPair()
    const dataset = quadrants(120)
    const { spec } = createClientTask(dataset, { taskId: new Uint8Array(16).fill(3), hidden: parseLayers('4'), epochs: 1, classes: 4 })
    const hash = taskHash(spec)
    const theta = new Float32Array([...Array(4 * 4 + 4 + 4 * 4 + 4).keys()].map((i) => i / 7))
    const m = await signFinalModel(hash, owner, theta)
    const m2 = finalModelFromBytes(finalModelToBytes(m), spec)
    assert.deepEqual(m2, m)
    assert.equal(await verifyFinalModel(m2), true)
    const changed = new Float32Array(theta)
    changed[0] = 1
    assert.equal(await verifyFinalModel({ ...m2, theta: changed }), false)
    assert.throws(() => finalModelFromBytes(finalModelToBytes({ ...m, theta: theta.subarray(1) }), spec), { code: 'DATA_BAD_PARAMS' })
  })

  it('two different models signed by one miner are an equivocation: one encoding, checked signatures, refused otherwise', async () => {
    const [owner, other] = [generateKeyPair(), generateKeyPair()]
    const { spec } = createClientTask(quadrants(120), { taskId: new Uint8Array(16).fill(3), hidden: parseLayers('4'), epochs: 1, classes: 4 })
    const hash = taskHash(spec)
    const theta = new Float32Array([...Array(4 * 4 + 4 + 4 * 4 + 4).keys()].map((i) => i / 7))
    const changed = new Float32Array(theta)
    changed[5] = -1
    const [a, b] = [await signFinalModel(hash, owner, theta), await signFinalModel(hash, owner, changed)]
    const bytes = equivocationToBytes({ first: a, second: b })
    assert.deepEqual(equivocationToBytes({ first: b, second: a }), bytes, 'either order encodes alike')
    const e = equivocationFromBytes(bytes, spec)
    const back = [e.first, e.second]
    assert.ok(back.some((x) => sameFinalModel(x, a)) && back.some((x) => sameFinalModel(x, b)), 'the two models come back')
    assert.equal(await verifyEquivocation(e), true)
    assert.equal(await verifyEquivocation({ ...e, second: { ...e.second, signature: e.first.signature } }), false, 'a signature over another model')
    assert.equal(sameFinalModel(a, { ...a, signature: new Uint8Array(64) }), true, 'a model is its parameters, whatever the signature bytes')
    // not an equivocation: one model twice, two miners, two tasks, bytes out of order or trailing
    const code = { code: 'PROTOCOL_BAD_VALUE' }
    assert.throws(() => equivocationFromBytes(equivocationToBytes({ first: a, second: { ...a, signature: b.signature } }), spec), code)
    const [byOther, otherTask] = [await signFinalModel(hash, other, changed), await signFinalModel(new Uint8Array(32), owner, changed)]
    assert.throws(() => equivocationFromBytes(equivocationToBytes({ first: a, second: byOther }), spec), code)
    assert.throws(() => equivocationFromBytes(equivocationToBytes({ first: a, second: otherTask }), spec), code)
    const [x, y] = [finalModelToBytes(a), finalModelToBytes(b)].sort((p, q) => Buffer.compare(q, p))
    const swapped = new Uint8Array([...u32(x!.length), ...x!, ...u32(y!.length), ...y!])
    assert.throws(() => equivocationFromBytes(swapped, spec), code)
    assert.throws(() => equivocationFromBytes(new Uint8Array([...bytes, 0]), spec), (err: Error & { code?: string }) => err.code?.startsWith('PROTOCOL_') === true)
  })
})

function u32(n: number): number[] {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]
}
