import { protocolError } from './errors.js'

/** Big-endian writer for the canonical encodings. Grows as needed. */
export class Writer {
  private buf = new Uint8Array(256)
  private view = new DataView(this.buf.buffer)
  private len = 0

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.len + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.len))
    this.buf = next
    this.view = new DataView(next.buffer)
  }

  u8(v: number): this { this.ensure(1); this.view.setUint8(this.len, v); this.len += 1; return this }
  u16(v: number): this { this.ensure(2); this.view.setUint16(this.len, v); this.len += 2; return this }
  u32(v: number): this { this.ensure(4); this.view.setUint32(this.len, v); this.len += 4; return this }
  u64(v: bigint): this { this.ensure(8); this.view.setBigUint64(this.len, v); this.len += 8; return this }
  f32(v: number): this { this.ensure(4); this.view.setFloat32(this.len, v); this.len += 4; return this }
  bytes(b: Uint8Array): this { this.ensure(b.length); this.buf.set(b, this.len); this.len += b.length; return this }
  /** fixed-size field: asserts our own invariant (not network input) */
  fixed(b: Uint8Array, size: number): this {
    if (b.length !== size) throw new Error(`internal: expected ${size} bytes, got ${b.length}`)
    return this.bytes(b)
  }
  /** u32 length prefix, then the bytes */
  varBytes(b: Uint8Array): this { return this.u32(b.length).bytes(b) }
  finish(): Uint8Array { return this.buf.slice(0, this.len) }
}

/** Big-endian reader over untrusted bytes: every read is bounds-checked and throws PROTOCOL_TRUNCATED. */
export class Reader {
  private pos = 0
  private readonly view: DataView

  constructor(private readonly buf: Uint8Array, private readonly what: string) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  }

  private need(n: number, field: string): void {
    if (this.pos + n > this.buf.length) {
      throw protocolError('TRUNCATED', `${this.what}: ${field} needs ${n} bytes at offset ${this.pos}, only ${this.buf.length - this.pos} left`)
    }
  }

  get remaining(): number { return this.buf.length - this.pos }
  get offset(): number { return this.pos }

  u8(field: string): number { this.need(1, field); const v = this.view.getUint8(this.pos); this.pos += 1; return v }
  /** A u8 index into `list`: its entry, or PROTOCOL_BAD_VALUE ("<field> <index> unknown"). */
  oneOf<T>(list: readonly T[], field: string): T {
    const v = this.u8(field)
    const x = list[v]
    if (x === undefined) throw protocolError('BAD_VALUE', `${field} ${v} unknown`)
    return x
  }
  u16(field: string): number { this.need(2, field); const v = this.view.getUint16(this.pos); this.pos += 2; return v }
  u32(field: string): number { this.need(4, field); const v = this.view.getUint32(this.pos); this.pos += 4; return v }
  u64(field: string): bigint { this.need(8, field); const v = this.view.getBigUint64(this.pos); this.pos += 8; return v }
  f32(field: string): number { this.need(4, field); const v = this.view.getFloat32(this.pos); this.pos += 4; return v }
  bytes(n: number, field: string): Uint8Array { this.need(n, field); const v = this.buf.slice(this.pos, this.pos + n); this.pos += n; return v }

  /** u32 length prefix checked against `max` before anything is allocated */
  varBytes(max: number, field: string): Uint8Array {
    const n = this.u32(`${field} length`)
    if (n > max) throw protocolError('TOO_LARGE', `${this.what}: ${field} is ${n} bytes, at most ${max} allowed`)
    return this.bytes(n, field)
  }

  /** a count checked against `max` before anything is allocated */
  count(max: number, field: string, width: 1 | 2 | 4 = 4): number {
    const n = width === 1 ? this.u8(field) : width === 2 ? this.u16(field) : this.u32(field)
    if (n > max) throw protocolError('TOO_LARGE', `${this.what}: ${field} is ${n}, at most ${max} allowed`)
    return n
  }

  end(): void {
    if (this.pos !== this.buf.length) {
      throw protocolError('TRAILING_BYTES', `${this.what}: ${this.buf.length - this.pos} unexpected bytes after offset ${this.pos}`)
    }
  }
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let n = 0
  for (const p of parts) n += p.length
  const out = new Uint8Array(n)
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.length }
  return out
}

/** Bytewise (lexicographic) order: negative, zero or positive. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return a.length - b.length
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

export function toHex(b: Uint8Array): string {
  let s = ''
  for (let i = 0; i < b.length; i++) s += HEX[b[i]!]
  return s
}

export function fromHex(s: string): Uint8Array {
  if (s.length % 2 !== 0 || !/^[0-9a-f]*$/i.test(s)) throw protocolError('BAD_VALUE', `not a hex string of even length: ${s.slice(0, 20)}`)
  const out = new Uint8Array(s.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16)
  return out
}

/** 32-byte big-endian unsigned integer <-> bigint */
export function bytesToBigInt(b: Uint8Array): bigint {
  let v = 0n
  for (let i = 0; i < b.length; i++) v = (v << 8n) | BigInt(b[i]!)
  return v
}

export function bigIntToBytes(v: bigint, size = 32): Uint8Array {
  if (v < 0n || v >= 1n << BigInt(8 * size)) throw new Error(`internal: ${v} does not fit in ${size} bytes`)
  const out = new Uint8Array(size)
  for (let i = size - 1; i >= 0; i--) { out[i] = Number(v & 0xffn); v >>= 8n }
  return out
}

/** The little-endian bytes of a Float32Array (the canonical encoding of model state). */
export function float32Bytes(a: Float32Array): Uint8Array {
  if (!LITTLE_ENDIAN) throw new Error('big-endian platforms are not supported')
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength)
}

export function float32FromBytes(b: Uint8Array, what: string): Float32Array {
  if (b.length % 4 !== 0) throw protocolError('BAD_VALUE', `${what}: ${b.length} bytes is not a whole number of float32`)
  const copy = b.slice()
  return new Float32Array(copy.buffer, 0, copy.length / 4)
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1
