import type * as tfc from '@tensorflow/tfjs'
import { BATCH_NORM_EPSILON, netShapes, type Activation, type BackendName, type NetSpec } from '@pouw/protocol'
import { splitMix32 } from './prng.js'

/** The result of one backward pass on a batch, read back to the CPU. */
export interface GradientResult {
  grad: Float32Array // dLoss/dtheta, canonical layout (zero where a value is not trained by the gradient)
  loss: number // mean loss on the batch, at the parameters the gradient was taken
  accuracy: number // fraction of the batch classified right, same forward pass
  /** the batch's mean and variance at each batch-norm layer, in the layout of θ's non-trained values (empty without one) */
  moments: Float32Array
}

/**
 * Computes gradients of the task's loss. The only floating-point work whose
 * result differs across backends; everything around it is exact.
 */
export interface GradientEngine {
  readonly backend: BackendName
  /** `dropoutSeed` draws the step's dropout masks (needed when the network has dropout). */
  gradients(theta: Float32Array, x: Float32Array, labels: Uint8Array, batchSize: number, dropoutSeed?: number): Promise<GradientResult>
  /** Forward pass only, in inference mode, over `count` records (test and validation sets): mean loss, accuracy, and each record's predicted class. */
  evaluate(theta: Float32Array, x: Float32Array, labels: Uint8Array, count: number): Promise<{ loss: number; accuracy: number; predicted: Uint8Array }>
}

/**
 * The inverted-dropout mask of one layer for one step: each value kept with
 * probability 1 − rate and scaled by 1 / (1 − rate). Drawn on the CPU from
 * integers, so every backend and every replay of the step draws the same.
 */
export function dropoutMask(seed: number, layer: number, size: number, ratePermille: number): Float32Array {
  const next = splitMix32((seed ^ Math.imul(layer + 1, 0x9e3779b9)) >>> 0)
  const keep = Math.fround(1000 / (1000 - ratePermille))
  const threshold = Math.floor((ratePermille * 0x1_0000_0000) / 1000)
  const mask = new Float32Array(size)
  for (let i = 0; i < size; i++) mask[i] = next() >= threshold ? keep : 0
  return mask
}

/** Most values a forward pass over one chunk of records keeps across the layers (64 MiB of float32). */
const EVALUATE_ACTIVATIONS = 1 << 24

/**
 * Gradient engine on TensorFlow.js for the task's network. `tf` is the
 * @tensorflow/tfjs module (it registers the gradients, which tfjs-core alone
 * does not) with the wanted backend already registered and set (worker and
 * Node set it up differently). Parameters are uploaded each call from the
 * exact CPU copy. The ops are the ones TensorFlow.js's layers use, so the
 * exported model (taskRun.ts layersModel) computes what `evaluate` does.
 */
export function createTfEngine(tf: typeof tfc, net: NetSpec): GradientEngine {
  const { params, parameterCount, features, classes, activations } = netShapes(net)
  const backend = tf.getBackend() as BackendName
  const trainable = params.flatMap((p, i) => (p.trainable ? [i] : []))
  const momentCount = params.reduce((s, p) => (p.trainable ? s : s + p.size), 0) // θ's values the batch moments move

  const upload = (theta: Float32Array): tfc.Tensor[] => params.map((p) => tf.tensor(theta.subarray(p.offset, p.offset + p.size), p.shape))
  const activate = (h: tfc.Tensor, a: Activation): tfc.Tensor => {
    switch (a) {
      case 'linear': return h
      case 'relu': return tf.relu(h)
      case 'sigmoid': return tf.sigmoid(h)
      case 'tanh': return tf.tanh(h)
      case 'elu': return tf.elu(h)
    }
  }
  /** Training mode: the step's dropout seed, and where the batch moments go. */
  type Training = { seed: number | undefined; moments: tfc.Tensor[] }
  const forward = (xs: tfc.Tensor, ps: tfc.Tensor[], training?: Training): tfc.Tensor => {
    let h: tfc.Tensor = net.input.length === 3 ? tf.reshape(xs, [-1, ...net.input]) : xs
    let p = 0
    for (const [i, l] of net.layers.entries()) {
      switch (l.kind) {
        case 'dense':
          h = activate(tf.add(tf.matMul(h as tfc.Tensor2D, ps[p] as tfc.Tensor2D), ps[p + 1]!), l.activation)
          p += 2
          break
        case 'conv2d':
          h = activate(tf.add(tf.conv2d(h as tfc.Tensor4D, ps[p] as tfc.Tensor4D, l.stride, l.padding), ps[p + 1]!), l.activation)
          p += 2
          break
        case 'maxPool':
          h = tf.maxPool(h as tfc.Tensor4D, l.size, l.stride, 'valid')
          break
        case 'avgPool':
          h = tf.avgPool(h as tfc.Tensor4D, l.size, l.stride, 'valid')
          break
        case 'flatten':
          h = tf.reshape(h, [h.shape[0]!, -1])
          break
        case 'dropout':
          if (training !== undefined) {
            if (training.seed === undefined) throw new Error('internal: a network with dropout trains with a dropout seed')
            h = tf.mul(h, tf.tensor(dropoutMask(training.seed, i, h.size, l.ratePermille), h.shape))
          }
          break
        case 'batchNorm': {
          const [gamma, beta, mean, variance] = ps.slice(p, p + 4) as tfc.Tensor1D[]
          p += 4
          if (training !== undefined) {
            const m = tf.moments(h, Array.from({ length: h.rank - 1 }, (_, a) => a))
            training.moments.push(tf.keep(m.mean), tf.keep(m.variance))
            h = tf.batchNorm(h, m.mean, m.variance, beta, gamma, BATCH_NORM_EPSILON)
          } else {
            h = tf.batchNorm(h, mean!, variance!, beta, gamma, BATCH_NORM_EPSILON)
          }
          break
        }
      }
    }
    return h
  }
  const lossOf = (ys: tfc.Tensor, logits: tfc.Tensor): tfc.Scalar =>
    (net.loss === 'mse' ? tf.losses.meanSquaredError(ys, tf.softmax(logits)) : tf.losses.softmaxCrossEntropy(ys, logits)) as tfc.Scalar

  return {
    backend,
    async evaluate(theta, x, labels, count) {
      const ps = upload(theta)
      const chunk = Math.max(1, Math.min(2048, Math.floor(EVALUATE_ACTIVATIONS / activations))) // bounded memory for large test sets and large networks
      let lossSum = 0
      let correct = 0
      const predicted = new Uint8Array(count)
      for (let start = 0; start < count; start += chunk) {
        const n = Math.min(chunk, count - start)
        const out = tf.tidy(() => {
          const xs = tf.tensor2d(x.subarray(start * features, (start + n) * features), [n, features])
          const ys = tf.oneHot(tf.tensor1d(Int32Array.from(labels.subarray(start, start + n)), 'int32'), classes)
          const logits = forward(xs, ps)
          const loss = tf.mul(lossOf(ys, logits), n)
          const classOf = tf.argMax(logits, 1)
          const hits = tf.sum(tf.cast(tf.equal(classOf, tf.argMax(ys, 1)), 'float32'))
          return tf.concat([tf.stack([loss, hits]), tf.cast(classOf, 'float32')])
        })
        const values = (await out.data()) as Float32Array
        out.dispose()
        lossSum += values[0]!
        correct += values[1]!
        predicted.set(values.subarray(2), start)
      }
      tf.dispose(ps)
      return { loss: count > 0 ? lossSum / count : 0, accuracy: count > 0 ? correct / count : 0, predicted }
    },
    async gradients(theta, x, labels, batchSize, dropoutSeed) {
      let logitsKept: tfc.Tensor | undefined
      const training: Training = { seed: dropoutSeed, moments: [] }
      const ps = upload(theta)
      const xs = tf.tensor2d(x, [batchSize, features])
      const ys = tf.oneHot(tf.tensor1d(Int32Array.from(labels), 'int32'), classes)
      const lossFn = (...trained: tfc.Tensor[]): tfc.Scalar => {
        const all = [...ps]
        trainable.forEach((p, j) => { all[p] = trained[j]! })
        training.moments.length = 0
        const h = forward(xs, all, training)
        logitsKept = tf.keep(h)
        return lossOf(ys, h)
      }
      const { value, grads } = tf.valueAndGrads(lossFn)(trainable.map((p) => ps[p]!))
      // one read-back for everything: the gradients, loss, correct count, then the batch moments
      const packed = tf.tidy(() => {
        const correct = tf.sum(tf.cast(tf.equal(tf.argMax(logitsKept!, 1), tf.argMax(ys, 1)), 'float32'))
        return tf.concat([...grads.map((g) => tf.reshape(g, [-1])), tf.reshape(value, [1]), tf.reshape(correct, [1]), ...training.moments.map((m) => tf.reshape(m, [-1]))])
      })
      const all = (await packed.data()) as Float32Array
      tf.dispose([...ps, xs, ys, value, packed, logitsKept!, ...grads, ...training.moments])
      const grad = new Float32Array(parameterCount)
      let o = 0
      for (const p of trainable) {
        grad.set(all.subarray(o, o + params[p]!.size), params[p]!.offset)
        o += params[p]!.size
      }
      const loss = all[o]!
      const correct = all[o + 1]!
      return { grad, loss, accuracy: correct / batchSize, moments: all.slice(o + 2, o + 2 + momentCount) }
    },
  }
}
