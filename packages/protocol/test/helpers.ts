import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { PROTOCOL_ERRORS, fromHex, isPouwError, toHex } from '../src/index.js'

/** Small deterministic PRNG (mulberry32): tests never use Math.random, so every failure reproduces. */
export class Prng {
  private s: number
  constructor(seed: number) { this.s = seed >>> 0 }

  u32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0
    let t = this.s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }

  /** integer in [0, n) */
  int(n: number): number { return Math.floor((this.u32() / 2 ** 32) * n) }
  bool(): boolean { return (this.u32() & 1) === 1 }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)]! }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff
    return out
  }

  u64(): bigint { return (BigInt(this.u32()) << 32n) | BigInt(this.u32()) }

  /** a finite float32 value of any magnitude (random bits, NaN and infinities redrawn) */
  float32(): number {
    const f = new Float32Array(1)
    const u = new Uint32Array(f.buffer)
    do u[0] = this.u32(); while (!Number.isFinite(f[0]!))
    return f[0]!
  }

  /** a float32 value in [-scale, scale) */
  float32In(scale: number): number { return Math.fround((this.u32() / 2 ** 32 * 2 - 1) * scale) }
}

export const hex = toHex
export const unhex = fromHex
export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

/** Asserts `fn` throws a PouwError with `code` (identified by code, never by instanceof). */
export function throwsCode(fn: () => unknown, code: string, what = ''): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isPouwError(e), `${what}: expected a PouwError, got ${String(e)}`)
    assert.equal(e.code, code, `${what}: ${e.message}`)
    return true
  })
}

const OUR_CODES = new Set<string>(Object.values(PROTOCOL_ERRORS))

/** Runs a decoder on untrusted bytes: returns the value, or null after checking the error is one of ours. */
export function decodeOrOurError<T>(decode: (b: Uint8Array) => T, bytes: Uint8Array, what: string): T | null {
  try {
    return decode(bytes)
  } catch (e) {
    if (!isPouwError(e) || !OUR_CODES.has(e.code)) {
      assert.fail(`${what} threw ${(e as Error)?.name}: ${(e as Error)?.message} on input ${toHex(bytes).slice(0, 200)}`)
    }
    return null
  }
}

export function readVectors<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`./vectors/${name}.json`, import.meta.url), 'utf8')) as T
}

/** bytes with `replacement` written over them at `offset` (a copy) */
export function patch(bytes: Uint8Array, offset: number, replacement: Uint8Array | number[]): Uint8Array {
  const out = bytes.slice()
  out.set(replacement, offset)
  return out
}

export function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  const arrays = parts.map((p) => Uint8Array.from(p))
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0))
  let o = 0
  for (const a of arrays) { out.set(a, o); o += a.length }
  return out
}

export const u16be = (v: number): number[] => [(v >>> 8) & 0xff, v & 0xff]
export const u32be = (v: number): number[] => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]
export const f32be = (v: number): number[] => {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setFloat32(0, v)
  return [...b]
}
