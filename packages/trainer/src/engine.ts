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

  return {
    backend,
    async gradients(theta, x, labels, batchSize) {
      let logitsKept: tfc.Tensor | undefined
      const params: tfc.Tensor[] = []
      for (const s of slices) {
        params.push(tf.tensor2d(theta.subarray(s.wOffset, s.wOffset + s.inSize * s.outSize), [s.inSize, s.outSize]))
        params.push(tf.tensor1d(theta.subarray(s.bOffset, s.bOffset + s.outSize)))
      }
      const xs = tf.tensor2d(x, [batchSize, layers[0]!])
      const ys = tf.oneHot(tf.tensor1d(Int32Array.from(labels), 'int32'), classes)
      const lossFn = (...ps: tfc.Tensor[]): tfc.Scalar => {
        let h: tfc.Tensor = xs
        for (let l = 0; l < slices.length; l++) {
          h = tf.add(tf.matMul(h as tfc.Tensor2D, ps[2 * l] as tfc.Tensor2D), ps[2 * l + 1]!)
          if (l + 1 < slices.length) h = tf.relu(h)
        }
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
