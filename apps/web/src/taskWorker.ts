/// <reference lib="webworker" />
/**
 * The client-task Web Worker: trains a client task that this tab's miner
 * ticket was selected for (paper 003 §4.1), on the task's training split
 * only: the test fragments stay with the relays until the task is charged.
 * trainTask is plain SGD from the task's deterministic initialisation, the
 * same code a Node miner runs (joint training of client tasks is not wired;
 * docs/economics.md). A worker of its own, beside the mining worker, so the
 * shared training keeps its pace; the page signs and posts the result.
 */
import * as Comlink from 'comlink'
import * as tf from '@tensorflow/tfjs'
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm'
import { fromHex, inputSize, taskFromBytes, taskHash, toHex } from '@pouw/protocol'
import { TaskData, createTfEngine, datasetFromFragments, taskPlan, taskSeed, trainTask } from '@pouw/trainer'
import { chooseBackend } from './backend.js'
import { downloadFragments } from './fragments.js'
import type { ClientTaskProgress, ClientTaskTrainer } from './taskTrainer.js'

/** progress reports at most this often: each one is a message to the page */
const PROGRESS_MS = 250

const api: ClientTaskTrainer = {
  async train(job, onProgress) {
    const task = taskFromBytes(job.spec)
    if (toHex(taskHash(task)) !== job.task) throw new Error(`the definition's hash is not task ${job.task}`)
    const seed = taskSeed(fromHex(job.definitionBlockHash), task)
    const progress: ClientTaskProgress = { stage: 'backend', backend: null, epoch: 0, epochs: task.epochs, batch: 0, batches: 0, loss: null, accuracy: null }
    onProgress({ ...progress })
    setWasmPaths(job.wasmBaseUrl)
    // a task that asks for a GPU trains on WebGPU or not at all (the tab joined it only with a real adapter)
    const backend = await chooseBackend(tf, task.net, task.batchSize, job.backend ?? (task.hardware === 'gpu' ? 'webgpu' : undefined))
    const plan = taskPlan(task, seed)
    Object.assign(progress, { stage: 'download', backend: backend.name, batches: plan.batchCount })
    onProgress({ ...progress })
    const fragments = await downloadFragments(task, () => {}, `/data/tasks/${job.task}/`, plan.trainFragments)
    const data = new TaskData(task, datasetFromFragments(fragments, inputSize(task)), seed)
    progress.stage = 'training'
    let last = 0
    const theta = await trainTask(createTfEngine(tf, task.net), data, {
      onBatch: (p) => {
        Object.assign(progress, { epoch: p.epoch, batch: p.batch + 1, loss: p.loss, accuracy: p.accuracy })
        const now = performance.now()
        if (now - last >= PROGRESS_MS) { last = now; onProgress({ ...progress }) }
      },
    })
    onProgress({ ...progress })
    return Comlink.transfer(theta, [theta.buffer as ArrayBuffer])
  },
}

Comlink.expose(api)
