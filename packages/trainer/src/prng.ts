/**
 * A small deterministic PRNG (SplitMix32) for consensus-relevant randomness
 * that every replica must reproduce bit for bit: weight initialisation and
 * batch permutations. Integer arithmetic only.
 */
export function splitMix32(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
    return (z ^ (z >>> 16)) >>> 0
  }
}

/** Uniform integer in [0, n) without modulo bias. */
export function nextBelow(next: () => number, n: number): number {
  const limit = Math.floor(0x1_0000_0000 / n) * n
  for (;;) {
    const v = next()
    if (v < limit) return v % n
  }
}
