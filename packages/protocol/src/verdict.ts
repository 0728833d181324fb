import { DIFFICULTY_WINDOW, type BlockTiming } from './block.js'
import { Reader, Writer } from './bytes.js'
import { protocolError } from './errors.js'
import { TAGS, taggedHash } from './hash.js'
import { readApproval, writeApproval, type VerifierApproval } from './tx.js'
import { PUBLIC_KEY_SIZE, SIGNATURE_SIZE, sign, verify } from './sign.js'

export const VERDICT_VERSION = 3
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
  /**
   * The commit of §5.2's commit-reveal: verdictSeal(blockHash, verifier, precursor) over the nonce
   * precursor the verifier rebuilt (all zero when it refuses the block). The precursor itself
   * comes later, in a signed VerifierApproval (the reveal), which a COLLECT_VERIFICATIONS carries.
   */
  seal: Uint8Array
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
  return w.u32(v.nextBits).fixed(v.seal, 32).fixed(v.verifier, PUBLIC_KEY_SIZE).finish()
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
    tipWindow: tipWindow(r), nextBits: r.u32('next bits'), seal: r.bytes(32, 'seal'),
    verifier: r.bytes(PUBLIC_KEY_SIZE, 'verifier'), signature: r.bytes(SIGNATURE_SIZE, 'signature'),
  }
  r.end()
  return v
}

/**
 * A verifier's commit to the nonce precursor it rebuilt for a block (paper 003 §5.2, "each
 * verifier will post an encrypted digest"): H(blockHash || verifier || precursor). The precursor
 * has 256 bits that only the block's evidence gives, so the seal hides it; the verifier's key in it
 * makes one verifier's seal useless to another.
 */
export function verdictSeal(blockHash: Uint8Array, verifier: Uint8Array, precursor: Uint8Array): Uint8Array {
  return taggedHash(TAGS.verdictSeal, blockHash, verifier, precursor)
}

/** What a verifier's approval (its reveal) signs: H(blockHash || precursor). */
export function approvalSigningHash(blockHash: Uint8Array, precursor: Uint8Array): Uint8Array {
  return taggedHash(TAGS.verifierApproval, blockHash, precursor)
}

export function signVerifierApproval(blockHash: Uint8Array, precursor: Uint8Array, keys: { publicKey: Uint8Array; secretKey: Uint8Array }): VerifierApproval {
  return { verifier: keys.publicKey, precursor, signature: sign(keys.secretKey, approvalSigningHash(blockHash, precursor)) }
}

export async function verifyVerifierApproval(blockHash: Uint8Array, a: VerifierApproval): Promise<boolean> {
  return verify(a.verifier, approvalSigningHash(blockHash, a.precursor), a.signature)
}

/** The reveal as gossiped: the block it approves and the approval. */
export interface VerifierReveal { blockHash: Uint8Array; approval: VerifierApproval }

const REVEAL_VERSION = 1

export function revealToBytes(r: VerifierReveal): Uint8Array {
  return writeApproval(new Writer().u16(REVEAL_VERSION).fixed(r.blockHash, 32), r.approval).finish()
}

export function revealFromBytes(bytes: Uint8Array): VerifierReveal {
  const r = new Reader(bytes, 'reveal')
  const version = r.u16('version')
  if (version !== REVEAL_VERSION) throw protocolError('BAD_VERSION', `reveal version ${version}, expected ${REVEAL_VERSION}`)
  const out = { blockHash: r.bytes(32, 'block hash'), approval: readApproval(r) }
  r.end()
  return out
}
