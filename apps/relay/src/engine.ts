import * as tf from '@tensorflow/tfjs'
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm'
import { createRequire } from 'node:module'
import path from 'node:path'
import { createTfEngine, type GradientEngine } from '@pouw/trainer'

const require = createRequire(import.meta.url)

/**
 * The verifier's gradient engine: tfjs's wasm backend in Node, which gives
 * bitwise the same gradients as a tab's wasm backend
 * (../shared/VERIFICATION-NOTES.md); 'cpu' on request.
 */
export async function createNodeEngine(layers: number[], backend: 'wasm' | 'cpu' = 'wasm'): Promise<GradientEngine> {
  if (backend === 'wasm') setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')) + '/dist/')
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs backend ${backend} failed to initialise`)
  await tf.ready()
  return createTfEngine(tf, layers)
}
