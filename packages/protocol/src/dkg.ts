import { Reader, Writer, bigIntToBytes, bytesEqual, compareBytes, bytesToBigInt, toHex } from './bytes.js'
import { PouwError, isPouwError, protocolError } from './errors.js'
import { TAGS, taggedHash } from './hash.js'
import { PUBLIC_KEY_SIZE, SIGNATURE_SIZE, sign, verify, verifyReference, type KeyPair } from './sign.js'
import {
  BLS_PUBLIC_KEY_SIZE, BLS_SCALAR_SIZE, CURVE_ORDER, DKG_BAD_CIPHERTEXT, ENCRYPTED_SHARE_SIZE, MAX_COMMITTEE_SIZE,
  assertValidG1, commitPolynomial, decryptShare, encryptShare, evaluatePolynomial, groupPublicKey, publicSharesFor,
  randomPolynomial, verifyShare,
} from './threshold.js'

/**
 * Joint-Feldman distributed key generation with complaints (paper Appendix C),
 * made deterministic and pure.
 *
 * The committee is n supervisors identified by their Ed25519 keys, sorted
 * bytewise; member i (1-based) is the i-th key. Each member deals: a random
 * polynomial S_d of degree t - 1, its Feldman commitments g·s_dj, and S_d(i)
 * encrypted to every member i, all in one signed DkgDeal. A member checks its
 * share against the commitments and complains if it does not verify or if the
 * deal never came. The accused answers a complaint with a DkgJustification
 * that reveals the complainer's share in the clear; everybody checks it against
 * the accused's commitments. The qualified set Q is every dealer not
 * disqualified; member i's key share is Σ_{d∈Q} S_d(i), the group key
 * Σ_{d∈Q} g·s_d0, and the public share of every member follows from the
 * commitments. Each member then posts a DkgSuccess with its group key and Q;
 * the DKG is over when every qualified member posted the same one (the paper's
 * DKG_SUCCESSFUL rule, `isDkgComplete`).
 *
 * Where this departs from the paper, and why:
 * - Complaints are ruled on public evidence only. The paper disqualifies a
 *   dealer that 2/3 complain against, and otherwise has the others vote
 *   between complainer and accused. Here the accused must reveal the disputed
 *   share, which anyone can check against the signed commitments: a valid
 *   revealed share dismisses the complaint (the complainer then uses that
 *   share, so a lying complainer gains nothing), an invalid one or none by the
 *   end of the complaint phase disqualifies the dealer. No vote is needed, and
 *   every honest member reaches the same ruling from the same messages (as in
 *   Pedersen's and Gennaro et al.'s DKGs).
 * - The "complaint containing the received private share" of the paper is not
 *   needed: the dealer, not the complainer, reveals the share, and the
 *   complainer cannot prove what it decrypted anyway.
 * - A 'missing' complaint is answered like a 'bad-share' one, and the accused
 *   also broadcasts its deal again, since the complainer needs the commitments.
 * - The share encryption (threshold.ts) is X25519 between the members'
 *   Ed25519 keys with a SHA-256 pad and MAC; the paper leaves it unspecified.
 * - Restarting with a new committee, banning and stake confiscation are the
 *   caller's business: `attempt` in the session id separates the runs.
 *
 * Timing is the caller's: it calls `timeout()` once when the deal window
 * closes (the session then complains about every deal it lacks) and once when
 * the complaint window closes (everything unruled then counts against the
 * dealer, and the result is final). Agreement between members relies on
 * every one of them seeing the same deals, complaints and justifications by
 * then (a broadcast channel: gossip plus the chain); when it fails they post
 * different DkgSuccess messages and the DKG is not complete, which is exactly
 * the check the paper runs before proceeding.
 *
 * Known limits, as in Joint-Feldman itself: a dealer can bias the group key
 * slightly by choosing whether to get itself disqualified (Gennaro et al.,
 * 1999); each answered complaint reveals one share of that dealer's
 * polynomial, harmless while one honest dealer's polynomial stays secret.
 */

export const DKG_VERSION = 1
export const DKG_MESSAGE_TYPES = { deal: 1, complaint: 2, justification: 3, success: 4 } as const
export type DkgMessageKind = keyof typeof DKG_MESSAGE_TYPES
/** largest encoding: a deal with 64 commitments and 64 shares is 7,363 bytes */
export const MAX_DKG_MESSAGE_SIZE = 8192

export const DKG_ERRORS = {
  NOT_MEMBER: 'DKG_NOT_MEMBER',
  WRONG_SESSION: 'DKG_WRONG_SESSION',
  BAD_SIGNATURE: 'DKG_BAD_SIGNATURE',
  EQUIVOCATION: 'DKG_EQUIVOCATION',
  BAD_COMMITTEE: 'DKG_BAD_COMMITTEE',
  BAD_CIPHERTEXT: DKG_BAD_CIPHERTEXT,
} as const

export type DkgComplaintReason = 'missing' | 'bad-share'
const REASONS: readonly DkgComplaintReason[] = ['missing', 'bad-share'] // wire values 1, 2

/** A dealer's commitments and one encrypted share per committee member, in index order. */
export interface DkgDeal {
  kind: 'deal'
  session: Uint8Array
  dealer: Uint8Array
  commitments: Uint8Array[] // t G1 points
  encryptedShares: Uint8Array[] // n × ENCRYPTED_SHARE_SIZE
  signature: Uint8Array
}

export interface DkgComplaint {
  kind: 'complaint'
  session: Uint8Array
  complainer: Uint8Array
  accused: Uint8Array
  reason: DkgComplaintReason
  signature: Uint8Array
}

/** The accused dealer's answer: the complainer's share, revealed publicly. */
export interface DkgJustification {
  kind: 'justification'
  session: Uint8Array
  dealer: Uint8Array
  complainer: Uint8Array
  share: bigint
  signature: Uint8Array
}

export interface DkgSuccess {
  kind: 'success'
  session: Uint8Array
  member: Uint8Array
  groupPublicKey: Uint8Array
  qualified: number[] // dealer indices, strictly increasing
  signature: Uint8Array
}

export type DkgMessage = DkgDeal | DkgComplaint | DkgJustification | DkgSuccess
export type UnsignedDkgMessage<M extends DkgMessage = DkgMessage> = M extends DkgMessage ? Omit<M, 'signature'> : never

export interface DkgResult {
  groupPublicKey: Uint8Array
  secretShare: bigint
  index: number // ours, 1-based
  publicShares: Uint8Array[] // publicShares[i - 1] is member i's
  qualified: number[]
  t: number
}

// ---------------------------------------------------------------- committee and session

/** Throws DKG_BAD_COMMITTEE unless 1 ≤ n ≤ 64 distinct 32-byte keys sorted bytewise and 1 ≤ t ≤ n. */
export function assertValidCommittee(committee: Uint8Array[], t: number): void {
  const bad = (msg: string): PouwError => new PouwError(DKG_ERRORS.BAD_COMMITTEE, msg)
  if (!Array.isArray(committee) || committee.length < 1 || committee.length > MAX_COMMITTEE_SIZE) {
    throw bad(`committee of ${Array.isArray(committee) ? committee.length : typeof committee} members, expected 1..${MAX_COMMITTEE_SIZE}`)
  }
  committee.forEach((k, i) => {
    if (!(k instanceof Uint8Array) || k.length !== PUBLIC_KEY_SIZE) throw bad(`member ${i + 1} is not a ${PUBLIC_KEY_SIZE}-byte key`)
    if (i > 0 && compareBytes(committee[i - 1]!, k) >= 0) throw bad(`members ${i} and ${i + 1} are not in strictly increasing byte order`)
  })
  if (!Number.isSafeInteger(t) || t < 1 || t > committee.length) throw bad(`threshold ${t} not in 1..${committee.length}`)
}

/** 1-based index of `key` in the committee, 0 when absent. */
export function committeeIndexOf(committee: Uint8Array[], key: Uint8Array): number {
  for (let i = 0; i < committee.length; i++) if (bytesEqual(committee[i]!, key)) return i + 1
  return 0
}

/** session = H_dkg-session(version ‖ n ‖ committee keys in order ‖ t ‖ attempt) */
export function dkgSessionId(committee: Uint8Array[], t: number, attempt: number): Uint8Array {
  assertValidCommittee(committee, t)
  if (!Number.isSafeInteger(attempt) || attempt < 0 || attempt > 0xffff_ffff) throw new Error(`internal: attempt ${attempt} is not a u32`)
  const w = new Writer().u8(DKG_VERSION).u16(committee.length)
  for (const k of committee) w.fixed(k, PUBLIC_KEY_SIZE)
  return taggedHash(TAGS.dkgSession, w.u16(t).u32(attempt).finish())
}

// ---------------------------------------------------------------- encoding

/** The key that signs a message: the dealer, complainer or member. */
export function dkgMessageSender(m: UnsignedDkgMessage | DkgMessage): Uint8Array {
  switch (m.kind) {
    case 'deal': return m.dealer
    case 'complaint': return m.complainer
    case 'justification': return m.dealer
    case 'success': return m.member
  }
}

/**
 * Layout (big-endian), common head: u8 version, u8 type, session[32], sender[32]; then
 *   deal:          u8 t, t × G1[48], u8 n, n × encrypted share[64]
 *   complaint:     accused[32], u8 reason (1 missing, 2 bad-share)
 *   justification: complainer[32], share[32] (< r)
 *   success:       group key G1[48], u8 count, count × u8 index (strictly increasing)
 * and the Ed25519 signature[64] over H_dkg-message(everything before it).
 */
function body(m: UnsignedDkgMessage): Uint8Array {
  // our invariant for objects we encode (a bad one from outside becomes PROTOCOL_BAD_VALUE in receive)
  const byte = (v: number, what: string): number => {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new Error(`internal: dkg ${what} ${v} does not fit in a byte`)
    return v
  }
  const w = new Writer().u8(DKG_VERSION).u8(byte(DKG_MESSAGE_TYPES[m.kind], 'message kind')).fixed(m.session, 32).fixed(dkgMessageSender(m), PUBLIC_KEY_SIZE)
  switch (m.kind) {
    case 'deal':
      w.u8(byte(m.commitments.length, 'commitment count'))
      for (const c of m.commitments) w.fixed(c, BLS_PUBLIC_KEY_SIZE)
      w.u8(byte(m.encryptedShares.length, 'share count'))
      for (const e of m.encryptedShares) w.fixed(e, ENCRYPTED_SHARE_SIZE)
      break
    case 'complaint':
      w.fixed(m.accused, PUBLIC_KEY_SIZE).u8(byte(REASONS.indexOf(m.reason) + 1, 'reason'))
      break
    case 'justification':
      w.fixed(m.complainer, PUBLIC_KEY_SIZE).bytes(bigIntToBytes(m.share, BLS_SCALAR_SIZE))
      break
    case 'success':
      w.fixed(m.groupPublicKey, BLS_PUBLIC_KEY_SIZE).u8(byte(m.qualified.length, 'qualified count'))
      for (const i of m.qualified) w.u8(byte(i, 'qualified index'))
      break
  }
  return w.finish()
}

function signingHash(m: UnsignedDkgMessage | DkgMessage): Uint8Array {
  return taggedHash(TAGS.dkgMessage, body(m as UnsignedDkgMessage))
}

export function signDkgMessage<M extends DkgMessage>(m: UnsignedDkgMessage<M>, secretKey: Uint8Array): M {
  return { ...m, signature: sign(secretKey, signingHash(m)) } as unknown as M
}

/** Synchronous (noble) check of the sender's signature. Never throws. */
export function verifyDkgMessageSignature(m: DkgMessage): boolean {
  try {
    return verifyReference(dkgMessageSender(m), signingHash(m), m.signature)
  } catch {
    return false
  }
}

/** Same answer through WebCrypto where available. Never throws. */
export async function verifyDkgMessageSignatureAsync(m: DkgMessage): Promise<boolean> {
  let h: Uint8Array
  let sender: Uint8Array
  try {
    h = signingHash(m)
    sender = dkgMessageSender(m)
  } catch {
    return false
  }
  return verify(sender, h, m.signature)
}

export function dkgMessageToBytes(m: DkgMessage): Uint8Array {
  return new Writer().bytes(body(m as UnsignedDkgMessage)).fixed(m.signature, SIGNATURE_SIZE).finish()
}

/**
 * Strict decoder: every field checked, points validated (on the curve, in the
 * subgroup, not the identity), counts capped before anything is allocated,
 * nothing left over. Throws only PouwErrors with PROTOCOL_* codes.
 */
export function dkgMessageFromBytes(bytes: Uint8Array): DkgMessage {
  if (!(bytes instanceof Uint8Array)) throw protocolError('BAD_VALUE', 'dkg message: expected bytes')
  if (bytes.length > MAX_DKG_MESSAGE_SIZE) throw protocolError('TOO_LARGE', `dkg message is ${bytes.length} bytes, at most ${MAX_DKG_MESSAGE_SIZE}`)
  const r = new Reader(bytes, 'dkg message')
  const version = r.u8('version')
  if (version !== DKG_VERSION) throw protocolError('BAD_VERSION', `dkg message version ${version}, expected ${DKG_VERSION}`)
  const type = r.u8('type')
  const session = r.bytes(32, 'session')
  const sender = r.bytes(PUBLIC_KEY_SIZE, 'sender')
  let m: UnsignedDkgMessage
  switch (type) {
    case DKG_MESSAGE_TYPES.deal: {
      const t = r.count(MAX_COMMITTEE_SIZE, 'commitment count', 1)
      if (t === 0) throw protocolError('BAD_VALUE', 'dkg deal: no commitments')
      const commitments: Uint8Array[] = []
      for (let j = 0; j < t; j++) {
        const c = r.bytes(BLS_PUBLIC_KEY_SIZE, `commitment ${j}`)
        assertValidG1(c, `dkg deal commitment ${j}`)
        commitments.push(c)
      }
      const n = r.count(MAX_COMMITTEE_SIZE, 'share count', 1)
      if (n < t) throw protocolError('BAD_VALUE', `dkg deal: ${n} shares for ${t} commitments`)
      const encryptedShares: Uint8Array[] = []
      for (let i = 0; i < n; i++) encryptedShares.push(r.bytes(ENCRYPTED_SHARE_SIZE, `encrypted share ${i + 1}`))
      m = { kind: 'deal', session, dealer: sender, commitments, encryptedShares }
      break
    }
    case DKG_MESSAGE_TYPES.complaint: {
      const accused = r.bytes(PUBLIC_KEY_SIZE, 'accused')
      const reason = r.u8('reason')
      if (reason < 1 || reason > REASONS.length) throw protocolError('BAD_VALUE', `dkg complaint reason ${reason}, expected 1..${REASONS.length}`)
      if (bytesEqual(accused, sender)) throw protocolError('BAD_VALUE', 'dkg complaint against oneself')
      m = { kind: 'complaint', session, complainer: sender, accused, reason: REASONS[reason - 1]! }
      break
    }
    case DKG_MESSAGE_TYPES.justification: {
      const complainer = r.bytes(PUBLIC_KEY_SIZE, 'complainer')
      const share = bytesToBigInt(r.bytes(BLS_SCALAR_SIZE, 'share'))
      if (share >= CURVE_ORDER) throw protocolError('BAD_VALUE', 'dkg justification: share is not below the curve order')
      if (bytesEqual(complainer, sender)) throw protocolError('BAD_VALUE', 'dkg justification to oneself')
      m = { kind: 'justification', session, dealer: sender, complainer, share }
      break
    }
    case DKG_MESSAGE_TYPES.success: {
      const key = r.bytes(BLS_PUBLIC_KEY_SIZE, 'group public key')
      assertValidG1(key, 'dkg success group public key')
      const count = r.count(MAX_COMMITTEE_SIZE, 'qualified count', 1)
      if (count === 0) throw protocolError('BAD_VALUE', 'dkg success: empty qualified set')
      const qualified: number[] = []
      for (let k = 0; k < count; k++) {
        const i = r.u8(`qualified ${k}`)
        if (i < 1 || i > MAX_COMMITTEE_SIZE) throw protocolError('BAD_VALUE', `dkg success: index ${i} not in 1..${MAX_COMMITTEE_SIZE}`)
        if (k > 0 && i <= qualified[k - 1]!) throw protocolError('NOT_CANONICAL', 'dkg success: qualified indices not strictly increasing')
        qualified.push(i)
      }
      m = { kind: 'success', session, member: sender, groupPublicKey: key, qualified }
      break
    }
    default:
      throw protocolError('BAD_TYPE', `dkg message type ${type}, expected 1..4`)
  }
  const signature = r.bytes(SIGNATURE_SIZE, 'signature')
  r.end()
  return { ...m, signature }
}

function decodeKind<K extends DkgMessageKind>(bytes: Uint8Array, kind: K): Extract<DkgMessage, { kind: K }> {
  const m = dkgMessageFromBytes(bytes)
  if (m.kind !== kind) throw protocolError('BAD_TYPE', `expected a dkg ${kind}, got a dkg ${m.kind}`)
  return m as Extract<DkgMessage, { kind: K }>
}

export const dkgDealToBytes = (m: DkgDeal): Uint8Array => dkgMessageToBytes(m)
export const dkgDealFromBytes = (b: Uint8Array): DkgDeal => decodeKind(b, 'deal')
export const dkgComplaintToBytes = (m: DkgComplaint): Uint8Array => dkgMessageToBytes(m)
export const dkgComplaintFromBytes = (b: Uint8Array): DkgComplaint => decodeKind(b, 'complaint')
export const dkgJustificationToBytes = (m: DkgJustification): Uint8Array => dkgMessageToBytes(m)
export const dkgJustificationFromBytes = (b: Uint8Array): DkgJustification => decodeKind(b, 'justification')
export const dkgSuccessToBytes = (m: DkgSuccess): Uint8Array => dkgMessageToBytes(m)
export const dkgSuccessFromBytes = (b: Uint8Array): DkgSuccess => decodeKind(b, 'success')

/**
 * A message object from anywhere, re-encoded and decoded: afterwards it is
 * well formed (as if it had come off the wire) and a private copy. Throws
 * PROTOCOL_* errors.
 */
function canonicalCopy(m: DkgMessage): { msg: DkgMessage; bytes: Uint8Array } {
  let bytes: Uint8Array
  try {
    bytes = dkgMessageToBytes(m)
  } catch (e) {
    if (isPouwError(e)) throw e
    throw protocolError('BAD_VALUE', `malformed dkg message object: ${(e as Error)?.message}`)
  }
  return { msg: dkgMessageFromBytes(bytes), bytes }
}

// ---------------------------------------------------------------- completion

const qualifiedKey = (groupKey: Uint8Array, qualified: number[]): string => `${toHex(groupKey)}/${qualified.join(',')}`

/**
 * The paper's DKG_SUCCESSFUL rule: true when every qualified member posted a
 * DkgSuccess (correctly signed, one session) with the same group key and this
 * same qualified set. A member may have posted several (its view changed);
 * one matching is enough.
 */
export function isDkgComplete(successes: DkgSuccess[], committee: Uint8Array[], qualified: number[]): boolean {
  if (qualified.length === 0) return false
  const q = [...new Set(qualified)].sort((a, b) => a - b)
  if (q.some((i) => !Number.isSafeInteger(i) || i < 1 || i > committee.length)) return false
  const byKey = new Map<string, Set<number>>()
  for (const s of successes) {
    if (s.kind !== 'success' || s.qualified.join(',') !== q.join(',')) continue
    const member = committeeIndexOf(committee, s.member)
    if (member === 0 || !verifyDkgMessageSignature(s)) continue
    const k = `${toHex(s.session)}/${toHex(s.groupPublicKey)}`
    let set = byKey.get(k)
    if (set === undefined) byKey.set(k, (set = new Set()))
    set.add(member)
  }
  for (const set of byKey.values()) if (q.every((i) => set.has(i))) return true
  return false
}

// ---------------------------------------------------------------- the state machine

export interface DkgSessionOptions {
  committee: Uint8Array[] // sorted bytewise, distinct
  keys: KeyPair // ours; keys.publicKey must be in the committee
  t: number
  attempt: number
  randomBytes: (n: number) => Uint8Array
}

export type DkgPhase = 'deals' | 'complaints' | 'final'
export type DkgRuling = 'pending' | 'dismissed' | 'upheld'

export interface DkgStatus {
  phase: DkgPhase
  /** every qualified member confirmed our result with a matching DkgSuccess: the result is frozen */
  complete: boolean
  index: number
  n: number
  t: number
  dealsFrom: number[]
  complaints: { complainer: number; accused: number; reason: DkgComplaintReason; ruling: DkgRuling }[]
  disqualified: number[]
  qualified: number[]
  ready: boolean
  /** members whose DkgSuccess matches our current result */
  confirmedBy: number[]
}

interface StoredDeal { msg: DkgDeal; hex: string }
interface StoredComplaint { msg: DkgComplaint; hex: string; complainer: number; accused: number }
interface StoredJustification { msg: DkgJustification; hex: string; dealer: number; complainer: number }

const pair = (a: number, b: number): string => `${a},${b}`

/**
 * One member's side of the DKG. Pure and deterministic: it keeps no clock and
 * draws randomness only from `randomBytes` (the polynomial, in the
 * constructor). Every method returns the messages to broadcast to the
 * committee; the caller delivers them (to everyone, the sender excepted: the
 * session has already applied its own messages).
 *
 * `receive` refuses (throws, state untouched) a message that is malformed
 * (PROTOCOL_*), from another session (DKG_WRONG_SESSION), names a key outside
 * the committee (DKG_NOT_MEMBER), is not signed by its sender
 * (DKG_BAD_SIGNATURE) or contradicts an earlier message of the same sender
 * (DKG_EQUIVOCATION: a second different deal, complaint or justification for
 * the same pair). Repeats of a message already seen are ignored. After the
 * result is frozen (second timeout, or every qualified member confirmed it)
 * deals, complaints and justifications are checked, then ignored.
 */
export class DkgSession {
  readonly committee: Uint8Array[]
  readonly session: Uint8Array
  readonly t: number
  readonly n: number
  readonly index: number
  private readonly keys: KeyPair
  private readonly poly: bigint[]
  private readonly ownDeal: DkgDeal
  private phase: DkgPhase = 'deals'
  private complete = false
  private readonly deals = new Map<number, StoredDeal>()
  private readonly myShares = new Map<number, bigint>() // dealer -> our verified share
  private readonly complaints = new Map<string, StoredComplaint>() // `${complainer},${accused}`
  private readonly justifications = new Map<string, StoredJustification>() // `${dealer},${complainer}`
  private readonly justificationValid = new Map<string, boolean>()
  private readonly successes = new Map<number, Map<string, DkgSuccess>>() // member -> qualifiedKey -> msg
  private lastSuccess: string | undefined
  private resultCache: { key: string; result: DkgResult } | undefined
  private frozen: DkgResult | undefined

  constructor(opts: DkgSessionOptions) {
    assertValidCommittee(opts.committee, opts.t)
    this.committee = opts.committee.map((k) => k.slice())
    this.n = this.committee.length
    this.t = opts.t
    this.keys = opts.keys
    this.index = committeeIndexOf(this.committee, opts.keys.publicKey)
    if (this.index === 0) throw new PouwError(DKG_ERRORS.NOT_MEMBER, 'our key is not in the committee')
    this.session = dkgSessionId(this.committee, this.t, opts.attempt)
    this.poly = randomPolynomial(this.t, opts.randomBytes)
    this.ownDeal = signDkgMessage<DkgDeal>({
      kind: 'deal', session: this.session, dealer: this.keys.publicKey, commitments: commitPolynomial(this.poly),
      encryptedShares: this.committee.map((k, i) => encryptShare(this.keys.secretKey, k, this.session, evaluatePolynomial(this.poly, i + 1))),
    }, this.keys.secretKey)
    this.deals.set(this.index, { msg: this.ownDeal, hex: toHex(dkgMessageToBytes(this.ownDeal)) })
    this.myShares.set(this.index, evaluatePolynomial(this.poly, this.index))
  }

  /** Our deal (call again to re-broadcast it), and, for n = 1, our DkgSuccess. */
  start(): DkgMessage[] {
    return [this.ownDeal, ...this.afterChange()]
  }

  receive(input: DkgMessage): DkgMessage[] {
    const { msg, bytes } = canonicalCopy(input)
    const hex = toHex(bytes)
    if (!bytesEqual(msg.session, this.session)) throw new PouwError(DKG_ERRORS.WRONG_SESSION, `${msg.kind} for another session`)
    const from = this.memberIndex(dkgMessageSender(msg), 'sender')
    switch (msg.kind) {
      case 'deal':
        if (msg.commitments.length !== this.t || msg.encryptedShares.length !== this.n) {
          throw protocolError('BAD_VALUE', `deal has ${msg.commitments.length} commitments and ${msg.encryptedShares.length} shares, expected ${this.t} and ${this.n}`)
        }
        break
      case 'complaint': this.memberIndex(msg.accused, 'accused'); break
      case 'justification': this.memberIndex(msg.complainer, 'complainer'); break
      case 'success':
        if (msg.qualified.some((i) => i > this.n)) throw protocolError('BAD_VALUE', `success names a dealer index above ${this.n}`)
        break
    }
    if (!verifyDkgMessageSignature(msg)) throw new PouwError(DKG_ERRORS.BAD_SIGNATURE, `${msg.kind} from member ${from} is not signed by it`)

    switch (msg.kind) {
      case 'deal': {
        const prev = this.deals.get(from)
        if (prev !== undefined) {
          if (prev.hex === hex) return []
          throw this.equivocation(`a second, different deal from member ${from}`, from)
        }
        if (this.frozen !== undefined) return []
        this.deals.set(from, { msg, hex })
        return [...this.onDeal(from, msg), ...this.afterChange()]
      }
      case 'complaint': {
        const accused = this.memberIndex(msg.accused, 'accused')
        const key = pair(from, accused)
        const prev = this.complaints.get(key)
        if (prev !== undefined) {
          if (prev.hex === hex) return []
          throw this.equivocation(`member ${from} complained twice against ${accused}`, from)
        }
        if (this.frozen !== undefined) return []
        this.complaints.set(key, { msg, hex, complainer: from, accused })
        const out: DkgMessage[] = []
        if (accused === this.index) out.push(...this.answer(from, msg.reason))
        return [...out, ...this.afterChange()]
      }
      case 'justification': {
        const complainer = this.memberIndex(msg.complainer, 'complainer')
        const key = pair(from, complainer)
        const prev = this.justifications.get(key)
        if (prev !== undefined) {
          if (prev.hex === hex) return []
          throw this.equivocation(`member ${from} sent two justifications to ${complainer}`, from)
        }
        if (this.frozen !== undefined) return []
        this.justifications.set(key, { msg, hex, dealer: from, complainer })
        return this.afterChange()
      }
      case 'success': {
        let mine = this.successes.get(from)
        const key = qualifiedKey(msg.groupPublicKey, msg.qualified)
        if (mine?.has(key) === true) return []
        // a member's view changes only when a dealer is disqualified: at most n + 1 distinct posts
        if (mine !== undefined && mine.size > this.n) throw this.equivocation(`member ${from} posted too many different successes`, from)
        if (mine === undefined) this.successes.set(from, (mine = new Map()))
        mine.set(key, msg)
        return this.afterChange()
      }
    }
  }

  /**
   * First call: the deal window is over; complain about every deal still
   * missing. Second call: the complaint window is over; every complaint not
   * answered by a valid justification (and every deal still missing)
   * disqualifies its dealer, and the result is final. Later calls do nothing.
   */
  timeout(): DkgMessage[] {
    if (this.phase === 'deals') {
      this.phase = 'complaints'
      if (this.frozen !== undefined) return []
      const out: DkgMessage[] = []
      for (let d = 1; d <= this.n; d++) {
        if (!this.deals.has(d) && !this.complaints.has(pair(this.index, d))) out.push(this.complain(d, 'missing'))
      }
      return [...out, ...this.afterChange()]
    }
    if (this.phase === 'complaints') {
      this.phase = 'final'
      const out = this.afterChange()
      if (this.frozen === undefined) {
        this.frozen = this.currentResult() // always defined once final: every dealer is ruled on
        this.complete = this.frozen !== undefined && this.isConfirmed(this.frozen)
      }
      return out
    }
    return []
  }

  /**
   * Once the DKG is complete: every qualified member's DkgSuccess for our result, in member order
   * (the DKG_SUCCESSFUL proof a block's MESSAGE_HISTORY anchor carries, tx.ts HistoryAnchor).
   */
  successProof(): DkgSuccess[] | undefined {
    const r = this.result()
    if (!this.complete || r === undefined) return undefined
    const key = qualifiedKey(r.groupPublicKey, r.qualified)
    const proof = r.qualified.map((i) => this.successes.get(i)?.get(key))
    return proof.every((m) => m !== undefined) ? proof as DkgSuccess[] : undefined
  }

  /** Our result on what we have seen; frozen once final or complete. */
  result(): DkgResult | undefined {
    return this.frozen ?? this.currentResult()
  }

  status(): DkgStatus {
    const complaints = [...this.complaints.values()]
      .sort((a, b) => a.complainer - b.complainer || a.accused - b.accused)
      .map((c) => ({ complainer: c.complainer, accused: c.accused, reason: c.msg.reason, ruling: this.ruling(c.complainer, c.accused) }))
    const disqualified = this.disqualified()
    const r = this.result()
    return {
      phase: this.phase,
      complete: this.complete,
      index: this.index,
      n: this.n,
      t: this.t,
      dealsFrom: [...this.deals.keys()].sort((a, b) => a - b),
      complaints,
      disqualified: r === undefined ? disqualified : range(this.n).filter((i) => !r.qualified.includes(i)),
      qualified: r?.qualified ?? range(this.n).filter((i) => !disqualified.includes(i)),
      ready: r !== undefined,
      confirmedBy: r === undefined ? [] : this.confirmations(r),
    }
  }

  // ---------------------------------------------------------------- internals

  private memberIndex(key: Uint8Array, what: string): number {
    const i = committeeIndexOf(this.committee, key)
    if (i === 0) throw new PouwError(DKG_ERRORS.NOT_MEMBER, `${what} ${toHex(key).slice(0, 16)}… is not in the committee`)
    return i
  }

  private equivocation(message: string, member: number): PouwError {
    return new PouwError(DKG_ERRORS.EQUIVOCATION, message, { member })
  }

  /** A new deal from another member: decrypt and check our share; complain if it is bad. */
  private onDeal(dealer: number, deal: DkgDeal): DkgMessage[] {
    if (dealer === this.index) return []
    let share: bigint | undefined
    try {
      share = decryptShare(this.keys.secretKey, deal.dealer, this.session, deal.encryptedShares[this.index - 1]!)
    } catch (e) {
      if (!isPouwError(e) || e.code !== DKG_ERRORS.BAD_CIPHERTEXT) throw e
    }
    if (share !== undefined && verifyShare(deal.commitments, this.index, share)) {
      this.myShares.set(dealer, share)
      return []
    }
    // already complained ('missing', before the deal came): the justification settles both
    return this.complaints.has(pair(this.index, dealer)) ? [] : [this.complain(dealer, 'bad-share')]
  }

  private complain(accused: number, reason: DkgComplaintReason): DkgComplaint {
    const msg = signDkgMessage<DkgComplaint>({
      kind: 'complaint', session: this.session, complainer: this.keys.publicKey, accused: this.committee[accused - 1]!, reason,
    }, this.keys.secretKey)
    this.complaints.set(pair(this.index, accused), { msg, hex: toHex(dkgMessageToBytes(msg)), complainer: this.index, accused })
    return msg
  }

  /** A complaint against us: reveal the complainer's share (and re-send the deal it says it lacks). */
  private answer(complainer: number, reason: DkgComplaintReason): DkgMessage[] {
    const key = pair(this.index, complainer)
    if (this.justifications.has(key)) return []
    const msg = signDkgMessage<DkgJustification>({
      kind: 'justification', session: this.session, dealer: this.keys.publicKey, complainer: this.committee[complainer - 1]!,
      share: evaluatePolynomial(this.poly, complainer),
    }, this.keys.secretKey)
    this.justifications.set(key, { msg, hex: toHex(dkgMessageToBytes(msg)), dealer: this.index, complainer })
    return reason === 'missing' ? [this.ownDeal, msg] : [msg]
  }

  private justificationIsValid(dealer: number, complainer: number): boolean | undefined {
    const key = pair(dealer, complainer)
    const j = this.justifications.get(key)
    const deal = this.deals.get(dealer)
    if (j === undefined || deal === undefined) return undefined
    let ok = this.justificationValid.get(key)
    if (ok === undefined) {
      ok = verifyShare(deal.msg.commitments, complainer, j.msg.share)
      this.justificationValid.set(key, ok)
    }
    return ok
  }

  private ruling(complainer: number, accused: number): DkgRuling {
    const ok = this.justificationIsValid(accused, complainer)
    if (ok === undefined) return this.phase === 'final' ? 'upheld' : 'pending'
    return ok ? 'dismissed' : 'upheld'
  }

  private disqualified(): number[] {
    const out = new Set<number>()
    if (this.phase === 'final') for (let d = 1; d <= this.n; d++) if (!this.deals.has(d)) out.add(d)
    for (const c of this.complaints.values()) if (this.ruling(c.complainer, c.accused) === 'upheld') out.add(c.accused)
    return [...out].sort((a, b) => a - b)
  }

  /** Our share from a dealer: the one we decrypted, or the one it revealed to answer our complaint. */
  private shareFrom(dealer: number): bigint | undefined {
    const mine = this.myShares.get(dealer)
    if (mine !== undefined) return mine
    return this.justificationIsValid(dealer, this.index) === true ? this.justifications.get(pair(dealer, this.index))!.msg.share : undefined
  }

  /**
   * The result, when every qualified dealer's deal is here and every complaint
   * against a qualified dealer is ruled; undefined otherwise.
   */
  private currentResult(): DkgResult | undefined {
    const dq = new Set(this.disqualified())
    const qualified = range(this.n).filter((d) => !dq.has(d))
    for (const c of this.complaints.values()) if (!dq.has(c.accused) && this.ruling(c.complainer, c.accused) === 'pending') return undefined
    const shares: bigint[] = []
    for (const d of qualified) {
      const s = this.deals.has(d) ? this.shareFrom(d) : undefined
      if (s === undefined) return undefined
      shares.push(s)
    }
    const key = qualified.join(',')
    if (this.resultCache?.key === key) return this.resultCache.result
    const commitments = qualified.map((d) => this.deals.get(d)!.msg.commitments)
    const publicShares = publicSharesFor(commitments, this.n)
    const secretShare = shares.reduce((a, b) => (a + b) % CURVE_ORDER, 0n)
    const result: DkgResult = { groupPublicKey: groupPublicKey(commitments), secretShare, index: this.index, publicShares, qualified, t: this.t }
    if (!verifyShare([publicShares[this.index - 1]!], 1, secretShare)) throw new Error('internal: our key share does not match our public share')
    this.resultCache = { key, result }
    return result
  }

  private confirmations(r: DkgResult): number[] {
    const key = qualifiedKey(r.groupPublicKey, r.qualified)
    return [...this.successes.entries()].filter(([, m]) => m.has(key)).map(([i]) => i).sort((a, b) => a - b)
  }

  /**
   * After any change: post a DkgSuccess when our result is new, and freeze
   * the result once every qualified member has confirmed it.
   */
  private afterChange(): DkgMessage[] {
    if (this.frozen !== undefined) {
      // final by timeout: confirmations may still complete it
      this.complete ||= this.isConfirmed(this.frozen)
      return []
    }
    const r = this.currentResult()
    if (r === undefined) return []
    const out: DkgMessage[] = []
    const key = qualifiedKey(r.groupPublicKey, r.qualified)
    if (this.lastSuccess !== key) {
      this.lastSuccess = key
      const msg = signDkgMessage<DkgSuccess>({
        kind: 'success', session: this.session, member: this.keys.publicKey, groupPublicKey: r.groupPublicKey, qualified: r.qualified,
      }, this.keys.secretKey)
      let mine = this.successes.get(this.index)
      if (mine === undefined) this.successes.set(this.index, (mine = new Map()))
      mine.set(key, msg)
      out.push(msg)
    }
    if (this.isConfirmed(r)) {
      this.complete = true
      this.frozen = r
    }
    return out
  }

  private isConfirmed(r: DkgResult): boolean {
    const confirmed = new Set(this.confirmations(r))
    return r.qualified.every((i) => confirmed.has(i))
  }
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1)
}
