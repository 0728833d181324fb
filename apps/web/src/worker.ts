/// <reference lib="webworker" />
/**
 * The training Web Worker: Algorithm 1 and 2 of paper 003 in a loop, behind
 * the typed comlink API of @pouw/trainer's workerApi. No network here: the
 * page gossips what the worker produces.
 */
import * as Comlink from 'comlink'
import * as tf from '@tensorflow/tfjs'
import '@tensorflow/tfjs-backend-webgpu'
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm'
import { bytesEqual, fromHex, generateKeyPair, isPouwError, taskFromBytes, toHex, type TaskSpec } from '@pouw/protocol'
import {
  FAULTS, Miner, createTfEngine, datasetFromIdx, datasetHash,
  type ChainTip, type Dataset, type TipInfo, type TrainerApi, type TrainerEvent, type TrainerInit,
} from '@pouw/trainer'
import { chooseBackend } from './backend.js'

let miner: Miner | null = null
let running = false
let emit: (e: TrainerEvent) => void = () => {}

function toChainTip(t: TipInfo): ChainTip {
  return { hash: fromHex(t.hashHex), height: t.height, nextBits: t.nextBits, subsidy: BigInt(t.subsidy) }
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const res = await fetch(url)
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`)
  return new Uint8Array(await res.arrayBuffer())
}

async function loadTrainingData(base: string, task: TaskSpec): Promise<Dataset> {
  const [images, labels] = await Promise.all([fetchBytes(`${base}train-images-idx3-ubyte`), fetchBytes(`${base}train-labels-idx1-ubyte`)])
  const data = datasetFromIdx(images, labels)
  if (!bytesEqual(datasetHash(data), task.datasetHash)) throw new Error('the training data does not match the task\'s dataset hash')
  return data
}

/** A macrotask yield (no 4 ms timer clamp), so comlink calls such as stop() get through between iterations. */
const channel = new MessageChannel()
function yieldToEvents(): Promise<void> {
  return new Promise((resolve) => { channel.port1.onmessage = () => resolve(); channel.port2.postMessage(0) })
}

const api: TrainerApi = {
  async init(init: TrainerInit, onEvent) {
    emit = onEvent
    const task = taskFromBytes(fromHex(init.taskSpecHex))
    if (!FAULTS.includes(init.fault)) throw new Error(`unknown fault ${init.fault}`)
    setWasmPaths(init.wasmBaseUrl)
    const [data, backend] = await Promise.all([
      loadTrainingData(init.dataBaseUrl, task),
      chooseBackend(tf, task.layers, task.batchSize, init.backend),
    ])
    const engine = createTfEngine(tf, task.layers)
    miner = new Miner(task, data, engine, generateKeyPair(), { now: () => Math.floor(Date.now() / 1000), fault: init.fault })
    miner.setTip(toChainTip(init.tip))
    return { minerId: toHex(miner.publicKey), backend, paramCount: miner.paramCount }
  },

  async start() {
    if (!miner || running) return
    running = true
    try {
      while (running) {
        const t0 = performance.now()
        const r = await miner.step()
        const ms = performance.now() - t0
        // the IT_RES stays in the miner's slot records, so it is copied, not transferred
        emit({ type: 'iteration', iteration: r.iteration, epoch: r.epoch, loss: r.loss, accuracy: r.accuracy, mapSize: r.mapSize, ms, itres: r.itres })
        if (r.block) {
          const sub = r.block.submission
          emit(Comlink.transfer({ type: 'block', hashHex: toHex(r.block.hash), height: r.block.height, iteration: r.iteration, submission: sub }, [sub.buffer as ArrayBuffer]))
        }
        await yieldToEvents()
      }
    } catch (e) {
      emit({ type: 'error', code: isPouwError(e) ? e.code : 'TRAINER_ERROR', message: (e as Error).message })
    } finally {
      running = false
    }
  },

  stop() { running = false },

  setTip(tip) { miner?.setTip(toChainTip(tip)) },
}

Comlink.expose(api)
