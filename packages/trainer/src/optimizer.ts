import { BATCH_NORM_MOMENTUM, netShapes, type TaskSpec } from '@pouw/protocol'

/**
 * The task's optimiser (TaskSpec.optimizer) over θ in canonical layout, on
 * the CPU: every step is IEEE double arithmetic (and Math.sqrt, correctly
 * rounded) stored to float32, so every engine takes the same step from the
 * same gradient. Bias corrections multiply β^t up step by step rather than
 * call Math.pow, which the ECMAScript spec leaves approximate.
 */
export interface Optimizer {
  /** One step along `grad`; then each batch-norm moment moves towards the batch's (`moments`, the layout of θ's non-trained values). */
  step(theta: Float32Array, grad: Float32Array, moments: Float32Array): void
}

export function createOptimizer(task: TaskSpec): Optimizer {
  const { params, parameterCount: n } = netShapes(task.net)
  const fixed = params.filter((p) => !p.trainable)
  const lr = Math.fround(task.learningRate)
  const o = task.optimizer
  const moveMoments = (theta: Float32Array, moments: Float32Array): void => {
    let j = 0
    for (const p of fixed) {
      for (let i = p.offset; i < p.offset + p.size; i++) theta[i] = BATCH_NORM_MOMENTUM * theta[i]! + (1 - BATCH_NORM_MOMENTUM) * moments[j++]!
    }
  }
  switch (o.kind) {
    case 'sgd':
      return {
        step(theta, grad, moments) {
          for (let i = 0; i < n; i++) theta[i] = theta[i]! - lr * grad[i]!
          moveMoments(theta, moments)
        },
      }
    case 'momentum': {
      const v = new Float32Array(n)
      const mu = Math.fround(o.momentum)
      return {
        step(theta, grad, moments) {
          for (let i = 0; i < n; i++) {
            v[i] = mu * v[i]! + grad[i]!
            theta[i] = theta[i]! - lr * v[i]!
          }
          moveMoments(theta, moments)
        },
      }
    }
    case 'adam': {
      const m = new Float32Array(n)
      const v = new Float32Array(n)
      const [b1, b2, eps] = [Math.fround(o.beta1), Math.fround(o.beta2), Math.fround(o.epsilon)]
      let b1t = 1
      let b2t = 1
      return {
        step(theta, grad, moments) {
          b1t *= b1
          b2t *= b2
          for (let i = 0; i < n; i++) {
            const g = grad[i]!
            m[i] = b1 * m[i]! + (1 - b1) * g
            v[i] = b2 * v[i]! + (1 - b2) * g * g
            theta[i] = theta[i]! - (lr * (m[i]! / (1 - b1t))) / (Math.sqrt(v[i]! / (1 - b2t)) + eps)
          }
          moveMoments(theta, moments)
        },
      }
    }
  }
}
