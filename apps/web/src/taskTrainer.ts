/**
 * The client-task worker's API (taskWorker.ts), shared by the worker and the
 * page (taskMiner.ts) that drives it through comlink.
 */

export interface ClientTaskJob {
  /** the task hash, hex: its fragments are served at /data/tasks/<task>/<i> */
  task: string
  /** taskToBytes of the definition: the worker checks every fragment against its hashes */
  spec: Uint8Array
  /** the task-definition block's hash, hex: it seeds the data plan (which fragments train) */
  definitionBlockHash: string
  /** where the tfjs wasm binaries are served */
  wasmBaseUrl: string
  /** a backend to use instead of measuring them (the page's ?backend=, as the mining worker takes it) */
  backend?: string
}

export interface ClientTaskProgress {
  stage: 'backend' | 'download' | 'training'
  /** the backend trained on, once chosen */
  backend: string | null
  epoch: number
  epochs: number
  batch: number
  batches: number
  /** the last batch's mean loss and accuracy, once one trained */
  loss: number | null
  accuracy: number | null
}

export interface ClientTaskTrainer {
  /** Downloads the training split, trains the task's model on it and returns its parameters. */
  train(job: ClientTaskJob, onProgress: (p: ClientTaskProgress) => void): Promise<Float32Array>
}
