import * as tf from '@tensorflow/tfjs'
import type { NetSpec } from '@pouw/protocol'
import type { GradientEngine } from '../src/index.js'
import { createNodeEngine } from '../src/node.js'

/**
 * tfjs has one global backend per process. A test that needs engines on two
 * backends at once (a wasm miner and a cpu verifier) wraps each so that it
 * selects its own backend before every gradient call. Safe while gradient
 * calls do not interleave (each is awaited before the next starts).
 */
export async function pinnedEngine(net: NetSpec, backend: 'wasm' | 'cpu'): Promise<GradientEngine> {
  const inner = await createNodeEngine(net, backend)
  const pin = async (): Promise<void> => {
    if (tf.getBackend() !== backend && !(await tf.setBackend(backend))) throw new Error(`tfjs backend ${backend} failed to initialise`)
  }
  return {
    backend: inner.backend,
    async gradients(theta, x, labels, batchSize, dropoutSeed) {
      await pin()
      return inner.gradients(theta, x, labels, batchSize, dropoutSeed)
    },
    async evaluate(theta, x, labels, count) {
      await pin()
      return inner.evaluate(theta, x, labels, count)
    },
  }
}
