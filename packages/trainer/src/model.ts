import { TaskSpec, parameterCount } from '@pouw/protocol'
import { splitMix32 } from './prng.js'

/**
 * The MLP's parameters live in one flat Float32Array, layer by layer:
 * W_l (in x out, row-major) then b_l (out). This is the canonical layout that
 * message-map indices, hashes and nonces refer to.
 */
export interface LayerSlice { inSize: number; outSize: number; wOffset: number; bOffset: number }

export function layerSlices(layers: number[]): LayerSlice[] {
  const out: LayerSlice[] = []
  let o = 0
  for (let l = 0; l + 1 < layers.length; l++) {
    const inSize = layers[l]!
    const outSize = layers[l + 1]!
    out.push({ inSize, outSize, wOffset: o, bOffset: o + inSize * outSize })
    o += inSize * outSize + outSize
  }
  return out
}

/**
 * Deterministic Glorot-uniform initialisation from the task's seed, biases
 * zero. Only integer PRNG output, one multiply, Math.sqrt (correctly rounded
 * by the ECMAScript spec) and a float32 store: identical on every engine.
 */
export function initialParameters(task: TaskSpec): Float32Array {
  const theta = new Float32Array(parameterCount(task.layers))
  const next = splitMix32(task.initSeed)
  for (const s of layerSlices(task.layers)) {
    const limit = Math.sqrt(6 / (s.inSize + s.outSize))
    for (let i = 0; i < s.inSize * s.outSize; i++) {
      theta[s.wOffset + i] = (next() / 0x1_0000_0000 * 2 - 1) * limit
    }
  }
  return theta
}
