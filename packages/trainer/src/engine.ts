import type * as tfc from '@tensorflow/tfjs'
import type { BackendName } from '@pouw/protocol'
import { layerSlices } from './model.js'

/** The result of one backward pass on a batch, read back to the CPU. */
export interface GradientResult {
  grad: Float32Array // dLoss/dtheta, canonical layout
  loss: number // mean softmax cross-entropy on the batch, at the parameters the gradient was taken
  accuracy: number // fraction of the batch classified right, same forward pass
}

/**
 * Computes gradients of the task's loss. The only floating-point work whose
 * result differs across backends; everything around it is exact.
 */
export interface GradientEngine {
  readonly backend: BackendName
  gradients(theta: Float32Array, x: Float32Array, labels: Uint8Array, batchSize: number): Promise<GradientResult>
  /** Forward pass only: mean loss and accuracy over `count` records (test and validation sets). */
  evaluate(theta: Float32Array, x: Float32Array, labels: Uint8Array, count: number): Promise<{ loss: number; accuracy: number }>
}

/**
 * Gradient engine on TensorFlow.js. `tf` is the @tensorflow/tfjs module (it registers the gradients, which tfjs-core alone does not) with the
 * wanted backend already registered and set (worker and Node set it up
 * differently). Parameters are uploaded each call from the exact CPU copy.
 */
export function createTfEngine(tf: typeof tfc, layers: number[]): GradientEngine {
  const slices = layerSlices(layers)
  const classes = layers[layers.length - 1]!
  const backend = tf.getBackend() as BackendName

  const upload = (theta: Float32Array): tfc.Tensor[] => {
    const params: tfc.Tensor[] = []
    for (const s of slices) {
      params.push(tf.tensor2d(theta.subarray(s.wOffset, s.wOffset + s.inSize * s.outSize), [s.inSize, s.outSize]))
      params.push(tf.tensor1d(theta.subarray(s.bOffset, s.bOffset + s.outSize)))
    }
    return params
  }
  const forward = (xs: tfc.Tensor, ps: tfc.Tensor[]): tfc.Tensor => {
    let h: tfc.Tensor = xs
    for (let l = 0; l < slices.length; l++) {
      h = tf.add(tf.matMul(h as tfc.Tensor2D, ps[2 * l] as tfc.Tensor2D), ps[2 * l + 1]!)
      if (l + 1 < slices.length) h = tf.relu(h)
    }
    return h
  }

  return {
    backend,
    async evaluate(theta, x, labels, count) {
      const params = upload(theta)
      const chunk = 2048 // bounded memory for large test sets
      let lossSum = 0
      let correct = 0
      for (let start = 0; start < count; start += chunk) {
        const n = Math.min(chunk, count - start)
        const out = tf.tidy(() => {
          const xs = tf.tensor2d(x.subarray(start * layers[0]!, (start + n) * layers[0]!), [n, layers[0]!])
          const ys = tf.oneHot(tf.tensor1d(Int32Array.from(labels.subarray(start, start + n)), 'int32'), classes)
          const logits = forward(xs, params)
          const loss = tf.mul(tf.losses.softmaxCrossEntropy(ys, logits), n)
          const hits = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), tf.argMax(ys, 1)), 'float32'))
          return tf.stack([loss, hits])
        })
        const [l, c] = (await out.data()) as Float32Array
        out.dispose()
        lossSum += l!
        correct += c!
      }
      tf.dispose(params)
      return { loss: count > 0 ? lossSum / count : 0, accuracy: count > 0 ? correct / count : 0 }
    },
    async gradients(theta, x, labels, batchSize) {
      let logitsKept: tfc.Tensor | undefined
      const params = upload(theta)
      const xs = tf.tensor2d(x, [batchSize, layers[0]!])
      const ys = tf.oneHot(tf.tensor1d(Int32Array.from(labels), 'int32'), classes)
      const lossFn = (...ps: tfc.Tensor[]): tfc.Scalar => {
        const h = forward(xs, ps)
        logitsKept = tf.keep(h)
        return tf.losses.softmaxCrossEntropy(ys, h) as tfc.Scalar
      }
      const { value, grads } = tf.valueAndGrads(lossFn)(params)
      // one read-back for everything: the gradients in canonical layout, then loss and correct count
      const packed = tf.tidy(() => {
        const correct = tf.sum(tf.cast(tf.equal(tf.argMax(logitsKept!, 1), tf.argMax(ys, 1)), 'float32'))
        return tf.concat([...grads.map((g) => tf.reshape(g, [-1])), tf.reshape(value, [1]), tf.reshape(correct, [1])])
      })
      const all = (await packed.data()) as Float32Array
      tf.dispose([...params, xs, ys, value, packed, logitsKept!, ...grads])
      const n = theta.length
      return { grad: all.slice(0, n), loss: all[n]!, accuracy: all[n + 1]! / batchSize }
    },
  }
}
