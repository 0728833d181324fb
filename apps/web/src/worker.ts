/// <reference lib="webworker" />
/**
 * The training Web Worker: the task's data, the engine and the Miner
 * (Algorithms 1 and 2 of paper 003) behind the typed comlink API of
 * @pouw/trainer's workerApi. No network and no loop here: the page applies
 * epoch records, hands over peers' IT_RES, calls step() and gossips what it
 * returns.
 */
import * as Comlink from 'comlink'
import * as tf from '@tensorflow/tfjs'
import '@tensorflow/tfjs-backend-webgpu'
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm'
import {
  PUBLIC_KEY_SIZE, epochMessageToBytes, fromHex, inputSize, isPouwError, signTaskJoin, taskFromBytes, toHex,
  type KeyPair, type TaskSpec,
} from '@pouw/protocol'
import {
  FAULTS, Miner, TaskData, chainTipFromInfo, createTfEngine, datasetFromFragments, loadBatch,
  type GradientEngine, type StepResult, type TestEvaluation, type TrainerApi, type TrainerInit,
} from '@pouw/trainer'
import { computeNextBits } from '@pouw/ledger'
import { chooseBackend } from './backend.js'
import { checkFragment, fragmentSizes } from './fragments.js'
import { loadMinerKey } from './minerKey.js'

interface State { task: TaskSpec; data: TaskData; engine: GradientEngine; miner: Miner; keys: KeyPair }

let state: State | null = null
let initializing = false

/** Test records per forward pass: bounded memory, and peers' messages get through between chunks. */
const EVAL_CHUNK = 1000

function need(): State {
  if (state === null) throw new Error('the trainer is not initialised: call init() first')
  return state
}

/** A macrotask yield (no 4 ms timer clamp), so comlink calls such as receivePeerMessage() get through. */
const channel = new MessageChannel()
function yieldToEvents(): Promise<void> {
  return new Promise((resolve) => { channel.port1.onmessage = () => resolve(); channel.port2.postMessage(0) })
}

/** startEpoch, step and evaluateTest change or read the miner's state: one at a time. */
let queue: Promise<unknown> = Promise.resolve()
function exclusive<T>(fn: () => Promise<T>): Promise<T> {
  const run = queue.then(fn, fn)
  queue = run.catch(() => {})
  return run
}

const api: TrainerApi = {
  async init(init: TrainerInit) {
    if (state !== null || initializing) throw new Error('the trainer is already initialised')
    initializing = true
    try {
      const task = taskFromBytes(init.taskBytes)
      if (!FAULTS.includes(init.fault)) throw new Error(`unknown fault ${init.fault}`)
      if (init.fragments.length !== task.fragmentHashes.length) {
        throw new Error(`got ${init.fragments.length} fragments, the task has ${task.fragmentHashes.length}`)
      }
      setWasmPaths(init.wasmBaseUrl)
      const sizes = fragmentSizes(task)
      // the page checked the fragments already; this is the boundary where they become training data
      await Promise.all(init.fragments.map((f, i) => checkFragment(task, i, f, sizes)))
      const dataset = datasetFromFragments(init.fragments, inputSize(task))
      if (dataset.count !== task.recordCount) throw new Error(`the fragments hold ${dataset.count} records, the task says ${task.recordCount}`)
      const data = new TaskData(task, dataset, init.seed)
      const [backend, key] = await Promise.all([
        chooseBackend(tf, task.net, task.batchSize, init.backend),
        loadMinerKey(init.persistKey === true),
      ])
      const engine = createTfEngine(tf, task.net)
      const payTo = init.payTo === undefined ? undefined : fromHex(init.payTo)
      if (payTo !== undefined && payTo.length !== PUBLIC_KEY_SIZE) throw new Error(`payTo must be a ${PUBLIC_KEY_SIZE}-byte key, got ${payTo.length} bytes`)
      const difficulty = init.difficulty
      const nextBits = difficulty === undefined ? undefined : (w: readonly { time: number; bits: number }[]) => computeNextBits(w, difficulty)
      const miner = new Miner(data, engine, key.keys, { now: () => Math.floor(Date.now() / 1000), fault: init.fault, payTo, nextBits })
      miner.setTip(chainTipFromInfo(init.tip))
      state = { task, data, engine, miner, keys: key.keys }
      return {
        minerId: toHex(miner.publicKey), backend, paramCount: miner.paramCount, batchCount: data.batchCount,
        testCount: data.plan.testRecords.length, keyPersisted: key.persisted,
      }
    } finally {
      initializing = false
    }
  },

  startEpoch(epoch, minersHex) {
    return exclusive(async () => {
      const { miner } = need()
      if (!Number.isInteger(epoch) || epoch < 0) throw new Error(`epoch must be a non-negative integer, got ${epoch}`)
      const miners = minersHex.map((h) => {
        const m = fromHex(h)
        if (m.length !== PUBLIC_KEY_SIZE) throw new Error(`a miner is a ${PUBLIC_KEY_SIZE}-byte key, got ${m.length} bytes`)
        return m
      })
      miner.startEpoch(epoch, miners)
      const me = toHex(miner.publicKey)
      return { epoch: miner.epoch, batchesLeft: miner.batchesLeft, member: minersHex.some((h) => h.toLowerCase() === me) }
    })
  },

  async receivePeerMessage(bytes) {
    if (state === null) return { accepted: false, code: 'TRAINER_NOT_READY' }
    try {
      return { accepted: await state.miner.receivePeerMessage(bytes) }
    } catch (e) {
      return { accepted: false, code: isPouwError(e) ? e.code : 'TRAINER_ERROR' }
    }
  },

  step() {
    return exclusive(async () => {
      const { miner } = need()
      const t0 = performance.now()
      const r = await miner.step()
      // the IT_RES stays in the miner's slot records, so it is copied, not transferred
      const out: StepResult = {
        iteration: r.iteration, epoch: r.epoch, batchIndex: r.batchIndex, loss: r.loss, accuracy: r.accuracy, mapSize: r.mapSize,
        peersApplied: r.peersApplied, batchesLeft: miner.batchesLeft, ms: performance.now() - t0, itres: r.itres,
      }
      if (r.block === undefined) return out
      const submission = r.block.submission
      out.block = {
        hashHex: toHex(r.block.hash), height: r.block.height, submission, parentHex: toHex(r.block.parent), next: r.block.next,
        reward: r.block.reward, collected: r.block.collected,
      }
      return Comlink.transfer(out, [submission.buffer as ArrayBuffer])
    })
  },

  evaluateTest() {
    return exclusive(async (): Promise<TestEvaluation> => {
      const { data, engine, miner } = need()
      const records = data.plan.testRecords
      const theta = miner.parameters()
      let lossSum = 0
      let correct = 0
      for (let start = 0; start < records.length; start += EVAL_CHUNK) {
        const idx = records.subarray(start, start + EVAL_CHUNK)
        const { x, labels } = loadBatch(data.data, idx)
        const r = await engine.evaluate(theta, x, labels, idx.length)
        lossSum += r.loss * idx.length
        correct += Math.round(r.accuracy * idx.length)
        await yieldToEvents()
      }
      const count = records.length
      return { accuracy: count > 0 ? correct / count : 0, loss: count > 0 ? lossSum / count : 0, count, epoch: miner.epoch, iteration: miner.currentIteration }
    })
  },

  async joinMessage(time) {
    const { task, keys } = need()
    const join = signTaskJoin({ taskId: task.taskId, miner: keys.publicKey, time }, keys.secretKey)
    return epochMessageToBytes({ kind: 'join', ...join })
  },

  setTip(tip) { state?.miner.setTip(chainTipFromInfo(tip)) },
}

Comlink.expose(api)
