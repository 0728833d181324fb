import type { PouwError } from '@pouw/protocol'
import { Gunzip, Unzlib, gunzipSync, unzlibSync } from 'fflate'
import { datasetError } from './errors.js'

const STEP = 4096 // compressed bytes per push: at most ~4 MiB of output between two size checks
/** below these, one call into a fixed buffer of cap + 1 bytes is cheaper than streaming (no 128 KiB buffer per call) */
const SMALL_INPUT = 64 * 1024
const SMALL_CAP = 4 * 1024 * 1024

/**
 * Inflates a gzip or zlib stream and stops as soon as the output passes
 * `cap` bytes, so a small file that inflates to gigabytes (a "bomb") costs
 * at most `cap` plus one step. A stream that does not decode is DATASET_CORRUPT.
 * Small inputs with a small cap (a PNG's image data) inflate in one call into
 * a buffer of cap + 1 bytes, which fflate never writes past: filling it means
 * the stream holds more than `cap`.
 */
export function inflateCapped(data: Uint8Array, kind: 'gzip' | 'zlib', cap: number, what: string, tooLarge: (bytes: number) => PouwError): Uint8Array {
  if (data.length <= SMALL_INPUT && cap <= SMALL_CAP) {
    let out: Uint8Array
    try {
      const opts = { out: new Uint8Array(cap + 1) }
      out = kind === 'gzip' ? gunzipSync(data, opts) : unzlibSync(data, opts)
    } catch (e) {
      if (e instanceof RangeError) throw tooLarge(cap + 1) // a stored block larger than the buffer
      throw datasetError('CORRUPT', `${what}: the ${kind} data does not decode (${(e as Error).message})`, { path: what })
    }
    if (out.length > cap) throw tooLarge(out.length)
    return out
  }
  const chunks: Uint8Array[] = []
  let total = 0
  let over = false
  const onData = (chunk: Uint8Array): void => {
    total += chunk.length
    if (total > cap) over = true
    else chunks.push(chunk)
  }
  const stream = kind === 'gzip' ? new Gunzip(onData) : new Unzlib(onData)
  try {
    for (let i = 0; i < data.length && !over; i += STEP) stream.push(data.subarray(i, i + STEP), i + STEP >= data.length)
    if (data.length === 0) stream.push(data, true)
  } catch (e) {
    throw datasetError('CORRUPT', `${what}: the ${kind} data does not decode (${(e as Error).message})`, { path: what })
  }
  if (over) throw tooLarge(total)
  if (chunks.length === 1) return chunks[0]!
  const out = new Uint8Array(total)
  let o = 0
  for (const c of chunks) { out.set(c, o); o += c.length }
  return out
}

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b
}
