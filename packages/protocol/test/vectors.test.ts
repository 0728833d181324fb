/**
 * Frozen test vectors (test/vectors/*.json): every encoder gives exactly the
 * frozen bytes and hash, every decoder gives back the object, and every
 * invalid encoding is refused with the frozen PouwError code.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import {
  TAGS, applyMessageMap, bitsFromTarget, blockFromBytes, computeMerkleRoot, evidenceFromBytes, float32Bytes,
  generateKeyPair, itResFromBytes, itResSigningHash, merkleRoot, messageMapToBytes, signItRes, signVerdict,
  taggedHash, targetFromBits, verifyItResSignature, verifyVerdictSignature, workFromBits, type Block, type ItRes,
  type Tag, type Verdict,
} from '../src/index.js'
import { hex, readVectors, throwsCode, unhex } from './helpers.js'
import { buildVectors, vectorFileText } from './makeVectors.js'
import { KINDS, f32FromJson, mapFromJson, type EncodingVectors, type Kind, type KindName } from './vectorJson.js'

for (const name of Object.keys(KINDS) as KindName[]) {
  const kind = KINDS[name] as unknown as Kind<unknown, unknown>
  const file = readVectors<EncodingVectors>(name)

  describe(`${name} vectors`, () => {
    it('has valid and invalid cases', () => {
      assert.ok(file.valid.length >= 2)
      assert.ok(file.invalid.length >= 3)
    })

    for (const v of file.valid) {
      it(`valid: ${v.name}: encodes to the frozen bytes and hash, decodes back`, () => {
        const x = kind.from(v.object)
        const bytes = kind.encode(x)
        assert.equal(hex(bytes), v.bytes)
        if (kind.hash !== undefined) assert.equal(hex(kind.hash(x, bytes)), v.hash)
        else assert.equal(v.hash, undefined)
        const back = kind.decode(unhex(v.bytes))
        assert.deepEqual(kind.to(back), v.object)
        assert.equal(hex(kind.encode(back)), v.bytes)
      })
    }

    for (const v of file.invalid) {
      it(`invalid: ${v.name} -> ${v.error}`, () => {
        throwsCode(() => kind.decode(unhex(v.bytes)), v.error, v.name)
      })
    }
  })
}

describe('vector contents beyond the encoding', () => {
  type Signed = EncodingVectors['valid'][number] & { signingHash: string; signerSeed: string }

  it('IT_RES vectors: signing hash, signer key and signature are reproducible and verify', async () => {
    for (const v of readVectors<EncodingVectors>('itres').valid as Signed[]) {
      const m = KINDS.itres.from(v.object as never) as ItRes
      assert.equal(hex(itResSigningHash(m)), v.signingHash, v.name)
      assert.deepEqual(generateKeyPair(unhex(v.signerSeed)).publicKey, m.miner, v.name)
      const { signature: _s, version: _v, ...unsigned } = m
      assert.equal(hex(signItRes(unsigned, unhex(v.signerSeed)).signature), hex(m.signature), v.name)
      assert.equal(await verifyItResSignature(m), true, v.name)
    }
  })

  it('verdict vectors: signatures are reproducible and verify', async () => {
    for (const v of readVectors<EncodingVectors>('verdict').valid as Signed[]) {
      const verdict = KINDS.verdict.from(v.object as never) as Verdict
      const { signature: _s, ...unsigned } = verdict
      assert.equal(hex(signVerdict(unsigned, unhex(v.signerSeed)).signature), hex(verdict.signature), v.name)
      assert.equal(await verifyVerdictSignature(verdict), true, v.name)
    }
  })

  it('block vectors: the header commits to the transactions', () => {
    for (const v of readVectors<EncodingVectors>('block').valid) {
      const b = blockFromBytes(unhex(v.bytes)) as Block
      assert.deepEqual(computeMerkleRoot(b.txs), b.header.merkleRoot, v.name)
    }
  })

  it('evidence and submission vectors hold decodable inner messages', () => {
    const e = evidenceFromBytes(unhex(readVectors<EncodingVectors>('evidence').valid[0]!.bytes))
    for (const m of [...e.slot, ...e.peerUpdates]) assert.doesNotThrow(() => itResFromBytes(m))
    const s = KINDS.submission.decode(unhex(readVectors<EncodingVectors>('submission').valid[0]!.bytes))
    assert.doesNotThrow(() => blockFromBytes(s.block))
    assert.doesNotThrow(() => evidenceFromBytes(s.evidence))
  })
})

describe('message map vectors', () => {
  const file = readVectors<{
    maps: { map: string[]; bytes: string }[]
    apply: { theta: string; map: string[]; tau: number; result: string }[]
  }>('messageMap')

  it('entries encode to the frozen big-endian bytes', () => {
    for (const v of file.maps) assert.equal(hex(messageMapToBytes(mapFromJson(v.map))), v.bytes, v.map.join(','))
  })

  it('applyMessageMap gives the frozen float32 bytes', () => {
    for (const v of file.apply) {
      const theta = f32FromJson(v.theta)
      applyMessageMap(theta, mapFromJson(v.map), v.tau)
      assert.equal(hex(float32Bytes(theta)), v.result, v.map.join(','))
    }
  })
})

describe('hash vectors', () => {
  const file = readVectors<{ tagged: { tag: Tag; data: string; hash: string }[]; merkle: { leaves: string[]; root: string }[] }>('hash')

  it('covers every tag', () => {
    assert.deepEqual(new Set(file.tagged.map((v) => v.tag)), new Set(Object.values(TAGS)))
  })

  it('tagged hashes match the frozen values and an independent SHA-256 (node:crypto)', () => {
    const sha = (...parts: Uint8Array[]): Buffer => parts.reduce((h, p) => h.update(p), createHash('sha256')).digest()
    for (const v of file.tagged) {
      const data = unhex(v.data)
      assert.equal(hex(taggedHash(v.tag, data)), v.hash, v.tag)
      const t = sha(new TextEncoder().encode(`pouw/${v.tag}`))
      assert.equal(sha(t, t, data).toString('hex'), v.hash, v.tag)
    }
  })

  it('merkle roots of 0..5 leaves match the frozen values', () => {
    assert.deepEqual(file.merkle.map((v) => v.leaves.length), [0, 1, 2, 3, 4, 5])
    for (const v of file.merkle) assert.equal(hex(merkleRoot(v.leaves.map(unhex))), v.root, `${v.leaves.length} leaves`)
  })

  it('merkle structure: pairs hashed with the merkle tag, an odd last node promoted, no duplication', () => {
    const [a, b, c, d, e] = file.merkle[5]!.leaves.map(unhex) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array]
    const H = (l: Uint8Array, r: Uint8Array): Uint8Array => taggedHash(TAGS.merkle, l, r)
    assert.equal(file.merkle[0]!.root, hex(taggedHash(TAGS.merkle)))
    assert.equal(file.merkle[1]!.root, hex(a))
    assert.equal(file.merkle[2]!.root, hex(H(a, b)))
    assert.equal(file.merkle[3]!.root, hex(H(H(a, b), c)))
    assert.equal(file.merkle[4]!.root, hex(H(H(a, b), H(c, d))))
    assert.equal(file.merkle[5]!.root, hex(H(H(H(a, b), H(c, d)), e)))
    // CVE-2012-2459: [a, b, c] and [a, b, c, c] must not share a root
    assert.notDeepEqual(merkleRoot([a, b, c]), merkleRoot([a, b, c, c]))
  })
})

describe('compact bits vectors', () => {
  const file = readVectors<{
    valid: { bits: string; target: string; compact: string; work: string }[]
    fromTarget: { target: string; bits: string }[]
    invalid: { bits: string; error: string }[]
  }>('bits')

  it("Bitcoin's genesis bits 0x1d00ffff", () => {
    assert.equal(targetFromBits(0x1d00ffff), 0xffffn << 208n)
    assert.equal(bitsFromTarget(0xffffn << 208n), 0x1d00ffff)
    assert.equal(workFromBits(0x1d00ffff), 0x1_0001_0001n) // Bitcoin's chainwork of the genesis block
  })

  for (const v of file.valid) {
    it(`bits ${v.bits} -> target, canonical bits ${v.compact}, work`, () => {
      const t = targetFromBits(Number(v.bits))
      assert.equal(t.toString(16).padStart(64, '0'), v.target)
      assert.equal(bitsFromTarget(t), Number(v.compact))
      assert.equal(targetFromBits(Number(v.compact)), t)
      assert.equal(workFromBits(Number(v.bits)).toString(), v.work)
    })
  }

  it('targets -> bits', () => {
    for (const v of file.fromTarget) {
      const t = BigInt(`0x${v.target}`)
      const bits = bitsFromTarget(t)
      assert.equal(bits, Number(v.bits), v.target)
      assert.ok(targetFromBits(bits) <= t, 'bitsFromTarget rounds down')
    }
  })

  for (const v of file.invalid) {
    it(`bits ${v.bits} rejected (${v.error})`, () => throwsCode(() => targetFromBits(Number(v.bits)), v.error, v.bits))
  }
})

describe('vector files', () => {
  it('makeVectors.ts regenerates every file byte for byte (deterministic, in sync)', () => {
    for (const [name, content] of Object.entries(buildVectors())) {
      const onDisk = readFileSync(new URL(`./vectors/${name}.json`, import.meta.url), 'utf8')
      assert.equal(vectorFileText(content), onDisk, `vectors/${name}.json differs from what makeVectors.ts builds`)
    }
  })
})
