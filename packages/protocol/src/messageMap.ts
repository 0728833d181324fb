import { protocolError } from './errors.js'

/**
 * The message map of paper 003, Fig. 3: one 4-byte entry per updated
 * parameter; the leftmost bit is 1 for +tau (residual above +tau) and 0 for
 * -tau, the other 31 bits the parameter index. We keep entries as a
 * Uint32Array in strictly increasing index order, which makes the encoding
 * canonical (no duplicates, one order).
 */
export type MessageMap = Uint32Array

export const SIGN_BIT = 0x8000_0000
export const INDEX_MASK = 0x7fff_ffff
export const MAX_INDEX = INDEX_MASK

export function mapEntry(positive: boolean, index: number): number {
  if (!Number.isInteger(index) || index < 0 || index > MAX_INDEX) throw new Error(`internal: index ${index} out of range`)
  return ((positive ? SIGN_BIT : 0) | index) >>> 0
}

export function entryIndex(e: number): number { return e & INDEX_MASK }
export function entryPositive(e: number): boolean { return (e & SIGN_BIT) !== 0 }

/** Throws PROTOCOL_NOT_CANONICAL unless indices strictly increase and stay below paramCount. */
export function assertValidMessageMap(map: MessageMap, paramCount: number, what = 'message map'): void {
  let prev = -1
  for (let i = 0; i < map.length; i++) {
    const idx = entryIndex(map[i]!)
    if (idx <= prev) throw protocolError('NOT_CANONICAL', `${what}: entry ${i} has index ${idx} after ${prev}; indices must strictly increase`)
    if (idx >= paramCount) throw protocolError('BAD_VALUE', `${what}: entry ${i} has index ${idx}, the model has ${paramCount} parameters`)
    prev = idx
  }
}

/** Big-endian bytes of the entries, as they appear on the wire. */
export function messageMapToBytes(map: MessageMap): Uint8Array {
  const out = new Uint8Array(map.length * 4)
  const v = new DataView(out.buffer)
  for (let i = 0; i < map.length; i++) v.setUint32(4 * i, map[i]!)
  return out
}

/**
 * Apply a message map to parameters in place: theta[i] -= +tau or -tau.
 * Float32Array stores round each result to float32, so the outcome is
 * bit-identical on every platform for the same inputs.
 */
export function applyMessageMap(theta: Float32Array, map: MessageMap, tau: number): void {
  for (let i = 0; i < map.length; i++) {
    const e = map[i]!
    const idx = e & INDEX_MASK
    theta[idx] = (e & SIGN_BIT) !== 0 ? theta[idx]! - tau : theta[idx]! + tau
  }
}
