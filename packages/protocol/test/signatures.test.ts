/**
 * Ed25519: RFC 8032 vectors, the verification rule on edge cases, tampered
 * IT_RES and verdicts, and agreement of `verify` (WebCrypto) with
 * `verifyReference` (noble) on several hundred cases.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ed25519 } from '@noble/curves/ed25519.js'
import {
  generateKeyPair, nativeVerifyInUse, sign, signItRes, signVerdict, verify, verifyItResSignature, verifyReference,
  verifyVerdictSignature, type ItRes, type Verdict,
} from '../src/index.js'
import { Prng, concat, hex, readVectors, unhex } from './helpers.js'
import { KINDS, type EncodingVectors } from './vectorJson.js'

const L = ed25519.Point.Fn.ORDER
const le32 = (n: bigint): Uint8Array => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn))
const fromLe = (b: Uint8Array): bigint => b.reduceRight((acc, x) => (acc << 8n) | BigInt(x), 0n)
const flipBit = (b: Uint8Array, bit: number): Uint8Array => {
  const out = b.slice()
  out[bit >> 3]! ^= 1 << (bit & 7)
  return out
}

interface EdFile {
  rfc8032: { name: string; secretKey: string; publicKey: string; message: string; signature: string }[]
  cases: { name: string; publicKey: string; message: string; signature: string; valid: boolean }[]
}
const ED = readVectors<EdFile>('ed25519')

describe('Ed25519 vectors', () => {
  for (const v of ED.rfc8032) {
    it(`RFC 8032 7.1 ${v.name}: key and signature are the published bytes`, async () => {
      const { publicKey } = generateKeyPair(unhex(v.secretKey))
      assert.equal(hex(publicKey), v.publicKey)
      const sig = sign(unhex(v.secretKey), unhex(v.message))
      assert.equal(hex(sig), v.signature)
      assert.equal(await verify(publicKey, unhex(v.message), sig), true)
      assert.equal(verifyReference(publicKey, unhex(v.message), sig), true)
    })
  }

  it('RFC 8032 test 1 (empty message) is the published one', () => {
    const t1 = ED.rfc8032[0]!
    assert.equal(t1.secretKey.slice(0, 8), '9d61b19d')
    assert.equal(t1.publicKey.slice(0, 8), 'd75a9801')
    assert.equal(t1.message, '')
    assert.equal(t1.signature.slice(0, 8), 'e5564300')
  })

  for (const c of ED.cases) {
    it(`rule: ${c.name} -> ${c.valid ? 'valid' : 'invalid'} (WebCrypto and noble)`, async () => {
      const [pk, msg, sig] = [unhex(c.publicKey), unhex(c.message), unhex(c.signature)]
      assert.equal(verifyReference(pk, msg, sig), c.valid, 'verifyReference')
      assert.equal(await verify(pk, msg, sig), c.valid, 'verify')
    })
  }

  it('the native WebCrypto path is the one under test on this platform', async () => {
    const { publicKey, secretKey } = generateKeyPair(new Uint8Array(32).fill(3))
    assert.equal(await verify(publicKey, new Uint8Array(0), sign(secretKey, new Uint8Array(0))), true)
    assert.equal(nativeVerifyInUse(), true)
  })

  it('wrong-length keys and signatures are invalid, never an exception', async () => {
    const { publicKey, secretKey } = generateKeyPair(new Uint8Array(32).fill(4))
    const sig = sign(secretKey, new Uint8Array([1]))
    for (const [pk, s] of [[publicKey.subarray(1), sig], [concat(publicKey, [0]), sig], [publicKey, sig.subarray(1)], [publicKey, concat(sig, [0])], [new Uint8Array(0), new Uint8Array(0)]] as const) {
      assert.equal(await verify(pk, new Uint8Array([1]), s), false)
      assert.equal(verifyReference(pk, new Uint8Array([1]), s), false)
    }
  })
})

describe('signed messages', () => {
  const itv = readVectors<EncodingVectors>('itres').valid[0]!
  const m = KINDS.itres.from(itv.object as never) as ItRes

  it('a tampered IT_RES field or signature fails verifyItResSignature', async () => {
    assert.equal(await verifyItResSignature(m), true)
    const other = generateKeyPair(new Uint8Array(32).fill(9)).publicKey
    const tampered: [string, Partial<ItRes>][] = [
      ['taskId', { taskId: flipBit(m.taskId, 0) }],
      ['backend', { backend: 'cpu' }],
      ['miner', { miner: other }],
      ['iteration', { iteration: m.iteration + 1 }],
      ['epoch', { epoch: m.epoch + 1 }],
      ['map entry sign', { map: Uint32Array.from(m.map, (e, i) => (i === 0 ? (e ^ 0x8000_0000) >>> 0 : e)) }],
      ['map entry index', { map: Uint32Array.from(m.map, (e, i) => (i === 0 ? e + 1 : e)) }],
      ['map entry dropped', { map: m.map.subarray(1) }],
      ['metric', { metrics: [m.metrics[0]!, Math.fround(m.metrics[1]! + 0.125)] }],
      ['metric dropped', { metrics: m.metrics.slice(1) }],
      ['tStart', { tStart: m.tStart - 1 }],
      ['tFinish', { tFinish: m.tFinish + 1 }],
      ['batchHash', { batchHash: flipBit(m.batchHash, 255) }],
      ['peerUpdatesHash', { peerUpdatesHash: flipBit(m.peerUpdatesHash, 7) }],
      ['modelHash', { modelHash: flipBit(m.modelHash, 100) }],
      ['residualHash', { residualHash: flipBit(m.residualHash, 3) }],
      ['znbHash', { znbHash: flipBit(m.znbHash, 128) }],
      ['nextPeerMessagesHash', { nextPeerMessagesHash: flipBit(m.nextPeerMessagesHash, 1) }],
      ['signature R', { signature: flipBit(m.signature, 5) }],
      ['signature S', { signature: flipBit(m.signature, 300) }],
      ['signature S + L', { signature: concat(m.signature.subarray(0, 32), le32(fromLe(m.signature.subarray(32)) + L)) }],
    ]
    for (const [field, change] of tampered) {
      assert.equal(await verifyItResSignature({ ...m, ...change }), false, field)
    }
  })

  it('an IT_RES signed by another key does not verify under the miner', async () => {
    const { signature: _s, version: _v, ...unsigned } = m
    const forged = signItRes(unsigned, new Uint8Array(32).fill(9))
    assert.equal(await verifyItResSignature(forged), false)
  })

  it('a tampered verdict fails verifyVerdictSignature', async () => {
    const vv = readVectors<EncodingVectors>('verdict').valid[1]!
    const v = KINDS.verdict.from(vv.object as never) as Verdict
    assert.equal(await verifyVerdictSignature(v), true)
    for (const change of [{ accepted: true }, { code: 'OTHER' }, { detail: `${v.detail}.` }, { height: 1 }, { tipHeight: 2 },
      { nextBits: 0x1d00ffff }, { tipHash: flipBit(v.tipHash, 0) }, { signature: flipBit(v.signature, 511) }] as Partial<Verdict>[]) {
      assert.equal(await verifyVerdictSignature({ ...v, ...change }), false, JSON.stringify(Object.keys(change)))
    }
  })

  it('verdict texts longer than 1024 bytes are cut at a character boundary, and still verify', async () => {
    const base = KINDS.verdict.from(readVectors<EncodingVectors>('verdict').valid[0]!.object as never) as Verdict
    const signer = generateKeyPair(new Uint8Array(32).fill(1))
    const { signature: _s, ...unsigned } = base
    const v = signVerdict({ ...unsigned, verifier: signer.publicKey, accepted: false, code: 'é'.repeat(600), detail: `${'x'.repeat(1023)}€` }, signer.secretKey)
    const back = KINDS.verdict.decode(KINDS.verdict.encode(v))
    assert.equal(back.code, 'é'.repeat(512))
    assert.equal(back.detail, 'x'.repeat(1023))
    // the signature covers the cut texts, so the decoded verdict verifies
    assert.equal(await verifyVerdictSignature(back), true)
  })
})

describe('verify (WebCrypto) agrees with verifyReference (noble)', () => {
  it('on valid signatures, flipped bits in message, signature and key, S >= L, and invalid keys', async () => {
    const rng = new Prng(0xed25519)
    const cases: { what: string; pk: Uint8Array; msg: Uint8Array; sig: Uint8Array; expect?: boolean }[] = []
    for (let i = 0; i < 40; i++) {
      const { secretKey, publicKey } = generateKeyPair(rng.bytes(32))
      const msg = rng.bytes(rng.int(200))
      const sig = sign(secretKey, msg)
      const S = fromLe(sig.subarray(32))
      cases.push(
        { what: 'valid', pk: publicKey, msg, sig, expect: true },
        { what: 'message bit', pk: publicKey, msg: msg.length > 0 ? flipBit(msg, rng.int(8 * msg.length)) : Uint8Array.of(0), sig, expect: false },
        { what: 'R bit', pk: publicKey, msg, sig: flipBit(sig, rng.int(256)), expect: false },
        { what: 'S bit', pk: publicKey, msg, sig: flipBit(sig, 256 + rng.int(256)), expect: false },
        { what: 'S + L', pk: publicKey, msg, sig: concat(sig.subarray(0, 32), le32(S + L)), expect: false },
        { what: 'S + 2^253 (top bits)', pk: publicKey, msg, sig: concat(sig.subarray(0, 32), le32(S + (1n << 253n))), expect: false },
        { what: 'key bit', pk: flipBit(publicKey, rng.int(256)), msg, sig, expect: false },
        { what: 'random key bytes', pk: rng.bytes(32), msg, sig, expect: false },
      )
    }
    const p = 2n ** 255n - 19n
    const msg = rng.bytes(32)
    const sig = sign(new Uint8Array(32).fill(5), msg)
    const trivial = concat(ed25519.Point.BASE.multiply(9n).toBytes(), le32(9n)) // passes a cofactorless check under the identity key
    for (let y = 0n; y < 20n; y++) {
      for (const enc of [le32(y), le32(y | (1n << 255n)), le32(p + y), le32((p + y) | (1n << 255n)), le32(p - y)]) {
        if (fromLe(enc) >= 2n ** 256n) continue
        cases.push({ what: `key encoding ${hex(enc)}`, pk: enc, msg, sig: trivial }, { what: `key encoding ${hex(enc)}`, pk: enc, msg, sig })
      }
    }
    assert.ok(cases.length >= 400, `${cases.length} cases`)
    for (const c of cases) {
      const ref = verifyReference(c.pk, c.msg, c.sig)
      const nat = await verify(c.pk, c.msg, c.sig)
      assert.equal(nat, ref, `${c.what}: verify ${nat}, verifyReference ${ref}; key ${hex(c.pk)} sig ${hex(c.sig)}`)
      if (c.expect !== undefined) assert.equal(ref, c.expect, c.what)
    }
    assert.equal(nativeVerifyInUse(), true)
  })
})
