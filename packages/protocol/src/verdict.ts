import { DIFFICULTY_WINDOW, type BlockTiming } from './block.js'
import { Reader, Writer } from './bytes.js'
import { protocolError } from './errors.js'
import { TAGS, taggedHash } from './hash.js'
import { PUBLIC_KEY_SIZE, SIGNATURE_SIZE, sign, verify } from './sign.js'

export const VERDICT_VERSION = 2
const MAX_TEXT = 1024

/**
 * A verifier's signed verdict on a block submission, gossiped so the miner
 * learns the outcome and every miner learns the new tip.
 */
export interface Verdict {
  blockHash: Uint8Array
  accepted: boolean
  code: string // '' when accepted, else a typed reason such as 'POUW_MAP_MISMATCH'
  detail: string
  height: number // the block's height (0 when rejected before it was known)
  tipHash: Uint8Array // the verifier's best tip after processing
  tipHeight: number
  /**
   * time and bits of the tip and its ancestors, oldest first, the tip last (1 to DIFFICULTY_WINDOW
   * entries, fewer only near genesis): with them a miner that finds a block on this tip computes
   * the bits of the next one itself (ledger nextBits)
   */
  tipWindow: BlockTiming[]
  nextBits: number // target bits required of a block on top of the tip
  verifier: Uint8Array
  signature: Uint8Array
}

const enc = new TextEncoder()
// ignoreBOM: keep a leading U+FEFF, else two byte strings would decode to one verdict
const dec = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** UTF-8 bytes of `s`, cut to at most MAX_TEXT bytes at a character boundary (what the decoder accepts). */
function textBytes(s: string): Uint8Array {
  const b = enc.encode(s)
  if (b.length <= MAX_TEXT) return b
  let n = MAX_TEXT
  while ((b[n]! & 0xc0) === 0x80) n--
  return b.subarray(0, n)
}

function body(v: Omit<Verdict, 'signature'>): Uint8Array {
  const code = textBytes(v.code)
  const detail = textBytes(v.detail)
  const n = v.tipWindow.length
  if (n < 1 || n > DIFFICULTY_WINDOW) throw protocolError('BAD_VALUE', `verdict tip window has ${n} blocks, expected 1 to ${DIFFICULTY_WINDOW}`)
  const w = new Writer().u16(VERDICT_VERSION).fixed(v.blockHash, 32).u8(v.accepted ? 1 : 0)
    .u16(code.length).bytes(code).u16(detail.length).bytes(detail)
    .u32(v.height).fixed(v.tipHash, 32).u32(v.tipHeight).u8(n)
  for (const t of v.tipWindow) w.u32(t.time).u32(t.bits)
  return w.u32(v.nextBits).fixed(v.verifier, PUBLIC_KEY_SIZE).finish()
}

export function signVerdict(v: Omit<Verdict, 'signature'>, secretKey: Uint8Array): Verdict {
  return { ...v, signature: sign(secretKey, taggedHash(TAGS.verdictSig, body(v))) }
}

export async function verifyVerdictSignature(v: Verdict): Promise<boolean> {
  return verify(v.verifier, taggedHash(TAGS.verdictSig, body(v)), v.signature)
}

export function verdictToBytes(v: Verdict): Uint8Array {
  return new Writer().bytes(body(v)).fixed(v.signature, SIGNATURE_SIZE).finish()
}

function tipWindow(r: Reader): BlockTiming[] {
  const n = r.u8('tip window length')
  if (n < 1 || n > DIFFICULTY_WINDOW) throw protocolError('BAD_VALUE', `verdict tip window has ${n} blocks, expected 1 to ${DIFFICULTY_WINDOW}`)
  return Array.from({ length: n }, () => ({ time: r.u32('tip window time'), bits: r.u32('tip window bits') }))
}

export function verdictFromBytes(bytes: Uint8Array): Verdict {
  if (bytes.length > 4 * MAX_TEXT) throw protocolError('TOO_LARGE', `verdict is ${bytes.length} bytes`)
  const r = new Reader(bytes, 'verdict')
  const version = r.u16('version')
  if (version !== VERDICT_VERSION) throw protocolError('BAD_VERSION', `verdict version ${version}, expected ${VERDICT_VERSION}`)
  const blockHash = r.bytes(32, 'block hash')
  const acc = r.u8('accepted')
  if (acc > 1) throw protocolError('BAD_VALUE', `accepted flag ${acc}`)
  const text = (field: string): string => {
    const n = r.count(MAX_TEXT, field, 2)
    const b = r.bytes(n, field)
    try { return dec.decode(b) } catch { throw protocolError('BAD_VALUE', `verdict ${field} is not UTF-8`) }
  }
  const v: Verdict = {
    blockHash, accepted: acc === 1, code: text('code'), detail: text('detail'),
    height: r.u32('height'), tipHash: r.bytes(32, 'tip hash'), tipHeight: r.u32('tip height'),
    tipWindow: tipWindow(r), nextBits: r.u32('next bits'),
    verifier: r.bytes(PUBLIC_KEY_SIZE, 'verifier'), signature: r.bytes(SIGNATURE_SIZE, 'signature'),
  }
  r.end()
  return v
}
