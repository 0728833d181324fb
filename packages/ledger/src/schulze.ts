import { PouwError } from '@pouw/protocol'

/** A ballot that is not a full ranking of the candidates (the voter broke a rule). */
export const SCHULZE_BAD_BALLOT = 'LEDGER_BAD_BALLOT'

/** Most candidates `schulze` accepts: a slot holds at most 512 messages. */
export const MAX_SCHULZE_CANDIDATES = 4096

/**
 * The Schulze method (M. Schulze, "A new monotonic, clone-independent,
 * reversal symmetric, and Condorcet-consistent single-winner election
 * method", 2011), as a total order of all candidates.
 *
 * `ballots[v]` is a full ranking: every candidate id 0..candidates-1 exactly
 * once, most preferred first. Steps:
 *   1. d[x][y] = number of ballots that rank x above y;
 *   2. p[x][y] = d[x][y] if d[x][y] > d[y][x], else 0, then the strongest
 *      (widest) paths by Floyd-Warshall: p[y][z] = max(p[y][z], min(p[y][x], p[x][z]));
 *   3. x beats y when p[x][y] > p[y][x]. This relation is a strict partial
 *      order (Schulze 2011, §4.1), so the result is its linear extension that
 *      repeatedly takes, among the candidates no remaining candidate beats,
 *      the one with the lowest id.
 *
 * Tie-break: the lowest candidate id. Callers pass ids that are positions in
 * the leader's proposal, so ties keep the leader's receipt order.
 *
 * O(c³) time for the widest paths (plus O(b·c²) for the matrix), O(c²) memory.
 * Deterministic: integers only, no randomness.
 */
export function schulze(candidates: number, ballots: number[][]): number[] {
  if (!Number.isSafeInteger(candidates) || candidates < 0 || candidates > MAX_SCHULZE_CANDIDATES) {
    throw new PouwError(SCHULZE_BAD_BALLOT, `candidate count ${candidates} is not an integer in 0..${MAX_SCHULZE_CANDIDATES}`)
  }
  const c = candidates
  if (!Array.isArray(ballots)) throw new PouwError(SCHULZE_BAD_BALLOT, 'ballots is not an array')
  if (ballots.length > 0xffff) throw new PouwError(SCHULZE_BAD_BALLOT, `${ballots.length} ballots, at most 65535`)
  // 1. pairwise preferences, d[x * c + y]
  const d = new Int32Array(c * c)
  const pos = new Int32Array(c)
  const seen = new Uint8Array(c)
  ballots.forEach((ballot, v) => {
    if (!Array.isArray(ballot) || ballot.length !== c) {
      throw new PouwError(SCHULZE_BAD_BALLOT, `ballot ${v} ranks ${Array.isArray(ballot) ? ballot.length : 'no'} candidates, expected all ${c}`, { ballot: v })
    }
    seen.fill(0)
    for (let rank = 0; rank < c; rank++) {
      const x = ballot[rank]
      if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x >= c) {
        throw new PouwError(SCHULZE_BAD_BALLOT, `ballot ${v}: entry ${rank} is ${String(x)}, expected a candidate id in 0..${c - 1}`, { ballot: v })
      }
      if (seen[x] === 1) throw new PouwError(SCHULZE_BAD_BALLOT, `ballot ${v}: candidate ${x} ranked twice`, { ballot: v })
      seen[x] = 1
      pos[x] = rank
    }
    for (let x = 0; x < c; x++) {
      const px = pos[x]!
      const row = x * c
      for (let y = 0; y < c; y++) if (px < pos[y]!) d[row + y]++
    }
  })
  // 2. strongest paths
  const p = new Int32Array(c * c)
  for (let x = 0; x < c; x++) {
    for (let y = 0; y < c; y++) {
      if (x !== y && d[x * c + y]! > d[y * c + x]!) p[x * c + y] = d[x * c + y]!
    }
  }
  // The diagonal may pick up values here; it never changes an off-diagonal
  // entry (a path through z = x or back to y is no wider) and is never read below.
  for (let x = 0; x < c; x++) {
    const rowX = p.subarray(x * c, x * c + c)
    for (let y = 0; y < c; y++) {
      if (y === x) continue
      const pyx = p[y * c + x]!
      if (pyx === 0) continue // min(0, ·) never improves a path
      const rowY = p.subarray(y * c, y * c + c)
      for (let z = 0; z < c; z++) {
        const pxz = rowX[z]!
        const w = pyx < pxz ? pyx : pxz
        if (w > rowY[z]!) rowY[z] = w
      }
    }
  }
  // 3. linear extension of "x beats y", lowest id first among the unbeaten
  const beatenBy = new Int32Array(c) // how many remaining candidates beat each one
  for (let x = 0; x < c; x++) {
    for (let y = 0; y < c; y++) if (x !== y && p[x * c + y]! > p[y * c + x]!) beatenBy[y]++
  }
  const done = new Uint8Array(c)
  const order: number[] = []
  for (let k = 0; k < c; k++) {
    let next = -1
    for (let x = 0; x < c; x++) if (done[x] === 0 && beatenBy[x] === 0) { next = x; break }
    // the relation is transitive and irreflexive, so some remaining candidate is unbeaten
    if (next < 0) throw new Error('internal: Schulze relation has a cycle')
    done[next] = 1
    order.push(next)
    for (let y = 0; y < c; y++) if (y !== next && p[next * c + y]! > p[y * c + next]!) beatenBy[y]--
  }
  return order
}
