import { TaskSpec, fromHex } from '@pouw/protocol'
import { Dataset, datasetHash } from './mnist.js'

/**
 * The built-in task: the paper prototype's MLP 784-128-64-10 on MNIST with
 * SGD. tau and the learning rate were chosen by measurement (docs/protocol.md):
 * with lr 0.1 and tau 0.001 the map carries about 1% of the parameters per
 * iteration while the loss falls as fast as plain SGD's.
 */
export const MNIST_TASK_ID = fromHex('6d6e6973742d6d6c702d763100000001')

export function createMnistTask(train: Dataset, overrides: Partial<TaskSpec> = {}): TaskSpec {
  return {
    taskId: MNIST_TASK_ID,
    model: 'mlp',
    layers: [train.features, 128, 64, 10],
    initSeed: 20201,
    tau: Math.fround(0.001),
    learningRate: Math.fround(0.1),
    batchSize: 64,
    commitLead: 2,
    noncesBatchDiv: 4096,
    noncesModelDiv: 1024,
    datasetHash: datasetHash(train),
    trainSize: train.count,
    bandPpm: 1000,
    maxBandDisagreements: 8,
    ...overrides,
  }
}
