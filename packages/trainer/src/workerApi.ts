import type { Fault } from './miner.js'

/**
 * The one typed API between the page and its training Web Worker
 * (comlink). The page imports these types only (`import type`).
 */
export interface TipInfo { hashHex: string; height: number; nextBits: number; subsidy: string }

export interface BackendMeasurement { backend: string; samplesPerSec: number | null; note?: string }
export interface BackendChoice { name: string; reason: string; measurements: BackendMeasurement[] }

export interface TrainerInit {
  taskSpecHex: string
  /** where the MNIST IDX files are served, e.g. '/data/mnist/' */
  dataBaseUrl: string
  /** where the tfjs wasm binaries are served, e.g. '/tfjs-wasm/' */
  wasmBaseUrl: string
  fault: Fault
  tip: TipInfo
  /** force a backend instead of measuring (tests, benchmarks) */
  backend?: string
}

export type TrainerEvent =
  | { type: 'iteration'; iteration: number; epoch: number; loss: number; accuracy: number; mapSize: number; ms: number; itres: Uint8Array }
  | { type: 'block'; hashHex: string; height: number; iteration: number; submission: Uint8Array }
  | { type: 'error'; code: string; message: string }

export interface TrainerApi {
  init(init: TrainerInit, onEvent: (e: TrainerEvent) => void): Promise<{ minerId: string; backend: BackendChoice; paramCount: number }>
  /** trains until stop(); resolves when the loop has stopped */
  start(): Promise<void>
  stop(): void
  setTip(tip: TipInfo): void
}
