import { netShapes, type TaskSpec } from '@pouw/protocol'
import { splitMix32 } from './prng.js'

/**
 * The model's parameters live in one flat Float32Array, layer by layer, in
 * the order netShapes (protocol model.ts) lays out: the canonical layout that
 * message-map indices, hashes, nonces and the exported weights refer to.
 */

/**
 * Deterministic initialisation from the task's seed: kernels Glorot-uniform
 * (fan in and out as Keras counts them: the receptive field times the input
 * or output channels), biases and beta zero, gamma and the moving variance
 * one. Only integer PRNG output, one multiply, Math.sqrt (correctly rounded
 * by the ECMAScript spec) and a float32 store: identical on every engine.
 */
export function initialParameters(task: TaskSpec): Float32Array {
  const { params, parameterCount } = netShapes(task.net)
  const theta = new Float32Array(parameterCount)
  const next = splitMix32(task.initSeed)
  for (const p of params) {
    if (p.name === 'kernel') {
      const [inC, outC] = p.shape.slice(-2) as [number, number]
      const receptive = p.size / (inC * outC)
      const limit = Math.sqrt(6 / (receptive * (inC + outC)))
      for (let i = 0; i < p.size; i++) theta[p.offset + i] = (next() / 0x1_0000_0000 * 2 - 1) * limit
    } else if (p.name === 'gamma' || p.name === 'moving_variance') {
      theta.fill(1, p.offset, p.offset + p.size)
    }
  }
  return theta
}

/**
 * Why joint training (dead reckoning, mining and the verifiers' re-run of an
 * iteration) cannot take the task, or undefined when it can: it moves every
 * parameter by θ ← θ − η g and re-runs a step from the step's inputs alone, so
 * it takes plain SGD and no dropout mask or batch-norm moment.
 */
export function jointTrainingRefusal(task: TaskSpec): string | undefined {
  if (task.optimizer.kind !== 'sgd') return `joint training takes plain SGD, not ${task.optimizer.kind}`
  const l = task.net.layers.find((x) => x.kind === 'dropout' || x.kind === 'batchNorm')
  return l !== undefined ? `joint training takes no ${l.kind} layer` : undefined
}
