/**
 * `npm run bench`: prints one JSON object per line,
 * {"name", "value", "unit", "note"}. Ratios are against a baseline measured
 * in the same run on the same machine, so a noisy shared machine moves both.
 */
import * as tf from '@tensorflow/tfjs'
import { bitsFromTarget, generateKeyPair, submissionFromBytes, blockFromBytes, mlpSizes, parameterCount, type TaskSpec } from '@pouw/protocol'
import { Miner, TaskData, createMnistTask, initialParameters, loadBatch, taskSeed, verifyProofOfUsefulWork, type GradientEngine } from '@pouw/trainer'
import { createNodeEngine, loadMnistAll } from '@pouw/trainer/node'
import { ledgerFigures } from './ledger.js'
import { difficultyFigures } from './difficulty.js'

function emit(name: string, value: number, unit: string, note: string): void {
  console.log(JSON.stringify({ name, value: Number(value.toPrecision(4)), unit, note }))
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

/** A plain tfjs training loop: the same MLP, batches and backend, SGD on device, loss read back each step. */
async function bareTfjs(task: TaskSpec, data: TaskData, steps: number): Promise<number> {
  const layers = mlpSizes(task.net)!
  const vars: tf.Variable[] = []
  for (let l = 0; l + 1 < layers.length; l++) {
    vars.push(tf.variable(tf.randomUniform([layers[l]!, layers[l + 1]!], -0.05, 0.05)))
    vars.push(tf.variable(tf.zeros([layers[l + 1]!])))
  }
  const opt = tf.train.sgd(task.learningRate)
  const step = async (i: number): Promise<void> => {
    const { x, labels } = loadBatch(data.data, data.plan.batchRecords(i))
    const xs = tf.tensor2d(x, [task.batchSize, layers[0]!])
    const ys = tf.oneHot(tf.tensor1d(Int32Array.from(labels), 'int32'), 10)
    const cost = opt.minimize(() => {
      let h: tf.Tensor = xs
      for (let l = 0; l < vars.length / 2; l++) {
        h = tf.add(tf.matMul(h as tf.Tensor2D, vars[2 * l] as tf.Tensor2D), vars[2 * l + 1]!)
        if (l + 1 < vars.length / 2) h = tf.relu(h)
      }
      return tf.losses.softmaxCrossEntropy(ys, h) as tf.Scalar
    }, true)
    await cost!.data()
    tf.dispose([xs, ys, cost!])
  }
  for (let i = 0; i < 10; i++) await step(i)
  const t0 = performance.now()
  for (let i = 0; i < steps; i++) await step(10 + i)
  const ms = performance.now() - t0
  tf.dispose(vars)
  opt.dispose()
  return (steps * task.batchSize * 1000) / ms
}

async function minerLoop(task: TaskSpec, data: TaskData, engine: GradientEngine, steps: number, bits: number): Promise<{ samplesPerSec: number; iterationMs: number; miner: Miner; blocks: Uint8Array[] }> {
  const keys = generateKeyPair()
  const miner = new Miner(data, engine, keys, { now: () => Math.floor(Date.now() / 1000) })
  miner.startEpoch(0, [keys.publicKey])
  members = [keys.publicKey]
  miner.setTip({ hash: new Uint8Array(32), height: 0, nextBits: bits, subsidy: 50n })
  const blocks: Uint8Array[] = []
  for (let i = 0; i < 10; i++) await miner.step()
  const t0 = performance.now()
  for (let i = 0; i < steps; i++) {
    const r = await miner.step()
    if (r.block) blocks.push(r.block.submission)
  }
  const ms = performance.now() - t0
  return { samplesPerSec: (steps * task.batchSize * 1000) / ms, iterationMs: ms / steps, miner, blocks }
}

// issue 4: ledger_tx_per_s, ledger_tx_per_s_noble, block_validate_ms (a few seconds, before the training figures)
await ledgerFigures(emit)
// issue 4: difficulty_block_time_ratio (simulated, milliseconds)
difficultyFigures(emit)

const dataset = loadMnistAll()
const task = createMnistTask(dataset)
const train = new TaskData(task, dataset, taskSeed(new Uint8Array(32), task))
let members: Uint8Array[] = []
const engine = await createNodeEngine(task.net, 'wasm')
// an easy target so the loop mines (and verifies) several blocks: ~1 block per 10 iterations
const bits = bitsFromTarget((1n << 256n) / 1200n)
const STEPS = 150

const bare: number[] = []
const ours: number[] = []
let last: Awaited<ReturnType<typeof minerLoop>> | undefined
for (let round = 0; round < 3; round++) {
  bare.push(await bareTfjs(task, train, STEPS))
  last = await minerLoop(task, train, engine, STEPS, bits)
  ours.push(last.samplesPerSec)
}
emit('worker_vs_bare_tfjs', median(ours) / median(bare), 'ratio',
  `Miner.step loop (the worker's loop: Algorithm 1 + IT_RES signing + Algorithm 2 mining) ${median(ours).toFixed(0)} samples/s over a bare tfjs SGD loop ${median(bare).toFixed(0)} samples/s; same MLP ${mlpSizes(task.net)!.join('-')}, batch ${task.batchSize}, tfjs wasm backend in Node; median of 3 alternating rounds of ${STEPS} steps; goal >= 0.95`)

const verifyMs: number[] = []
for (const sub of last!.blocks.slice(0, 8)) {
  const s = submissionFromBytes(sub)
  const block = blockFromBytes(s.block)
  const t0 = performance.now()
  await verifyProofOfUsefulWork({ data: train, engine, members: () => members }, block, s.evidence)
  verifyMs.push(performance.now() - t0)
}
if (verifyMs.length > 0) {
  emit('verify_vs_iteration', median(verifyMs) / last!.iterationMs, 'ratio',
    `verifying a block (signatures, hashes, commitment, nonce, re-run of the lucky iteration) ${median(verifyMs).toFixed(1)} ms over one training iteration ${last!.iterationMs.toFixed(1)} ms; median of ${verifyMs.length} blocks; ${parameterCount(task)} parameters; wasm in Node`)
}
emit('iteration_ms', last!.iterationMs, 'ms', `mean time of one Miner iteration (batch ${task.batchSize}) in the last round, wasm in Node`)

/**
 * Training together (issue 3): N dead-reckoning miners, each applying the others' message maps of
 * the previous round in the canonical order (exactly what Miner does, without the hashing and
 * signing), against dense SGD on one miner, over the same epochs and batches.
 */
async function together(n: number, epochs: number): Promise<{ accuracy: number; bytesPerIteration: number }> {
  const { applyMessageMap } = await import('@pouw/protocol')
  const { accumulateResidual, thresholdResidual } = await import('@pouw/trainer')
  const thetas = Array.from({ length: n }, () => initialParameters(task))
  const residuals: Float32Array[] = Array.from({ length: n }, () => new Float32Array(thetas[0]!.length))
  let inbox: Uint32Array[][] = Array.from({ length: n }, () => [])
  let bytes = 0
  let iterations = 0
  for (let e = 0; e < epochs; e++) {
    for (let b = 0; b < train.batchCount; b += n) {
      const next: Uint32Array[][] = Array.from({ length: n }, () => [])
      for (let j = 0; j < n && b + j < train.batchCount; j++) {
        for (const map of inbox[j]!) applyMessageMap(thetas[j]!, map, task.tau)
        const records = train.plan.batchRecords(b + j)
        const { x, labels } = loadBatch(dataset, records)
        const g = await engine.gradients(thetas[j]!, x, labels, records.length)
        const th = thresholdResidual(accumulateResidual(residuals[j]!, g.grad, task.learningRate), task.tau)
        residuals[j] = th.residual
        applyMessageMap(thetas[j]!, th.map, task.tau)
        bytes += 4 * th.map.length
        iterations++
        for (let o = 0; o < n; o++) if (o !== j) next[o]!.push(th.map)
      }
      inbox = next
    }
  }
  return { accuracy: await testAccuracy(thetas[0]!), bytesPerIteration: bytes / iterations }
}

async function dense(epochs: number): Promise<number> {
  const theta = initialParameters(task)
  for (let e = 0; e < epochs; e++) {
    for (let b = 0; b < train.batchCount; b++) {
      const records = train.plan.batchRecords(b)
      const { x, labels } = loadBatch(dataset, records)
      const g = await engine.gradients(theta, x, labels, records.length)
      for (let i = 0; i < theta.length; i++) theta[i] = theta[i]! - Math.fround(task.learningRate * g.grad[i]!)
    }
  }
  return testAccuracy(theta)
}

async function testAccuracy(theta: Float32Array): Promise<number> {
  const { x, labels } = loadBatch(dataset, train.plan.testRecords)
  return (await engine.evaluate(theta, x, labels, train.plan.testRecords.length)).accuracy
}

const MINERS = 4
const together4 = await together(MINERS, task.epochs)
const denseAccuracy = await dense(task.epochs)
const denseBytes = 4 * parameterCount(task)
emit('bytes_vs_dense', together4.bytesPerIteration / denseBytes, 'ratio',
  `bytes one miner sends per iteration (its message map, 4 bytes per entry) ${together4.bytesPerIteration.toFixed(0)} over a dense float32 gradient ${denseBytes}; ${MINERS} miners, tau ${task.tau}, lr ${task.learningRate}, ${task.epochs} epochs; goal <= 0.01 (Strom reached 0.004)`)
emit('accuracy_vs_dense', together4.accuracy - denseAccuracy, 'accuracy points (fraction)',
  `test accuracy of ${MINERS} miners training together with dead reckoning ${together4.accuracy.toFixed(4)} minus dense SGD on one miner ${denseAccuracy.toFixed(4)}, after the same ${task.epochs} epochs of the same ${train.batchCount} batches; ${train.plan.testRecords.length} test records; goal within 0.01`)
