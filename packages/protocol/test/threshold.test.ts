/**
 * t-of-n threshold BLS (threshold.ts): polynomials and Feldman checks, public
 * shares, signature shares, Lagrange combination over every t-subset,
 * refusals, forged signatures, agreement with noble's plain BLS verification,
 * and the DKG share encryption.
 *
 * Cost: a BLS verification is two pairings (~30 ms here); this file makes
 * about 30 of them.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { bls12_381 } from '@noble/curves/bls12-381.js'
import {
  BLS_PUBLIC_KEY_SIZE, BLS_SIGNATURE_SIZE, CURVE_ORDER, DKG_BAD_CIPHERTEXT, ENCRYPTED_SHARE_SIZE, THRESHOLD_ERRORS,
  combineSignatures, commitPolynomial, decryptShare, encryptShare, evaluatePolynomial, generateKeyPair, groupPublicKey,
  hashToG2, lagrangeCoefficientsAtZero, publicShareOf, publicSharesFor, randomPolynomial, signShare, thresholdFor,
  verifyShare, verifySignatureShare, verifyThresholdSignature, type SignatureShare,
} from '../src/index.js'
import { Prng, hex, throwsCode, utf8 } from './helpers.js'

const rand = (seed: number): ((n: number) => Uint8Array) => {
  const rng = new Prng(seed)
  return (n) => rng.bytes(n)
}

const flip = (b: Uint8Array, bit: number): Uint8Array => {
  const out = b.slice()
  out[bit >> 3]! ^= 1 << (bit & 7)
  return out
}

/** all k-subsets of xs */
function subsets<T>(xs: T[], k: number): T[][] {
  if (k === 0) return [[]]
  if (xs.length < k) return []
  const [first, ...rest] = xs
  return [...subsets(rest, k - 1).map((s) => [first!, ...s]), ...subsets(rest, k)]
}

/** what a DKG produces, dealt centrally: n dealers' polynomials, every member's summed share */
function deal(n: number, t: number, seed: number): { secret: bigint; shares: bigint[]; commitments: Uint8Array[][] } {
  const rb = rand(seed)
  const polys = Array.from({ length: n }, () => randomPolynomial(t, rb))
  const shares = Array.from({ length: n }, (_, i) => polys.reduce((a, p) => (a + evaluatePolynomial(p, i + 1)) % CURVE_ORDER, 0n))
  const secret = polys.reduce((a, p) => (a + p[0]!) % CURVE_ORDER, 0n)
  return { secret, shares, commitments: polys.map(commitPolynomial) }
}

const MSG = utf8('slot 42: block hash')

describe('threshold: parameters and polynomials', () => {
  it('thresholdFor(n) = ceil(2n/3), at least 1', () => {
    const want: Record<number, number> = { 1: 1, 2: 2, 3: 2, 4: 3, 5: 4, 6: 4, 7: 5, 9: 6, 10: 7, 64: 43 }
    for (const [n, t] of Object.entries(want)) assert.equal(thresholdFor(Number(n)), t, `n = ${n}`)
    assert.throws(() => thresholdFor(0))
  })

  it('randomPolynomial: t nonzero coefficients below r, deterministic in randomBytes', () => {
    const p = randomPolynomial(4, rand(1))
    assert.equal(p.length, 4)
    for (const c of p) assert.ok(c > 0n && c < CURVE_ORDER)
    assert.deepEqual(randomPolynomial(4, rand(1)), p)
    assert.notDeepEqual(randomPolynomial(4, rand(2)), p)
    // a source that returns zeros first is redrawn, never a zero coefficient
    let calls = 0
    const q = randomPolynomial(1, (n) => (calls++ === 0 ? new Uint8Array(n) : new Uint8Array(n).fill(7)))
    assert.equal(calls, 2)
    assert.ok(q[0]! > 0n)
  })

  it('evaluatePolynomial is Horner mod r; x = 0 is the free term', () => {
    const p = [5n, 3n, 2n]
    assert.equal(evaluatePolynomial(p, 0), 5n)
    assert.equal(evaluatePolynomial(p, 1), 10n)
    assert.equal(evaluatePolynomial(p, 4), 5n + 12n + 32n)
    assert.equal(evaluatePolynomial([CURVE_ORDER - 1n, 1n], 1), 0n)
  })

  it('Feldman: every share verifies against the commitments, a wrong one or a wrong index does not', () => {
    const p = randomPolynomial(3, rand(3))
    const c = commitPolynomial(p)
    assert.equal(c.length, 3)
    for (const x of c) assert.equal(x.length, BLS_PUBLIC_KEY_SIZE)
    for (let i = 1; i <= 5; i++) assert.equal(verifyShare(c, i, evaluatePolynomial(p, i)), true, `index ${i}`)
    assert.equal(verifyShare(c, 2, evaluatePolynomial(p, 2) + 1n), false)
    assert.equal(verifyShare(c, 3, evaluatePolynomial(p, 2)), false)
    assert.equal(verifyShare(c, 2, CURVE_ORDER + evaluatePolynomial(p, 2)), false, 'not reduced')
    assert.equal(verifyShare(c, 0, p[0]!), false, 'index 0 is the secret, never a share')
    // malformed commitments: false, never a throw
    assert.equal(verifyShare([new Uint8Array(48)], 1, 1n), false)
    assert.equal(verifyShare([c[0]!.subarray(1)], 1, 1n), false)
    assert.equal(verifyShare([], 1, 1n), false)
    assert.equal(verifyShare([flip(c[0]!, 200), c[1]!, c[2]!], 1, evaluatePolynomial(p, 1)), false)
  })

  it('public shares and the group key follow from the commitments alone', () => {
    const { secret, shares, commitments } = deal(4, 3, 4)
    const all = publicSharesFor(commitments, 4)
    for (let i = 1; i <= 4; i++) {
      assert.equal(hex(publicShareOf(commitments, i)), hex(commitPolynomial([shares[i - 1]!])[0]!), `member ${i}`)
      assert.equal(hex(all[i - 1]!), hex(publicShareOf(commitments, i)))
    }
    assert.equal(hex(groupPublicKey(commitments)), hex(commitPolynomial([secret])[0]!))
    throwsCode(() => groupPublicKey([commitments[0]!, commitments[1]!.slice(0, 2)]), 'PROTOCOL_BAD_VALUE')
    throwsCode(() => groupPublicKey([[new Uint8Array(48)]]), 'PROTOCOL_BAD_VALUE')
    throwsCode(() => publicShareOf(commitments, 0), THRESHOLD_ERRORS.BAD_INDEX)
  })

  it('Lagrange coefficients at 0 interpolate the free term', () => {
    const p = [11n, 22n, 33n]
    const idx = [2, 5, 7]
    const l = lagrangeCoefficientsAtZero(idx)
    const at0 = idx.reduce((a, i, k) => (a + l[k]! * evaluatePolynomial(p, i)) % CURVE_ORDER, 0n)
    assert.equal(at0, 11n)
  })
})

describe('threshold: signing and combining', () => {
  const N = 5
  const T = 3
  const { secret, shares, commitments } = deal(N, T, 5)
  const group = groupPublicKey(commitments)
  const pubs = publicSharesFor(commitments, N)
  const sigs: SignatureShare[] = shares.map((x, i) => ({ index: i + 1, signature: signShare(x, MSG) }))

  it('every signature share verifies against its public share, not against another', () => {
    for (const s of sigs) {
      assert.equal(s.signature.length, BLS_SIGNATURE_SIZE)
      assert.equal(verifySignatureShare(pubs[s.index - 1]!, MSG, s.signature), true, `share ${s.index}`)
    }
    assert.equal(verifySignatureShare(pubs[1]!, MSG, sigs[0]!.signature), false, 'share 1 under key 2')
  })

  it('a forged or tampered signature share fails', () => {
    const s = sigs[0]!.signature
    const pub = pubs[0]!
    assert.equal(verifySignatureShare(pub, utf8('another slot'), s), false, 'other message')
    assert.equal(verifySignatureShare(pub, MSG, signShare(shares[0]! + 1n, MSG)), false, 'wrong scalar')
    assert.equal(verifySignatureShare(pub, MSG, flip(s, 300)), false, 'bit flipped')
    assert.equal(verifySignatureShare(pub, MSG, s.subarray(0, 95)), false, 'truncated')
    assert.equal(verifySignatureShare(pub, MSG, new Uint8Array(96)), false, 'zeros')
    const identity = new Uint8Array(96)
    identity[0] = 0xc0
    assert.equal(verifySignatureShare(pub, MSG, identity), false, 'identity')
    assert.equal(verifySignatureShare(flip(pub, 100), MSG, s), false, 'bad key')
  })

  it(`every ${T}-subset of ${N} signers gives the same signature: the group secret's, which verifies`, () => {
    const combos = subsets(sigs, T)
    assert.equal(combos.length, 10)
    const first = combineSignatures(combos[0]!, T)
    for (const c of combos.slice(1)) assert.equal(hex(combineSignatures(c, T)), hex(first), `signers ${c.map((s) => s.index)}`)
    // more than t shares, in any order, with repeats: the same
    assert.equal(hex(combineSignatures([...sigs].reverse().concat(sigs[2]!), T)), hex(first))
    assert.equal(hex(first), hex(signShare(secret, MSG)), 'equals a signature with the (never assembled) group secret')
    assert.equal(verifyThresholdSignature(group, MSG, first), true)
    assert.equal(verifyThresholdSignature(group, utf8('another slot'), first), false)
  })

  it('noble verification agrees with verifyThresholdSignature (same DST, same encoding)', () => {
    const bls = bls12_381.longSignatures
    const sig = combineSignatures(sigs.slice(0, T), T)
    const nobleVerify = (s: Uint8Array, m: Uint8Array, pk: Uint8Array): boolean => {
      try { return bls.verify(s, hashToG2(m), pk) } catch { return false }
    }
    assert.equal(hex(hashToG2(MSG).toBytes()), hex(bls.hash(MSG, 'POUW-BLS-SIG-V1_BLS12381G2_XMD:SHA-256_SSWU_RO_').toBytes()))
    const cases: [string, Uint8Array, Uint8Array, Uint8Array][] = [
      ['valid', sig, MSG, group],
      ['other message', sig, utf8('x'), group],
      ['flipped signature', flip(sig, 700), MSG, group],
      ['a share as the whole', sigs[0]!.signature, MSG, group],
    ]
    for (const [name, s, m, pk] of cases) {
      assert.equal(verifyThresholdSignature(pk, m, s), nobleVerify(s, m, pk), name)
    }
  })

  it('fewer than t distinct shares are refused; conflicting shares for one index too', () => {
    throwsCode(() => combineSignatures(sigs.slice(0, T - 1), T), THRESHOLD_ERRORS.TOO_FEW_SHARES)
    throwsCode(() => combineSignatures([sigs[0]!, sigs[0]!, sigs[1]!], T), THRESHOLD_ERRORS.TOO_FEW_SHARES, 'repeats do not count')
    throwsCode(() => combineSignatures([], 1), THRESHOLD_ERRORS.TOO_FEW_SHARES)
    throwsCode(() => combineSignatures([sigs[0]!, { index: 1, signature: sigs[1]!.signature }, sigs[2]!], T), THRESHOLD_ERRORS.CONFLICTING_SHARES)
    throwsCode(() => combineSignatures([{ index: 0, signature: sigs[0]!.signature }, sigs[1]!, sigs[2]!], T), THRESHOLD_ERRORS.BAD_INDEX)
    throwsCode(() => combineSignatures([{ index: 1, signature: new Uint8Array(96) }, sigs[1]!, sigs[2]!], T), 'PROTOCOL_BAD_VALUE')
  })

  it('a forged combined signature fails: one bad share, a random point, garbage, the identity, the wrong key', () => {
    const bad = { index: 2, signature: signShare(shares[1]! + 5n, MSG) }
    assert.equal(verifyThresholdSignature(group, MSG, combineSignatures([sigs[0]!, bad, sigs[2]!], T)), false, 'one bad share')
    assert.equal(verifyThresholdSignature(group, MSG, signShare(12345n, MSG)), false, 'random scalar')
    assert.equal(verifyThresholdSignature(group, MSG, new Uint8Array(96).fill(0xaa)), false, 'garbage')
    const identity = new Uint8Array(96)
    identity[0] = 0xc0
    assert.equal(verifyThresholdSignature(group, MSG, identity), false, 'identity')
    const zeroKey = new Uint8Array(48)
    zeroKey[0] = 0xc0
    assert.equal(verifyThresholdSignature(zeroKey, MSG, identity), false, 'identity key and signature')
    assert.equal(verifyThresholdSignature(pubs[0]!, MSG, combineSignatures(sigs, T)), false, 'a member key')
    assert.equal(verifyThresholdSignature(group, MSG, sigs[0]!.signature), false, 'one share alone')
  })

  it('2-of-3: every pair agrees and verifies', () => {
    const d = deal(3, 2, 6)
    const g = groupPublicKey(d.commitments)
    const s = d.shares.map((x, i) => ({ index: i + 1, signature: signShare(x, MSG) }))
    const out = subsets(s, 2).map((c) => hex(combineSignatures(c, 2)))
    assert.equal(new Set(out).size, 1)
    assert.equal(verifyThresholdSignature(g, MSG, combineSignatures(s.slice(1), 2)), true)
    throwsCode(() => combineSignatures(s.slice(0, 1), 2), THRESHOLD_ERRORS.TOO_FEW_SHARES)
  })
})

describe('threshold: share encryption', () => {
  const a = generateKeyPair(new Uint8Array(32).fill(1))
  const b = generateKeyPair(new Uint8Array(32).fill(2))
  const c = generateKeyPair(new Uint8Array(32).fill(3))
  const ctx = new Uint8Array(32).fill(9)
  const share = CURVE_ORDER - 12345n

  it('round trip, 64 bytes, deterministic, direction and context bound', () => {
    const ct = encryptShare(a.secretKey, b.publicKey, ctx, share)
    assert.equal(ct.length, ENCRYPTED_SHARE_SIZE)
    assert.equal(decryptShare(b.secretKey, a.publicKey, ctx, ct), share)
    assert.equal(hex(encryptShare(a.secretKey, b.publicKey, ctx, share)), hex(ct))
    assert.notEqual(hex(encryptShare(b.secretKey, a.publicKey, ctx, share)), hex(ct), 'B to A uses another pad')
    assert.notEqual(hex(encryptShare(a.secretKey, b.publicKey, new Uint8Array(32), share)), hex(ct))
    assert.equal(decryptShare(a.secretKey, a.publicKey, ctx, encryptShare(a.secretKey, a.publicKey, ctx, 7n)), 7n, 'to oneself')
  })

  it('a wrong key, a wrong context or any flipped bit is DKG_BAD_CIPHERTEXT', () => {
    const ct = encryptShare(a.secretKey, b.publicKey, ctx, share)
    throwsCode(() => decryptShare(c.secretKey, a.publicKey, ctx, ct), DKG_BAD_CIPHERTEXT, 'wrong recipient')
    throwsCode(() => decryptShare(b.secretKey, c.publicKey, ctx, ct), DKG_BAD_CIPHERTEXT, 'wrong sender')
    throwsCode(() => decryptShare(b.secretKey, a.publicKey, new Uint8Array(32), ct), DKG_BAD_CIPHERTEXT, 'wrong context')
    for (let bit = 0; bit < 512; bit += 37) throwsCode(() => decryptShare(b.secretKey, a.publicKey, ctx, flip(ct, bit)), DKG_BAD_CIPHERTEXT, `bit ${bit}`)
    throwsCode(() => decryptShare(b.secretKey, a.publicKey, ctx, ct.subarray(1)), DKG_BAD_CIPHERTEXT, 'short')
    const smallOrder = new Uint8Array(32)
    smallOrder[0] = 1 // the Ed25519 identity: small order, no usable X25519 secret
    throwsCode(() => decryptShare(b.secretKey, smallOrder, ctx, ct), DKG_BAD_CIPHERTEXT, 'small-order sender key')
  })
})
