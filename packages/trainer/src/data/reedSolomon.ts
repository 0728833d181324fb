import { assertIntIn, dataPrepError } from './plan.js'

/**
 * (k + h) Reed-Solomon storage for supervisors (paper §4.2.3): D(tr) is cut
 * into k data shards and h parity shards of equal size; any k of the k + h
 * rebuild it. Systematic code over GF(2^8) (polynomial x^8+x^4+x^3+x^2+1,
 * 0x11d, generator 2): the encoding matrix is [I_k ; C] with C the h×k Cauchy
 * matrix C[i][j] = 1 / (x_i + y_j), x_i = k + i, y_j = j. Every square
 * submatrix of a Cauchy matrix is invertible, so every k rows of [I_k ; C]
 * are, which is the MDS property.
 *
 * Erasure code only: it does not find which shard is wrong. Shards should be
 * checked against published hashes before decoding; when more than k shards
 * are given, rsDecode checks the extra ones (and the zero padding) and
 * throws DATA_RS_INCONSISTENT if they disagree.
 */

const EXP = new Uint8Array(512)
const LOG = new Uint8Array(256)
{
  let x = 1
  for (let i = 0; i < 255; i++) {
    EXP[i] = x
    LOG[x] = i
    x <<= 1
    if (x & 0x100) x ^= 0x11d
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255]!
}

export function gfMul(a: number, b: number): number {
  if (a === 0 || b === 0) return 0
  return EXP[LOG[a]! + LOG[b]!]!
}

export function gfInv(a: number): number {
  if (a === 0) throw new Error('internal: GF(256) inverse of 0')
  return EXP[255 - LOG[a]!]!
}

/** The 256-entry table x -> c·x, so that a shard is multiplied by c with one lookup per byte. */
function mulTable(c: number): Uint8Array {
  const t = new Uint8Array(256)
  if (c === 0) return t
  const lc = LOG[c]!
  for (let x = 1; x < 256; x++) t[x] = EXP[lc + LOG[x]!]!
  return t
}

/** dst ^= c · src, bytewise */
function mulAdd(dst: Uint8Array, src: Uint8Array, c: number): void {
  if (c === 0) return
  if (c === 1) { for (let i = 0; i < dst.length; i++) dst[i]! ^= src[i]!; return }
  const t = mulTable(c)
  for (let i = 0; i < dst.length; i++) dst[i]! ^= t[src[i]!]!
}

export const MAX_SHARDS = 255

function assertKH(k: number, h: number): void {
  assertIntIn(k, 1, MAX_SHARDS, 'Reed-Solomon k')
  assertIntIn(h, 0, MAX_SHARDS - k, `Reed-Solomon h (k + h <= ${MAX_SHARDS})`)
}

/** Row r of the (k + h) × k encoding matrix. */
function encodingRow(r: number, k: number): Uint8Array {
  const row = new Uint8Array(k)
  if (r < k) row[r] = 1
  else for (let j = 0; j < k; j++) row[j] = gfInv(r ^ j) // x_i = k + i = r, y_j = j; r ≠ j as r >= k
  return row
}

/** Bytes per shard for `length` bytes of data in k shards. */
export function rsShardSize(length: number, k: number): number {
  return Math.ceil(length / k)
}

/**
 * Encode `data` into k + h shards of ceil(|data| / k) bytes: shards 0..k-1
 * are the data (the last one zero-padded), shards k..k+h-1 parity.
 */
export function rsEncode(data: Uint8Array, k: number, h: number): Uint8Array[] {
  assertKH(k, h)
  const size = rsShardSize(data.length, k)
  const shards: Uint8Array[] = []
  for (let j = 0; j < k; j++) {
    const s = new Uint8Array(size)
    s.set(data.subarray(Math.min(data.length, j * size), Math.min(data.length, (j + 1) * size)))
    shards.push(s)
  }
  for (let r = k; r < k + h; r++) shards.push(parity(shards, r, k, size))
  return shards
}

function parity(dataShards: readonly Uint8Array[], r: number, k: number, size: number): Uint8Array {
  const row = encodingRow(r, k)
  const p = new Uint8Array(size)
  for (let j = 0; j < k; j++) mulAdd(p, dataShards[j]!, row[j]!)
  return p
}

/** Inverse of a k×k matrix over GF(256) by Gauss-Jordan; rows given as arrays. */
function invert(m: Uint8Array[]): Uint8Array[] {
  const k = m.length
  const a = m.map((r) => r.slice())
  const inv = Array.from({ length: k }, (_, i) => { const r = new Uint8Array(k); r[i] = 1; return r })
  for (let col = 0; col < k; col++) {
    let piv = col
    while (piv < k && a[piv]![col] === 0) piv++
    if (piv === k) throw new Error('internal: singular Reed-Solomon submatrix')
    if (piv !== col) {
      const ta = a[piv]!; a[piv] = a[col]!; a[col] = ta
      const ti = inv[piv]!; inv[piv] = inv[col]!; inv[col] = ti
    }
    const s = gfInv(a[col]![col]!)
    for (let j = 0; j < k; j++) { a[col]![j] = gfMul(a[col]![j]!, s); inv[col]![j] = gfMul(inv[col]![j]!, s) }
    for (let i = 0; i < k; i++) {
      const f = a[i]![col]!
      if (i === col || f === 0) continue
      for (let j = 0; j < k; j++) { a[i]![j]! ^= gfMul(f, a[col]![j]!); inv[i]![j]! ^= gfMul(f, inv[col]![j]!) }
    }
  }
  return inv
}

export interface RsDecodeOptions {
  /** with more than k shards, check the unused ones and the padding (default true) */
  verify?: boolean
}

/**
 * Rebuild the `length` bytes from any k of the k + h shards (missing ones
 * undefined). Throws DATA_RS_TOO_FEW_SHARDS with fewer than k, DATA_RS_BAD_SHARD
 * when the shard list or sizes do not fit (k, h, length), and
 * DATA_RS_INCONSISTENT when extra shards or the padding disagree.
 */
export function rsDecode(shards: readonly (Uint8Array | undefined)[], k: number, h: number, length: number, opts: RsDecodeOptions = {}): Uint8Array {
  assertKH(k, h)
  assertIntIn(length, 0, 0x7fff_ffff, 'Reed-Solomon data length')
  if (shards.length !== k + h) {
    throw dataPrepError('RS_BAD_SHARD', `expected ${k + h} shard slots (k = ${k}, h = ${h}), got ${shards.length}`)
  }
  const size = rsShardSize(length, k)
  const present: number[] = []
  shards.forEach((s, i) => {
    if (s === undefined) return
    if (s.length !== size) throw dataPrepError('RS_BAD_SHARD', `shard ${i} is ${s.length} bytes, expected ${size} for ${length} bytes in ${k} shards`, { index: i })
    present.push(i)
  })
  if (present.length < k) {
    throw dataPrepError('RS_TOO_FEW_SHARDS', `${present.length} of ${k + h} shards, at least ${k} needed`, { present: present.length, k, h })
  }

  // The k lowest-index shards present: all data shards that are there, then parity.
  const used = present.slice(0, k)
  const data: Uint8Array[] = new Array<Uint8Array>(k)
  for (const i of used) if (i < k) data[i] = shards[i]!
  const missing: number[] = []
  for (let j = 0; j < k; j++) if (data[j] === undefined) missing.push(j)
  if (missing.length > 0) {
    const inv = invert(used.map((r) => encodingRow(r, k)))
    for (const j of missing) {
      const d = new Uint8Array(size)
      const row = inv[j]!
      used.forEach((r, c) => mulAdd(d, shards[r]!, row[c]!))
      data[j] = d
    }
  }

  const out = new Uint8Array(length)
  for (let j = 0; j < k; j++) {
    const start = j * size
    if (start >= length) break
    out.set(data[j]!.subarray(0, Math.min(size, length - start)), start)
  }

  if (opts.verify ?? true) {
    for (let j = 0; j < k; j++) {
      for (let i = Math.max(0, length - j * size); i < size; i++) {
        if (data[j]![i] !== 0) throw dataPrepError('RS_INCONSISTENT', `shard ${j}: padding byte ${i} is not zero`, { index: j })
      }
    }
    for (const r of present.slice(k)) {
      const p = parity(data, r, k, size)
      const s = shards[r]!
      for (let i = 0; i < size; i++) {
        if (p[i] !== s[i]) throw dataPrepError('RS_INCONSISTENT', `shard ${r} disagrees with the other ${k} at byte ${i}`, { index: r, byte: i })
      }
    }
  }
  return out
}

/**
 * (k, h) for |S| supervisors, one shard each: k = max(1, floor(2|S|/3)),
 * h = |S| - k. The paper asks for k ≈ [1/3..2/3]·|S| (redundancy β = (k+h)/k
 * in [1.5, 3]); we take the low-storage end, which still survives the loss
 * of ceil(|S|/3) supervisors, the fault bound the t = 2/3·n threshold
 * signatures already assume. |S| = 1: k = 1, h = 0 (a plain copy);
 * |S| = 2: k = 1, h = 1 (two replicas).
 */
export function rsParamsFor(supervisors: number): { k: number; h: number } {
  assertIntIn(supervisors, 1, MAX_SHARDS, 'supervisor count')
  const k = Math.max(1, Math.floor((2 * supervisors) / 3))
  return { k, h: supervisors - k }
}
