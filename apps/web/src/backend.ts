/// <reference lib="webworker" />
import type * as tfType from '@tensorflow/tfjs'
import { netShapes, type NetSpec } from '@pouw/protocol'
import { probeWebGpu } from './webgpu'
import { createTfEngine, type BackendChoice, type BackendMeasurement } from '@pouw/trainer'

/** Training samples per second of `backend` on a synthetic batch of the task's shape. */
async function measure(tf: typeof tfType, backend: string, net: NetSpec, batchSize: number, budgetMs: number): Promise<BackendMeasurement> {
  try {
    if (!(await tf.setBackend(backend))) return { backend, samplesPerSec: null, note: 'failed to initialise' }
    await tf.ready()
    const engine = createTfEngine(tf, net)
    const { parameterCount, features, classes } = netShapes(net)
    const theta = new Float32Array(parameterCount).map((_, i) => ((i * 7919) % 1000) / 50_000 - 0.01)
    const x = new Float32Array(batchSize * features).map((_, i) => (i % 255) / 255)
    const labels = new Uint8Array(batchSize).map((_, i) => i % classes)
    await engine.gradients(theta, x, labels, batchSize, 1) // warm-up: shader compilation, allocation
    let steps = 0
    const t0 = performance.now()
    while (steps < 3 || (performance.now() - t0 < budgetMs && steps < 20)) {
      await engine.gradients(theta, x, labels, batchSize, 1)
      steps++
    }
    return { backend, samplesPerSec: Math.round((steps * batchSize * 1000) / (performance.now() - t0)) }
  } catch (e) {
    return { backend, samplesPerSec: null, note: (e as Error).message.slice(0, 120) }
  }
}

/**
 * Pick the backend to train on: WebGPU when the adapter is a real GPU;
 * otherwise the fastest of wasm, webgl and cpu by a short measurement
 * (without a GPU, WebGPU's SwiftShader fallback is some 20 times slower than
 * wasm, so it is not even tried). Leaves tfjs set to the chosen backend.
 */
export async function chooseBackend(tf: typeof tfType, net: NetSpec, batchSize: number, forced?: string): Promise<BackendChoice> {
  if (forced) {
    const m = await measure(tf, forced, net, batchSize, 300)
    if (m.samplesPerSec === null) throw new Error(`backend ${forced} unavailable: ${m.note}`)
    return { name: forced, reason: `forced by configuration (${m.samplesPerSec} samples/s)`, measurements: [m] }
  }
  const gpu = await probeWebGpu()
  const measurements: BackendMeasurement[] = []
  if (gpu?.real) {
    const m = await measure(tf, 'webgpu', net, batchSize, 600)
    measurements.push(m)
    if (m.samplesPerSec !== null) return { name: 'webgpu', reason: `real GPU adapter (${gpu.label})`, measurements }
  } else {
    measurements.push({ backend: 'webgpu', samplesPerSec: null, note: gpu ? `software fallback adapter (${gpu.label}), not used` : 'no WebGPU adapter' })
  }
  for (const b of ['wasm', 'webgl', 'cpu']) measurements.push(await measure(tf, b, net, batchSize, b === 'cpu' ? 300 : 600))
  const best = measurements.filter((m) => m.samplesPerSec !== null).sort((a, b) => b.samplesPerSec! - a.samplesPerSec!)[0]
  if (!best) throw new Error('no tfjs backend could train here')
  await tf.setBackend(best.backend)
  const others = measurements.filter((m) => m !== best && m.samplesPerSec !== null).map((m) => `${m.backend} ${m.samplesPerSec}`).join(', ')
  const why = gpu?.real ? 'WebGPU failed' : gpu ? 'the WebGPU adapter is a software fallback' : 'no WebGPU adapter'
  return { name: best.backend, reason: `${why}; fastest measured: ${best.backend} ${best.samplesPerSec} samples/s (${others})`, measurements }
}
