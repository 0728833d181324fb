import { TAGS, concatBytes, taggedHash, taskHash, toHex, type TaskSpec } from '@pouw/protocol'
import { assignBatches, type AssignmentParams } from './data/assignment.js'
import { fragmentRanges, planData, type DataPlan } from './data/plan.js'
import { loadBatch } from './batches.js'
import type { Dataset } from './mnist.js'

/**
 * The seed of a task's data preparation and assignment (paper 003 §4.2.2):
 * derived from the task-definition block's hash, so that nobody can choose
 * the train/test split or the batch order before the task is on chain.
 */
export function taskSeed(taskDefinitionBlockHash: Uint8Array, task: TaskSpec): Uint8Array {
  return taggedHash(TAGS.seed, concatBytes(taskDefinitionBlockHash, taskHash(task)))
}

export function assignmentParams(task: TaskSpec): AssignmentParams {
  return { method: task.assignment, kappa: task.kappa, loadFactorPermille: task.loadFactorPermille }
}

/** The task's data plan under `seed` (no data needed): which fragments train and test, and the batches. */
export function taskPlan(task: TaskSpec, seed: Uint8Array): DataPlan {
  return planData({
    recordCount: task.recordCount, fragmentCount: task.fragmentHashes.length,
    trainPermille: task.trainPermille, valPermille: task.valPermille, batchSize: task.batchSize,
  }, seed)
}

/**
 * A task with its data: the plan (fragments, train/validation/test split,
 * mini-batches) and the per-epoch assignment of batches to miners. `data` is
 * the whole dataset D, records in fragment order (a miner that has only some
 * fragments may leave the others' records zero: it only reads its batches').
 */
export class TaskData {
  readonly plan: DataPlan
  readonly params: AssignmentParams
  private cache = new Map<string, Map<string, number[]>>()

  constructor(readonly task: TaskSpec, readonly data: Dataset, readonly seed: Uint8Array) {
    this.plan = taskPlan(task, seed)
    this.params = assignmentParams(task)
  }

  get batchCount(): number { return this.plan.batchCount }

  private test: ReturnType<typeof loadBatch> | undefined
  /** The test split's features and labels, loaded once (an evaluator scores every model of every round on it). */
  get testBatch(): ReturnType<typeof loadBatch> {
    return this.test ??= loadBatch(this.data, this.plan.testRecords)
  }

  /** Every miner's batches for the epoch, in processing order (cached: a verifier asks often). */
  assignment(epoch: number, miners: readonly Uint8Array[]): Map<string, number[]> {
    const key = `${epoch}:${miners.map(toHex).sort().join(',')}`
    let a = this.cache.get(key)
    if (a === undefined) {
      a = assignBatches(this.params, this.seed, miners, this.plan.batchCount, epoch)
      if (this.cache.size > 64) this.cache.clear()
      this.cache.set(key, a)
    }
    return a
  }
}

/** The fragment ranges of a task's dataset. */
export function taskFragments(task: TaskSpec): ReturnType<typeof fragmentRanges> {
  return fragmentRanges(task.recordCount, task.fragmentHashes.length)
}
