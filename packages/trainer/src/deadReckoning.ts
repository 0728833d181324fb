import { MessageMap, SIGN_BIT } from '@pouw/protocol'

/**
 * Steps 5-15 of Algorithm 1 (paper 003), exact on the CPU:
 *   r' = r + fround(lr * g)
 *   for each i: r'_i > +tau  -> entry (1, i), Delta_i = +tau, r''_i = r'_i - tau
 *               r'_i < -tau  -> entry (0, i), Delta_i = -tau, r''_i = r'_i + tau
 * Returns the message map and the final residual r''. `g` is the raw
 * gradient; the learning rate is folded in here so tau is in parameter units.
 */
export function accumulateResidual(residual: Float32Array, grad: Float32Array, learningRate: number): Float32Array {
  const r = new Float32Array(residual.length)
  for (let i = 0; i < r.length; i++) r[i] = residual[i]! + Math.fround(learningRate * grad[i]!)
  return r
}

export function thresholdResidual(rPrime: Float32Array, tau: number): { map: MessageMap; residual: Float32Array } {
  const entries: number[] = []
  const r = new Float32Array(rPrime)
  for (let i = 0; i < r.length; i++) {
    const v = r[i]!
    if (v > tau) { entries.push((SIGN_BIT | i) >>> 0); r[i] = v - tau }
    else if (v < -tau) { entries.push(i); r[i] = v + tau }
  }
  return { map: Uint32Array.from(entries), residual: r }
}

/**
 * Compare a claimed message map with a recomputed residual r', allowing a
 * narrow band around tau (../shared/VERIFICATION-NOTES.md): an entry whose
 * |r'_i| lies within `band` of tau may go either way; outside the band the
 * claim must match exactly. Returns the counts; the caller applies the cap.
 */
export function compareMessageMap(claimed: MessageMap, rPrime: Float32Array, tau: number, band: number): { outside: number; inBand: number; firstOutside: number } {
  let outside = 0
  let inBand = 0
  let firstOutside = -1
  let k = 0
  for (let i = 0; i < rPrime.length; i++) {
    let claim = 0
    if (k < claimed.length && (claimed[k]! & 0x7fff_ffff) === i) { claim = (claimed[k]! & SIGN_BIT) !== 0 ? 1 : -1; k++ }
    const v = rPrime[i]!
    const expected = v > tau ? 1 : v < -tau ? -1 : 0
    if (claim === expected) continue
    // rounding can only move an entry between "sent" and "not sent"; a claim of the opposite sign never
    if (claim !== -expected && Math.abs(Math.abs(v) - tau) <= band) inBand++
    else { outside++; if (firstOutside < 0) firstOutside = i }
  }
  return { outside, inBand, firstOutside }
}
