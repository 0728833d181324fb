/**
 * `npm run bench`: prints one JSON object per line,
 * {"name", "value", "unit", "note"}. Ratios are against a baseline measured
 * in the same run on the same machine, so a noisy shared machine moves both.
 */
import * as tf from '@tensorflow/tfjs'
import { bitsFromTarget, generateKeyPair, submissionFromBytes, blockFromBytes, parameterCount, type TaskSpec } from '@pouw/protocol'
import { BatchSchedule, Miner, createMnistTask, loadBatch, verifyProofOfUsefulWork, type Dataset, type GradientEngine } from '@pouw/trainer'
import { createNodeEngine, loadMnist } from '@pouw/trainer/node'

function emit(name: string, value: number, unit: string, note: string): void {
  console.log(JSON.stringify({ name, value: Number(value.toPrecision(4)), unit, note }))
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

/** A plain tfjs training loop: the same MLP, batches and backend, SGD on device, loss read back each step. */
async function bareTfjs(task: TaskSpec, data: Dataset, steps: number): Promise<number> {
  const schedule = new BatchSchedule(task)
  const vars: tf.Variable[] = []
  for (let l = 0; l + 1 < task.layers.length; l++) {
    vars.push(tf.variable(tf.randomUniform([task.layers[l]!, task.layers[l + 1]!], -0.05, 0.05)))
    vars.push(tf.variable(tf.zeros([task.layers[l + 1]!])))
  }
  const opt = tf.train.sgd(task.learningRate)
  const step = async (i: number): Promise<void> => {
    const { x, labels } = loadBatch(data, schedule.indices(i))
    const xs = tf.tensor2d(x, [task.batchSize, task.layers[0]!])
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

async function minerLoop(task: TaskSpec, data: Dataset, engine: GradientEngine, steps: number, bits: number): Promise<{ samplesPerSec: number; iterationMs: number; miner: Miner; blocks: Uint8Array[] }> {
  const miner = new Miner(task, data, engine, generateKeyPair(), { now: () => Math.floor(Date.now() / 1000) })
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

const train = loadMnist('train')
const task = createMnistTask(train)
const engine = await createNodeEngine(task.layers, 'wasm')
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
  `Miner.step loop (the worker's loop: Algorithm 1 + IT_RES signing + Algorithm 2 mining) ${median(ours).toFixed(0)} samples/s over a bare tfjs SGD loop ${median(bare).toFixed(0)} samples/s; same MLP ${task.layers.join('-')}, batch ${task.batchSize}, tfjs wasm backend in Node; median of 3 alternating rounds of ${STEPS} steps; goal >= 0.95`)

const verifyMs: number[] = []
for (const sub of last!.blocks.slice(0, 8)) {
  const s = submissionFromBytes(sub)
  const block = blockFromBytes(s.block)
  const t0 = performance.now()
  await verifyProofOfUsefulWork({ task, data: train, engine }, block, s.evidence)
  verifyMs.push(performance.now() - t0)
}
if (verifyMs.length > 0) {
  emit('verify_vs_iteration', median(verifyMs) / last!.iterationMs, 'ratio',
    `verifying a block (signatures, hashes, commitment, nonce, re-run of the lucky iteration) ${median(verifyMs).toFixed(1)} ms over one training iteration ${last!.iterationMs.toFixed(1)} ms; median of ${verifyMs.length} blocks; ${parameterCount(task.layers)} parameters; wasm in Node`)
}
emit('iteration_ms', last!.iterationMs, 'ms', `mean time of one Miner iteration (batch ${task.batchSize}) in the last round, wasm in Node`)
