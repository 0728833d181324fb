import { ed25519 } from '@noble/curves/ed25519.js'
import { sha256, sha512 } from '@noble/hashes/sha2.js'
import { concatBytes } from './bytes.js'
import { protocolError } from './errors.js'

/**
 * ECVRF-EDWARDS25519-SHA512-TAI, RFC 9381 (suite string 0x03), on @noble/curves.
 *
 *   vrfProve(sk, alpha)       -> pi (80 bytes: Gamma 32 || c 16 || s 32)
 *   vrfVerify(pk, alpha, pi)  -> beta (64 bytes), or undefined when invalid
 *   vrfProofToHash(pi)        -> beta, WITHOUT verifying pi (RFC 9381 §5.2)
 *
 * Keys are Ed25519 keys (RFC 8032 §5.1.5): the secret key is the 32-byte seed,
 * the public key its 32-byte encoding. Verification always runs the RFC's
 * ECVRF_validate_key (a small-order public key is refused), so the outputs are
 * unique even against a malicious key holder (the "full uniqueness" of
 * RFC 9381 §3.2). Point decoding is the strict RFC 8032 §5.1.3 rule (y < p, no
 * sign bit on x = 0), the same as sign.ts uses for signatures.
 *
 * Integers in this suite are little-endian (int_to_string / string_to_int of
 * RFC 9381 §5.5 for edwards25519), unlike our big-endian wire encodings.
 *
 * Key separation: the nonce of ECVRF (SHA512(prefix || H)) and of Ed25519
 * (SHA512(prefix || M)) are built the same way from the same key, so if the
 * same seed ever signed a raw 32-byte message equal to a VRF's H, the two
 * answers would reveal the secret scalar. Our signatures are over tagged
 * hashes, which makes that a preimage attack; still, give the VRF its own key:
 * deriveVrfSecretKey(seed) does that in one line.
 */
export const VRF_SUITE = 0x03
export const VRF_PROOF_SIZE = 80
export const VRF_OUTPUT_SIZE = 64
export const VRF_PUBLIC_KEY_SIZE = 32
export const VRF_SECRET_KEY_SIZE = 32

const Point = ed25519.Point
type EdPoint = ReturnType<typeof Point.fromBytes>
const L = Point.Fn.ORDER // prime order q of the subgroup
const C_LEN = 16
const PT_LEN = 32
const Q_LEN = 32

const SUITE = Uint8Array.of(VRF_SUITE)
const ZERO = Uint8Array.of(0x00)
const ENCODE_FRONT = Uint8Array.of(0x01)
const CHALLENGE_FRONT = Uint8Array.of(0x02)
const PROOF_TO_HASH_FRONT = Uint8Array.of(0x03)

function leToBigInt(b: Uint8Array): bigint {
  let v = 0n
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!)
  return v
}

function bigIntToLe(v: bigint, size: number): Uint8Array {
  const out = new Uint8Array(size)
  for (let i = 0; i < size; i++) { out[i] = Number(v & 0xffn); v >>= 8n }
  return out
}

/** RFC 8032 §5.1.3 decoding, strict; undefined instead of throwing */
function stringToPoint(b: Uint8Array): EdPoint | undefined {
  try {
    return Point.fromBytes(b, false)
  } catch {
    return undefined
  }
}

/**
 * RFC 9381 §5.4.1.1 ECVRF_encode_to_curve_try_and_increment, with
 * encode_to_curve_salt = PK_string. Returns H already multiplied by the
 * cofactor, as the RFC does.
 */
function encodeToCurve(salt: Uint8Array, alpha: Uint8Array): EdPoint {
  const ctr = new Uint8Array(1)
  for (let i = 0; i < 256; i++) {
    ctr[0] = i
    const hash = sha512.create().update(SUITE).update(ENCODE_FRONT).update(salt).update(alpha).update(ctr).update(ZERO).digest()
    // interpret_hash_value_as_a_point: string_to_point of the first ptLen bytes
    const p = stringToPoint(hash.subarray(0, PT_LEN))
    if (p === undefined) continue
    const h = p.clearCofactor()
    if (!h.is0()) return h
  }
  // Each try succeeds with probability about 1/2: 256 failures do not happen.
  throw new Error('internal: ECVRF encode_to_curve found no point in 256 tries')
}

/** RFC 9381 §5.4.3 ECVRF_challenge_generation: the first cLen bytes of the hash, little-endian */
function challenge(points: Uint8Array[]): bigint {
  const h = sha512.create().update(SUITE).update(CHALLENGE_FRONT)
  for (const p of points) h.update(p)
  return leToBigInt(h.update(ZERO).digest().subarray(0, C_LEN))
}

/** RFC 9381 §5.2 ECVRF_proof_to_hash given the decoded Gamma */
function gammaToHash(gamma: EdPoint): Uint8Array {
  return sha512.create().update(SUITE).update(PROOF_TO_HASH_FRONT).update(gamma.clearCofactor().toBytes()).update(ZERO).digest()
}

interface DecodedProof { gamma: EdPoint; gammaBytes: Uint8Array; c: bigint; s: bigint }

/** RFC 9381 §5.4.4 ECVRF_decode_proof; undefined for INVALID */
function decodeProof(pi: Uint8Array): DecodedProof | undefined {
  if (!(pi instanceof Uint8Array) || pi.length !== VRF_PROOF_SIZE) return undefined
  const gammaBytes = pi.subarray(0, PT_LEN)
  const gamma = stringToPoint(gammaBytes)
  if (gamma === undefined) return undefined
  const c = leToBigInt(pi.subarray(PT_LEN, PT_LEN + C_LEN))
  const s = leToBigInt(pi.subarray(PT_LEN + C_LEN, PT_LEN + C_LEN + Q_LEN))
  if (s >= L) return undefined
  return { gamma, gammaBytes, c, s }
}

/** The public key of a VRF secret key (the Ed25519 public key of the seed). */
export function vrfPublicKey(secretKey: Uint8Array): Uint8Array {
  return ed25519.getPublicKey(secretKey)
}

/**
 * A VRF seed derived from a node's signing seed, so that the VRF and Ed25519
 * never share a nonce key (see the module comment):
 *   SHA256("pouw/vrf-key" || seed)
 */
export function deriveVrfSecretKey(signingSeed: Uint8Array): Uint8Array {
  if (signingSeed.length !== VRF_SECRET_KEY_SIZE) throw new Error(`internal: expected a ${VRF_SECRET_KEY_SIZE}-byte seed, got ${signingSeed.length}`)
  return sha256(concatBytes(new TextEncoder().encode('pouw/vrf-key'), signingSeed))
}

/** RFC 9381 §5.1 ECVRF_prove. Deterministic: the same key and alpha give the same pi. */
export function vrfProve(secretKey: Uint8Array, alpha: Uint8Array): Uint8Array {
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== VRF_SECRET_KEY_SIZE) {
    throw new Error(`internal: a VRF secret key is ${VRF_SECRET_KEY_SIZE} bytes`)
  }
  // x: the clamped scalar of RFC 8032 §5.1.5 (reduced mod q, the same point);
  // prefix: the second half of SHA512(sk), the nonce key of §5.4.2.2.
  const { prefix, scalar: x, pointBytes: pk } = ed25519.utils.getExtendedPublicKey(secretKey)
  const h = encodeToCurve(pk, alpha)
  const hBytes = h.toBytes()
  const gamma = h.multiply(x)
  // RFC 9381 §5.4.2.2 ECVRF_nonce_generation_RFC8032
  const k = Point.Fn.create(leToBigInt(sha512(concatBytes(prefix, hBytes))))
  const u = Point.BASE.multiply(k)
  const v = h.multiply(k)
  const c = challenge([pk, hBytes, gamma.toBytes(), u.toBytes(), v.toBytes()])
  const s = Point.Fn.create(k + c * x)
  return concatBytes(gamma.toBytes(), bigIntToLe(c, C_LEN), bigIntToLe(s, Q_LEN))
}

/**
 * RFC 9381 §5.3 ECVRF_verify with validate_key = TRUE. Returns beta when pi is
 * a valid proof for (publicKey, alpha), undefined otherwise. Never throws:
 * anything malformed (wrong sizes, bytes that are not points, s >= q, a
 * small-order key) is simply invalid.
 */
export function vrfVerify(publicKey: Uint8Array, alpha: Uint8Array, pi: Uint8Array): Uint8Array | undefined {
  try {
    if (!(publicKey instanceof Uint8Array) || publicKey.length !== VRF_PUBLIC_KEY_SIZE) return undefined
    if (!(alpha instanceof Uint8Array)) return undefined
    const y = stringToPoint(publicKey)
    if (y === undefined || y.isSmallOrder()) return undefined // ECVRF_validate_key
    const d = decodeProof(pi)
    if (d === undefined) return undefined
    const h = encodeToCurve(publicKey, alpha)
    // public data only: the faster variable-time multiplication is fine
    const u = Point.BASE.multiplyUnsafe(d.s).subtract(y.multiplyUnsafe(d.c))
    const v = h.multiplyUnsafe(d.s).subtract(d.gamma.multiplyUnsafe(d.c))
    const c2 = challenge([publicKey, h.toBytes(), d.gammaBytes, u.toBytes(), v.toBytes()])
    return c2 === d.c ? gammaToHash(d.gamma) : undefined
  } catch {
    return undefined
  }
}

/**
 * RFC 9381 §5.2 ECVRF_proof_to_hash: beta from pi, without checking the
 * proof. Only for a pi that was verified, or that we made; untrusted pi go
 * through vrfVerify, which returns the same beta. Throws PROTOCOL_BAD_VALUE
 * when pi cannot be decoded.
 */
export function vrfProofToHash(pi: Uint8Array): Uint8Array {
  const d = decodeProof(pi)
  if (d === undefined) {
    throw protocolError('BAD_VALUE', `VRF proof: expected ${VRF_PROOF_SIZE} bytes with a valid point and s < q`)
  }
  return gammaToHash(d.gamma)
}
