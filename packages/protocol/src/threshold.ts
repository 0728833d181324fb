import { bls12_381 } from '@noble/curves/bls12-381.js'
import { ed25519, x25519 } from '@noble/curves/ed25519.js'
import { bigIntToBytes, bytesToBigInt, concatBytes, toHex } from './bytes.js'
import { PouwError, protocolError } from './errors.js'
import { TAGS, taggedHash } from './hash.js'
import { PUBLIC_KEY_SIZE, SECRET_KEY_SIZE } from './sign.js'

/**
 * t-of-n threshold BLS signatures over BLS12-381 (paper §4.2.1, Appendix D).
 *
 * - Public keys (group key, public shares, Feldman commitments) live in G1:
 *   48-byte compressed points. Signatures live in G2: 96-byte compressed
 *   points. This is noble's `longSignatures` mode (the Ethereum 2 layout), so a
 *   combined signature verifies with plain `bls12_381.longSignatures.verify`
 *   against the group key and `hashToG2(message)`.
 * - A secret share is a scalar mod r (the order of G1 and G2). Member `i`
 *   (1-based, committee keys sorted bytewise) holds x_i = S(i) where
 *   S = Σ_{d qualified} S_d is the sum of the dealers' polynomials; the group
 *   secret S(0) is never known to anyone.
 * - Signing: σ_i = x_i · H(m). Combining: Σ λ_i σ_i over any t distinct
 *   indices, λ_i the Lagrange coefficients at 0, gives S(0) · H(m), the
 *   signature the group key g · S(0) verifies (Appendix D step 3).
 *
 * Everything here is pure: randomness comes in as `randomBytes`. Functions
 * that judge untrusted points (`verify*`) never throw, they answer false;
 * functions that compute from points throw a PouwError with PROTOCOL_BAD_VALUE
 * on malformed input.
 */

export const BLS_PUBLIC_KEY_SIZE = 48
export const BLS_SIGNATURE_SIZE = 96
/** a secret share or a polynomial coefficient: 32 bytes big-endian, < CURVE_ORDER */
export const BLS_SCALAR_SIZE = 32
/** Largest committee the DKG and the wire formats accept. */
export const MAX_COMMITTEE_SIZE = 64
/**
 * Hash-to-curve domain separation tag (RFC 9380 §3.1 form: our application and
 * version, then the suite): signatures made for pouw can never be replayed as
 * signatures of another BLS protocol, and vice versa.
 */
export const BLS_DST = 'POUW-BLS-SIG-V1_BLS12381G2_XMD:SHA-256_SSWU_RO_'

const Fr = bls12_381.fields.Fr
const G1 = bls12_381.G1.Point
const G2 = bls12_381.G2.Point
type G1Point = InstanceType<typeof G1>
type G2Point = InstanceType<typeof G2>

/** r, the prime order of G1, G2 and the scalar field */
export const CURVE_ORDER: bigint = Fr.ORDER

export const THRESHOLD_ERRORS = {
  TOO_FEW_SHARES: 'THRESHOLD_TOO_FEW_SHARES',
  CONFLICTING_SHARES: 'THRESHOLD_CONFLICTING_SHARES',
  BAD_INDEX: 'THRESHOLD_BAD_INDEX',
} as const

/** t = ceil(2n/3), at least 1: the paper's 2/3 threshold (§4.2.1). */
export function thresholdFor(n: number): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`internal: committee size ${n} is not a positive integer`)
  return Math.max(1, Math.ceil((2 * n) / 3))
}

// ---------------------------------------------------------------- points

/**
 * Decoded G1 points by their bytes. The same commitments are decoded by the
 * wire decoder, the DKG state machine and `publicShareOf`; each decoding
 * includes a subgroup check (~2 ms), so remember a bounded number of them.
 * The cache only ever maps bytes to the point those bytes encode.
 */
const g1Cache = new Map<string, G1Point>()
const G1_CACHE_MAX = 4096

function g1FromBytes(b: Uint8Array, what: string): G1Point {
  if (!(b instanceof Uint8Array) || b.length !== BLS_PUBLIC_KEY_SIZE) {
    throw protocolError('BAD_VALUE', `${what}: expected a ${BLS_PUBLIC_KEY_SIZE}-byte G1 point, got ${describe(b)}`)
  }
  const id = toHex(b)
  let p = g1Cache.get(id)
  if (p === undefined) {
    try {
      p = G1.fromBytes(b)
    } catch (e) {
      throw protocolError('BAD_VALUE', `${what}: not a point of G1 (${(e as Error).message})`)
    }
    if (g1Cache.size >= G1_CACHE_MAX) g1Cache.clear()
    g1Cache.set(id, p)
  }
  return p
}

function g2FromBytes(b: Uint8Array, what: string): G2Point {
  if (!(b instanceof Uint8Array) || b.length !== BLS_SIGNATURE_SIZE) {
    throw protocolError('BAD_VALUE', `${what}: expected a ${BLS_SIGNATURE_SIZE}-byte G2 point, got ${describe(b)}`)
  }
  try {
    return G2.fromBytes(b)
  } catch (e) {
    throw protocolError('BAD_VALUE', `${what}: not a point of G2 (${(e as Error).message})`)
  }
}

function describe(b: unknown): string {
  return b instanceof Uint8Array ? `${b.length} bytes` : typeof b
}

/**
 * Strict check of an encoded G1 point for the wire: 48 bytes, on the curve,
 * in the prime-order subgroup, and not the identity (no honest key or
 * commitment is ever the identity; refusing it keeps degenerate keys out).
 * Throws PROTOCOL_BAD_VALUE.
 */
export function assertValidG1(b: Uint8Array, what: string): void {
  if (g1FromBytes(b, what).is0()) throw protocolError('BAD_VALUE', `${what}: the identity is not allowed`)
}

/** The G1 point s·g for a scalar 0 ≤ s < r (0 gives the identity). */
function g1Mul(s: bigint): G1Point {
  return s === 0n ? G1.ZERO : G1.BASE.multiply(s)
}

/** Σ_j points[j] · x^j by Horner's rule; x is a small public index, so the variable-time multiply is fine. */
function evalInExponent(points: G1Point[], x: number): G1Point {
  const X = BigInt(x)
  let acc = G1.ZERO
  for (let j = points.length - 1; j >= 0; j--) acc = acc.multiplyUnsafe(X).add(points[j]!)
  return acc
}

function assertIndex(index: number, what: string): void {
  if (!Number.isSafeInteger(index) || index < 1 || index > 0xffff_ffff) {
    throw new PouwError(THRESHOLD_ERRORS.BAD_INDEX, `${what}: index ${index} is not an integer in 1..2^32-1`)
  }
}

// ---------------------------------------------------------------- polynomials

function randomScalar(randomBytes: (n: number) => Uint8Array): bigint {
  for (;;) {
    // 48 bytes reduced mod r (as RFC 9380 hash_to_field does): bias < 2^-128
    const b = randomBytes(48)
    if (!(b instanceof Uint8Array) || b.length !== 48) throw new Error('internal: randomBytes(48) did not return 48 bytes')
    const s = Fr.create(bytesToBigInt(b))
    if (s !== 0n) return s
  }
}

/**
 * A random polynomial of degree t - 1: t nonzero coefficients mod r
 * (Appendix C step 1: S_i(x) = s_i0 + s_i1 x + ... + s_i,t-1 x^(t-1)).
 */
export function randomPolynomial(t: number, randomBytes: (n: number) => Uint8Array): bigint[] {
  if (!Number.isSafeInteger(t) || t < 1 || t > MAX_COMMITTEE_SIZE) throw new Error(`internal: threshold ${t} out of 1..${MAX_COMMITTEE_SIZE}`)
  return Array.from({ length: t }, () => randomScalar(randomBytes))
}

/** S(x) mod r by Horner's rule (x = 0 gives the free term). */
export function evaluatePolynomial(coeffs: bigint[], x: number): bigint {
  if (!Number.isSafeInteger(x) || x < 0) throw new Error(`internal: evaluation point ${x} is not a non-negative integer`)
  const X = BigInt(x)
  let acc = 0n
  for (let j = coeffs.length - 1; j >= 0; j--) acc = Fr.add(Fr.mul(acc, X), Fr.create(coeffs[j]!))
  return acc
}

/** Feldman commitments g·s_j, 48 bytes each (Appendix C step 2: P_i(x)). */
export function commitPolynomial(coeffs: bigint[]): Uint8Array[] {
  return coeffs.map((c) => g1Mul(Fr.create(c)).toBytes())
}

/**
 * Feldman's check: g·share == Σ_j C_j · index^j. Never throws: malformed
 * commitments, a share out of range or a bad index answer false.
 */
export function verifyShare(commitments: Uint8Array[], index: number, share: bigint): boolean {
  try {
    if (typeof share !== 'bigint' || share < 0n || share >= CURVE_ORDER) return false
    if (!Number.isSafeInteger(index) || index < 1 || commitments.length < 1 || commitments.length > MAX_COMMITTEE_SIZE) return false
    const points = commitments.map((c, j) => g1FromBytes(c, `commitment ${j}`))
    return g1Mul(share).equals(evalInExponent(points, index))
  } catch {
    return false
  }
}

/** Σ over dealers of each dealer's commitment vector (all of one length t): the commitments to S = Σ S_d. */
function sumCommitments(dealerCommitments: Uint8Array[][]): G1Point[] {
  if (dealerCommitments.length === 0) throw protocolError('BAD_VALUE', 'no dealer commitments')
  const t = dealerCommitments[0]!.length
  if (t < 1 || t > MAX_COMMITTEE_SIZE) throw protocolError('BAD_VALUE', `${t} commitments per dealer, expected 1..${MAX_COMMITTEE_SIZE}`)
  const sum: G1Point[] = Array.from({ length: t }, () => G1.ZERO)
  dealerCommitments.forEach((cs, d) => {
    if (cs.length !== t) throw protocolError('BAD_VALUE', `dealer ${d} has ${cs.length} commitments, the first had ${t}`)
    cs.forEach((c, j) => { sum[j] = sum[j]!.add(g1FromBytes(c, `dealer ${d} commitment ${j}`)) })
  })
  return sum
}

/**
 * The public key of member `index`: g·x_index = Σ_d Σ_j C_dj · index^j over
 * the qualified dealers' commitments. Anyone can compute it, which is what
 * lets the leader check each signature share before combining.
 */
export function publicShareOf(dealerCommitments: Uint8Array[][], index: number): Uint8Array {
  assertIndex(index, 'publicShareOf')
  return evalInExponent(sumCommitments(dealerCommitments), index).toBytes()
}

/** Every member's public share at once: element i - 1 is member i's (one summing pass, then n evaluations). */
export function publicSharesFor(dealerCommitments: Uint8Array[][], n: number): Uint8Array[] {
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_COMMITTEE_SIZE) throw new Error(`internal: committee size ${n} out of 1..${MAX_COMMITTEE_SIZE}`)
  const sum = sumCommitments(dealerCommitments)
  return Array.from({ length: n }, (_, i) => evalInExponent(sum, i + 1).toBytes())
}

/** The group key Σ_d C_d0, the sum of the qualified dealers' free terms (Appendix C: Pk = Σ p_i,0). */
export function groupPublicKey(dealerCommitments: Uint8Array[][]): Uint8Array {
  return sumCommitments(dealerCommitments)[0]!.toBytes()
}

// ---------------------------------------------------------------- signatures

const hashCache = new Map<string, G2Point>()
const HASH_CACHE_MAX = 64

/**
 * H(m): the message hashed to G2 with our DST (hash_to_curve, RFC 9380).
 * Every member signs the same slot hash and the leader verifies each share on
 * it, so the last few are remembered.
 */
export function hashToG2(message: Uint8Array): G2Point {
  const id = toHex(message)
  let h = hashCache.get(id)
  if (h === undefined) {
    h = bls12_381.longSignatures.hash(message, BLS_DST)
    if (hashCache.size >= HASH_CACHE_MAX) hashCache.clear()
    hashCache.set(id, h)
  }
  return h
}

/** σ_i = x_i · H(m), 96 bytes (Appendix D step 2). */
export function signShare(secretShare: bigint, message: Uint8Array): Uint8Array {
  if (typeof secretShare !== 'bigint' || secretShare <= 0n || secretShare >= CURVE_ORDER) {
    throw new Error('internal: a secret share must be in 1..r-1')
  }
  return hashToG2(message).multiply(secretShare).toBytes()
}

/** e(pk, H(m)) == e(g, σ). Never throws: malformed points, the identity included, answer false. */
function pairingCheck(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    if (!(message instanceof Uint8Array)) return false
    const pk = g1FromBytes(publicKey, 'public key')
    const sig = g2FromBytes(signature, 'signature')
    if (pk.is0() || sig.is0()) return false
    return bls12_381.longSignatures.verify(sig, hashToG2(message), pk)
  } catch {
    return false
  }
}

/** Checks one member's signature share against its public share (`publicShareOf`). Never throws. */
export function verifySignatureShare(publicShare: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  return pairingCheck(publicShare, message, signature)
}

/** Checks a combined signature against the group key. Never throws. */
export function verifyThresholdSignature(groupKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  return pairingCheck(groupKey, message, signature)
}

/** λ_i = Π_{j ≠ i} j / (j - i) mod r: the Lagrange coefficients at 0 for the given distinct indices. */
export function lagrangeCoefficientsAtZero(indices: number[]): bigint[] {
  return indices.map((i) => {
    let num = 1n
    let den = 1n
    for (const j of indices) {
      if (j === i) continue
      num = Fr.mul(num, BigInt(j))
      den = Fr.mul(den, Fr.sub(BigInt(j), BigInt(i)))
    }
    return Fr.mul(num, Fr.inv(den))
  })
}

export interface SignatureShare { index: number; signature: Uint8Array }

/**
 * Σ λ_i σ_i over the t lowest distinct indices (Lagrange interpolation at 0
 * in the exponent, Appendix D step 3). Any t valid shares give the same bytes.
 *
 * It does not check the shares: a leader either verifies each share first
 * (`verifySignatureShare`) or verifies the result once and falls back to
 * checking shares only when it fails. Throws THRESHOLD_TOO_FEW_SHARES with
 * fewer than t distinct indices, THRESHOLD_CONFLICTING_SHARES when one index
 * comes with two different signatures, THRESHOLD_BAD_INDEX, or
 * PROTOCOL_BAD_VALUE for a malformed point.
 */
export function combineSignatures(shares: SignatureShare[], t: number): Uint8Array {
  if (!Number.isSafeInteger(t) || t < 1) throw new Error(`internal: threshold ${t} is not a positive integer`)
  const byIndex = new Map<number, Uint8Array>()
  for (const s of shares) {
    assertIndex(s.index, 'signature share')
    const prev = byIndex.get(s.index)
    if (prev === undefined) byIndex.set(s.index, s.signature)
    else if (toHex(prev) !== toHex(s.signature)) {
      throw new PouwError(THRESHOLD_ERRORS.CONFLICTING_SHARES, `two different signature shares for index ${s.index}`, { index: s.index })
    }
  }
  if (byIndex.size < t) {
    throw new PouwError(THRESHOLD_ERRORS.TOO_FEW_SHARES, `${byIndex.size} distinct signature shares, ${t} needed`, { have: byIndex.size, need: t })
  }
  const indices = [...byIndex.keys()].sort((a, b) => a - b).slice(0, t)
  const lambdas = lagrangeCoefficientsAtZero(indices)
  let acc = G2.ZERO
  indices.forEach((i, k) => {
    const sig = g2FromBytes(byIndex.get(i)!, `signature share ${i}`)
    acc = acc.add(sig.multiplyUnsafe(lambdas[k]!))
  })
  return acc.toBytes()
}

// ---------------------------------------------------------------- share encryption

/** 32 bytes of XOR-encrypted share, then a 32-byte MAC */
export const ENCRYPTED_SHARE_SIZE = 64

export const DKG_BAD_CIPHERTEXT = 'DKG_BAD_CIPHERTEXT'

/**
 * X25519 between our Ed25519 seed and their Ed25519 public key (the birational
 * map Ed25519 → Curve25519, as libsodium's crypto_sign_ed25519_*_to_curve25519).
 */
function sharedSecret(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== SECRET_KEY_SIZE) throw new Error('internal: expected a 32-byte Ed25519 seed')
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== PUBLIC_KEY_SIZE) {
    throw new PouwError(DKG_BAD_CIPHERTEXT, `peer key: expected ${PUBLIC_KEY_SIZE} bytes, got ${describe(publicKey)}`)
  }
  try {
    return x25519.getSharedSecret(ed25519.utils.toMontgomerySecret(secretKey), ed25519.utils.toMontgomery(publicKey))
  } catch (e) {
    // not a point, or a small-order point (all-zero shared secret)
    throw new PouwError(DKG_BAD_CIPHERTEXT, `peer key unusable for X25519: ${(e as Error).message}`)
  }
}

/**
 * The keystream and the MAC key, bound to the shared secret, the direction
 * (sender key, recipient key: X25519 is symmetric, so without it the share A
 * sends B and the share B sends A would use the same keystream) and the
 * caller's context (the DKG session id).
 */
function shareKeys(shared: Uint8Array, sender: Uint8Array, recipient: Uint8Array, context: Uint8Array): { stream: Uint8Array; mac: Uint8Array } {
  const ctx = concatBytes(shared, sender, recipient, context)
  return { stream: taggedHash(TAGS.dkgShareKey, ctx), mac: taggedHash(TAGS.dkgShareMac, ctx) }
}

/**
 * Encrypts a 32-byte share for one committee member: X25519 from the two
 * Ed25519 keys, then a one-time pad and a MAC from tagged SHA-256.
 *
 * Why this is enough here:
 * - Confidentiality: the pad is H(shared secret, sender, recipient, session),
 *   a fresh 32-byte key per (dealer, recipient, session), and each dealer
 *   encrypts exactly one share per recipient per session, so the pad is never
 *   reused by an honest dealer (a dealer who equivocates only leaks its own
 *   polynomial, and is refused for the second deal anyway).
 * - Integrity: the MAC is H_mac(key material ‖ ciphertext) over a fixed-length
 *   ciphertext (no length extension is possible: the decoder takes exactly 64
 *   bytes), so a wrong key or a flipped bit is detected: DKG_BAD_CIPHERTEXT.
 * - Authenticity of the dealer does not rest on this MAC alone: the whole deal
 *   (commitments and every ciphertext) is signed with the dealer's Ed25519 key,
 *   and the share is then checked against the signed Feldman commitments. A
 *   share that decrypts but fails that check is a complaint, and the dealer
 *   must reveal it publicly (Appendix C), so the encryption only has to keep
 *   honest shares secret from the other members, not settle disputes.
 */
export function encryptShare(senderSecretKey: Uint8Array, recipientPublicKey: Uint8Array, context: Uint8Array, share: bigint): Uint8Array {
  if (typeof share !== 'bigint' || share < 0n || share >= CURVE_ORDER) throw new Error('internal: share out of range')
  const shared = sharedSecret(senderSecretKey, recipientPublicKey)
  const { stream, mac } = shareKeys(shared, ed25519.getPublicKey(senderSecretKey), recipientPublicKey, context)
  const pt = bigIntToBytes(share, BLS_SCALAR_SIZE)
  const ct = pt.map((b, i) => b ^ stream[i]!)
  return concatBytes(ct, taggedHash(TAGS.dkgShareMac, mac, ct))
}

/** Inverse of encryptShare. Throws DKG_BAD_CIPHERTEXT on a wrong key, a tampered ciphertext or a share ≥ r. */
export function decryptShare(recipientSecretKey: Uint8Array, senderPublicKey: Uint8Array, context: Uint8Array, ciphertext: Uint8Array): bigint {
  if (!(ciphertext instanceof Uint8Array) || ciphertext.length !== ENCRYPTED_SHARE_SIZE) {
    throw new PouwError(DKG_BAD_CIPHERTEXT, `expected ${ENCRYPTED_SHARE_SIZE} bytes, got ${describe(ciphertext)}`)
  }
  const shared = sharedSecret(recipientSecretKey, senderPublicKey)
  const { stream, mac } = shareKeys(shared, senderPublicKey, ed25519.getPublicKey(recipientSecretKey), context)
  const ct = ciphertext.subarray(0, BLS_SCALAR_SIZE)
  const tag = taggedHash(TAGS.dkgShareMac, mac, ct)
  let diff = 0
  for (let i = 0; i < 32; i++) diff |= tag[i]! ^ ciphertext[BLS_SCALAR_SIZE + i]!
  if (diff !== 0) throw new PouwError(DKG_BAD_CIPHERTEXT, 'MAC mismatch: wrong key or tampered ciphertext')
  const share = bytesToBigInt(ct.map((b, i) => b ^ stream[i]!))
  if (share >= CURVE_ORDER) throw new PouwError(DKG_BAD_CIPHERTEXT, 'decrypted share is not below the curve order')
  return share
}
