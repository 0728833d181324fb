/**
 * Worker selection (paper 003 §4.1): exact integer cosine similarity, the VRF
 * threshold rule, committee bounds and a deterministic committee.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { sha512 } from '@noble/hashes/sha2.js'
import {
  PPM, PROTOCOL_ERRORS, ROLE_BYTES, SELECTION_ROLES, SELECTION_SCORE_MAX, bigIntToBytes, committeeBounds, compareCandidates,
  cosineSimilarity, isSelected, isqrt, proveSelection, rankCandidates, selectionScore, verifySelection, vrfInput,
  vrfPublicKey, vrfVerify, type SelectionCandidate,
  TAGS, VERIFIERS_PER_BLOCK, chooseVerifiers, concatBytes, taggedHash, toHex, verifierQuorum,
} from '../src/index.js'
import { Prng, hex, throwsCode } from './helpers.js'

const BLOCK = sha512(Uint8Array.of(1)).subarray(0, 32)
const beta = (v: bigint): Uint8Array => bigIntToBytes(v, 64)
const HASH_MAX = (1n << 512n) - 1n

describe('vrfInput', () => {
  it('is the block hash followed by the role byte', () => {
    for (const role of SELECTION_ROLES) {
      const a = vrfInput(BLOCK, role)
      assert.equal(a.length, 33)
      assert.equal(hex(a.subarray(0, 32)), hex(BLOCK))
      assert.equal(a[32], ROLE_BYTES[role])
    }
    assert.equal(new Set(Object.values(ROLE_BYTES)).size, 4)
  })

  it('refuses a hash of the wrong size and an unknown role', () => {
    throwsCode(() => vrfInput(new Uint8Array(31), 'miner'), PROTOCOL_ERRORS.BAD_VALUE)
    throwsCode(() => vrfInput(BLOCK, 'client' as 'miner'), PROTOCOL_ERRORS.BAD_VALUE)
  })
})

describe('cosineSimilarity (ppm, exact)', () => {
  it('known values', () => {
    assert.equal(cosineSimilarity([1, 2, 3], [1, 2, 3]), PPM)
    assert.equal(cosineSimilarity([1, 2, 3], [100, 200, 300]), PPM, 'scale does not matter')
    assert.equal(cosineSimilarity([1, 0], [0, 1]), 0)
    assert.equal(cosineSimilarity([3, 4], [4, 3]), 960_000, '24/25 exactly')
    assert.equal(cosineSimilarity([1, 0], [1, 1]), 707_106, 'floor(10^6 / sqrt 2)')
    assert.equal(cosineSimilarity([1, 1, 1], [1, 0, 0]), 577_350, 'floor(10^6 / sqrt 3)')
    assert.equal(cosineSimilarity([0, 0], [1, 1]), 0, 'no preference matches nothing')
    assert.equal(cosineSimilarity([], []), 0)
    const big = 0xffff_ffff
    assert.equal(cosineSimilarity([big, big], [big, big]), PPM)
    assert.equal(cosineSimilarity([big, 0, big], [big, big, 0]), 500_000)
  })

  it('is exactly floor(10^6 cos) on random vectors: t^2 N <= 10^12 D^2 < (t+1)^2 N', () => {
    const prng = new Prng(42)
    for (let k = 0; k < 500; k++) {
      const n = 1 + prng.int(12)
      const range = prng.pick([2, 10, 1001, 0xffff_ffff])
      const a = Array.from({ length: n }, () => prng.int(range))
      const b = Array.from({ length: n }, () => prng.int(range))
      const t = BigInt(cosineSimilarity(a, b))
      let d = 0n, na = 0n, nb = 0n
      for (let i = 0; i < n; i++) { d += BigInt(a[i]!) * BigInt(b[i]!); na += BigInt(a[i]!) ** 2n; nb += BigInt(b[i]!) ** 2n }
      if (na === 0n || nb === 0n) { assert.equal(t, 0n); continue }
      const N = na * nb
      const rhs = 10n ** 12n * d * d
      assert.ok(t * t * N <= rhs && rhs < (t + 1n) * (t + 1n) * N, `${a} . ${b} -> ${t}`)
      assert.equal(cosineSimilarity(b, a), Number(t), 'symmetric')
      // and within one ppm of the floating-point value
      const f = Number(d) / Math.sqrt(Number(na) * Number(nb)) * 1e6
      assert.ok(Math.abs(f - Number(t)) <= 1, `${f} vs ${t}`)
    }
  })

  it('refuses malformed vectors with a protocol error', () => {
    throwsCode(() => cosineSimilarity([1, 2], [1]), PROTOCOL_ERRORS.BAD_VALUE, 'lengths')
    throwsCode(() => cosineSimilarity([1, -1], [1, 1]), PROTOCOL_ERRORS.BAD_VALUE, 'negative')
    throwsCode(() => cosineSimilarity([1.5, 1], [1, 1]), PROTOCOL_ERRORS.BAD_VALUE, 'fraction')
    throwsCode(() => cosineSimilarity([NaN], [1]), PROTOCOL_ERRORS.BAD_VALUE, 'NaN')
    throwsCode(() => cosineSimilarity([2 ** 32], [1]), PROTOCOL_ERRORS.BAD_VALUE, 'above u32')
    throwsCode(() => cosineSimilarity(new Array(257).fill(1), new Array(257).fill(1)), PROTOCOL_ERRORS.TOO_LARGE, 'too many features')
  })
})

describe('the threshold rule: s >= omega_S * beta / (2^512 - 1)', () => {
  it('is exact at the boundary', () => {
    // s = 1, omega_S = 2: selected iff 2 beta <= 2^512 - 1 iff beta <= 2^511 - 1
    assert.equal(isSelected(beta((1n << 511n) - 1n), PPM, 2 * PPM), true)
    assert.equal(isSelected(beta(1n << 511n), PPM, 2 * PPM), false)
    // s = omega_S: everything passes, even the largest beta
    assert.equal(isSelected(beta(HASH_MAX), 250_000, 250_000), true)
    // s = 0: only beta = 0
    assert.equal(isSelected(beta(1n), 0, 1), false)
    assert.equal(isSelected(beta(0n), 0, 1), true)
  })

  it('isSelected(beta, s, omega) iff omega <= selectionScore(beta, s)', () => {
    const prng = new Prng(3)
    for (let k = 0; k < 300; k++) {
      const b = sha512(Uint8Array.of(k, 1))
      const s = prng.int(PPM + 1)
      const score = selectionScore(b, s)
      for (const omega of [1, PPM, 3 * PPM, 10 * PPM, 1 + prng.int(50 * PPM)]) {
        assert.equal(isSelected(b, s, omega), BigInt(omega) <= score)
      }
      if (score < BigInt(Number.MAX_SAFE_INTEGER)) {
        assert.equal(isSelected(b, s, Number(score)), true)
        assert.equal(isSelected(b, s, Number(score) + 1), false)
      }
    }
    assert.equal(selectionScore(beta(0n), 0), SELECTION_SCORE_MAX)
  })

  it('selects a fraction close to similarity / omega_S (uniform betas)', () => {
    const n = 8_000
    for (const [s, omega] of [[PPM, 4 * PPM], [500_000, 2 * PPM], [800_000, 10 * PPM], [PPM, PPM]] as const) {
      let hits = 0
      for (let k = 0; k < n; k++) {
        if (isSelected(sha512(new Uint8Array([k & 0xff, k >> 8, s & 0xff, omega & 0xff])), s, omega)) hits++
      }
      const p = Math.min(1, s / omega)
      const sd = Math.sqrt(n * p * (1 - p))
      assert.ok(Math.abs(hits - n * p) <= 5 * sd + 1e-9, `s=${s} omega=${omega}: ${hits} of ${n}, expected ${n * p}`)
    }
  })

  it('selects a fraction close to similarity / omega_S over many VRF keys', () => {
    const prng = new Prng(2024)
    const n = 160
    const s = 900_000
    const omega = 3 * PPM // p = 0.3
    let hits = 0
    for (let k = 0; k < n; k++) {
      const { beta: b } = proveSelection(prng.bytes(32), BLOCK, 'supervisor')
      if (isSelected(b, s, omega)) hits++
    }
    const p = s / omega
    const sd = Math.sqrt(n * p * (1 - p))
    assert.ok(Math.abs(hits - n * p) <= 5 * sd, `${hits} of ${n}, expected ${n * p}`)
  })

  it('refuses bad arguments', () => {
    throwsCode(() => isSelected(new Uint8Array(32), PPM, PPM), PROTOCOL_ERRORS.BAD_VALUE, 'beta size')
    throwsCode(() => isSelected(beta(1n), PPM + 1, PPM), PROTOCOL_ERRORS.BAD_VALUE, 's > 1')
    throwsCode(() => isSelected(beta(1n), -1, PPM), PROTOCOL_ERRORS.BAD_VALUE, 's < 0')
    throwsCode(() => isSelected(beta(1n), PPM, 0), PROTOCOL_ERRORS.BAD_VALUE, 'omega 0')
    throwsCode(() => isSelected(beta(1n), PPM, 1.5), PROTOCOL_ERRORS.BAD_VALUE, 'omega not an integer')
  })
})

describe('proveSelection / verifySelection', () => {
  const sk = sha512(Uint8Array.of(9)).subarray(0, 32)
  const pk = vrfPublicKey(sk)

  it('accepts an honest application and rejects the rest, saying why', () => {
    const { pi, beta: b } = proveSelection(sk, BLOCK, 'miner')
    assert.deepEqual(vrfVerify(pk, vrfInput(BLOCK, 'miner'), pi), b)
    const score = selectionScore(b, 700_000)
    const omega = Number(score < 10n * BigInt(PPM) ? score : 10n * BigInt(PPM))
    const ok = verifySelection(pk, BLOCK, 'miner', pi, 700_000, omega)
    assert.deepEqual(ok, { selected: true, beta: b })
    assert.ok(score < BigInt(Number.MAX_SAFE_INTEGER))
    assert.deepEqual(verifySelection(pk, BLOCK, 'miner', pi, 700_000, Number(score) + 1), { selected: false, reason: 'below-threshold' })
    assert.deepEqual(verifySelection(pk, BLOCK, 'supervisor', pi, 700_000, omega), { selected: false, reason: 'invalid-proof' }, 'other role')
    const other = BLOCK.slice(); other[0]! ^= 1
    assert.deepEqual(verifySelection(pk, other, 'miner', pi, 700_000, omega), { selected: false, reason: 'invalid-proof' }, 'other block')
    const mauled = pi.slice(); mauled[40]! ^= 4
    assert.deepEqual(verifySelection(pk, BLOCK, 'miner', mauled, 700_000, omega), { selected: false, reason: 'invalid-proof' }, 'mauled proof')
    assert.deepEqual(verifySelection(new Uint8Array(32), BLOCK, 'miner', pi, 700_000, omega), { selected: false, reason: 'invalid-proof' }, 'bad key')
  })

  it('a proof bound to its ticket\'s owner holds for that owner only', () => {
    const [alice, bob] = [new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)]
    assert.equal(vrfInput(BLOCK, 'miner', alice).length, 65)
    const { pi, beta: b } = proveSelection(sk, BLOCK, 'miner', alice)
    assert.deepEqual(verifySelection(pk, BLOCK, 'miner', pi, PPM, PPM, alice), { selected: true, beta: b })
    assert.deepEqual(verifySelection(pk, BLOCK, 'miner', pi, PPM, PPM, bob), { selected: false, reason: 'invalid-proof' }, 'copied into another owner\'s ticket')
    assert.deepEqual(verifySelection(pk, BLOCK, 'miner', pi, PPM, PPM), { selected: false, reason: 'invalid-proof' }, 'without the owner')
    assert.throws(() => vrfInput(BLOCK, 'miner', new Uint8Array(31)), { code: 'PROTOCOL_BAD_VALUE' })
  })

  it('one key, one block: a different, independent output per role', () => {
    const outs = SELECTION_ROLES.map((r) => hex(proveSelection(sk, BLOCK, r).beta))
    assert.equal(new Set(outs).size, 4)
    assert.deepEqual(SELECTION_ROLES.map((r) => hex(proveSelection(sk, BLOCK, r).beta)), outs, 'deterministic')
  })
})

describe('committeeBounds', () => {
  it('supervisors: [3, max(3, floor(sqrt |M|))]', () => {
    const cases: [number, number][] = [[0, 3], [1, 3], [2, 3], [9, 3], [15, 3], [16, 4], [24, 4], [25, 5], [99, 9], [100, 10], [1_000_000, 1000]]
    for (const [m, max] of cases) assert.deepEqual(committeeBounds('supervisor', { miners: m }), { min: 3, max }, `|M| = ${m}`)
    throwsCode(() => committeeBounds('supervisor', {}), PROTOCOL_ERRORS.BAD_VALUE, 'no |M|')
    throwsCode(() => committeeBounds('supervisor', { miners: -1 }), PROTOCOL_ERRORS.BAD_VALUE, 'negative |M|')
  })

  it('isqrt is exact around perfect squares', () => {
    for (const r of [1n, 2n, 3n, 1000n, (1n << 40n) + 7n, 3037000499n, (1n << 200n) + 1n]) {
      assert.equal(isqrt(r * r), r)
      assert.equal(isqrt(r * r - 1n), r - 1n)
      assert.equal(isqrt(r * r + 2n * r), r)
    }
    assert.equal(isqrt(0), 0n)
  })

  it('miners: [2, floor(omega_D disk + omega_t t_exp + omega_F F)]', () => {
    const params = { omegaDiskPpm: 1_000, omegaTimePpm: 500, omegaFeePpm: 2, verifiers: 10, minEvaluators: 3, maxEvaluators: 7 }
    // 0.001 * 47000 kB + 0.0005 * 3600 s + 0.000002 * 1_000_000 = 47 + 1.8 + 2 = 50.8 -> 50
    assert.deepEqual(committeeBounds('miner', { datasetKB: 47_000, expectedTrainingSeconds: 3600, fee: 1_000_000n }, params), { min: 2, max: 50 })
    // too small a task: the upper bound falls below 2, no committee fits (the task is invalid)
    const tiny = committeeBounds('miner', { datasetKB: 100, expectedTrainingSeconds: 60, fee: 0n }, params)
    assert.equal(tiny.max, 0)
    assert.ok(tiny.max < tiny.min)
    throwsCode(() => committeeBounds('miner', { datasetKB: 1, expectedTrainingSeconds: 1 }, params), PROTOCOL_ERRORS.BAD_VALUE, 'no fee')
    throwsCode(() => committeeBounds('miner', { datasetKB: 1.5, expectedTrainingSeconds: 1, fee: 0n }, params), PROTOCOL_ERRORS.BAD_VALUE, 'fractional kB')
    // a huge fee saturates rather than losing precision
    assert.equal(committeeBounds('miner', { datasetKB: 0, expectedTrainingSeconds: 0, fee: 1n << 80n }, params).max, Number.MAX_SAFE_INTEGER)
  })

  it('verifiers: ten (paper §5); evaluators: the network parameters', () => {
    assert.deepEqual(committeeBounds('verifier', {}), { min: 10, max: 10 })
    assert.deepEqual(committeeBounds('evaluator', {}), { min: 3, max: 7 })
  })
})

describe('rankCandidates', () => {
  const prng = new Prng(11)
  const mk = (s: number, b?: bigint): SelectionCandidate => ({
    publicKey: prng.bytes(32),
    beta: b === undefined ? prng.bytes(64) : beta(b),
    similarityPpm: s,
  })
  const shuffle = <T>(xs: T[]): T[] => {
    const out = xs.slice()
    for (let i = out.length - 1; i > 0; i--) { const j = prng.int(i + 1); [out[i], out[j]] = [out[j]!, out[i]!] }
    return out
  }

  it('gives the same committee whatever order the applications arrived in', () => {
    const cands = Array.from({ length: 40 }, () => mk(1 + prng.int(PPM)))
    const first = rankCandidates(cands, { min: 3, max: 9 })!
    assert.equal(first.length, 9)
    for (let k = 0; k < 20; k++) assert.deepEqual(rankCandidates(shuffle(cands), { min: 3, max: 9 }), first)
    // best first, and the committee is the prefix of the full order
    const all = rankCandidates(cands, { min: 0, max: 1000 })!
    assert.deepEqual(all.slice(0, 9), first)
    for (let i = 1; i < all.length; i++) assert.ok(compareCandidates(all[i - 1]!, all[i]!) < 0)
  })

  it('orders by beta / similarity: at equal beta the better match wins, similarity 0 is last', () => {
    const a = mk(900_000, 1000n)
    const b = mk(300_000, 1000n)
    const c = mk(300_000, 300n) // 300/300k = 1/1000 < 1000/900k
    const z = mk(0, 1n)
    assert.deepEqual(rankCandidates([z, b, a, c], { min: 1, max: 4 }), [c, a, b, z])
  })

  it('ties are settled by beta, then by public key', () => {
    const a = { publicKey: new Uint8Array(32).fill(2), beta: beta(2000n), similarityPpm: 200_000 }
    const b = { publicKey: new Uint8Array(32).fill(1), beta: beta(1000n), similarityPpm: 100_000 } // same ratio, smaller beta
    const c = { publicKey: new Uint8Array(32).fill(0), beta: beta(2000n), similarityPpm: 200_000 }
    assert.deepEqual(rankCandidates([a, b, c], { min: 3, max: 3 }), [b, c, a])
  })

  it('one seat per key, and undefined when too few distinct keys applied', () => {
    const x = mk(PPM, 5n)
    const xWorse = { ...x, beta: beta(10n) }
    const y = mk(PPM, 7n)
    assert.deepEqual(rankCandidates([xWorse, y, x], { min: 2, max: 3 }), [x, y])
    assert.equal(rankCandidates([x, xWorse], { min: 2, max: 3 }), undefined)
    assert.equal(rankCandidates([], { min: 3, max: 3 }), undefined)
    assert.equal(rankCandidates([x, y], { min: 3, max: 2 }), undefined, 'infeasible bounds')
  })

  it('refuses malformed candidates', () => {
    throwsCode(() => rankCandidates([{ publicKey: new Uint8Array(32), beta: new Uint8Array(3), similarityPpm: 1 }], { min: 1, max: 1 }), PROTOCOL_ERRORS.BAD_VALUE)
  })
})

describe('chooseVerifiers: ten verifiers from the block hash (§5.2)', () => {
  const keys = Array.from({ length: 25 }, (_x, i) => taggedHash(TAGS.supervisorHello, new Uint8Array([i])))
  const blockA = taggedHash(TAGS.blockHeader, new Uint8Array([1]))
  const blockB = taggedHash(TAGS.blockHeader, new Uint8Array([2]))
  const hexes = (ks: Uint8Array[]): string[] => ks.map(toHex)

  it('picks ten distinct candidates, the same whatever the candidates\' order', () => {
    const chosen = chooseVerifiers(blockA, keys)
    assert.equal(chosen.length, VERIFIERS_PER_BLOCK)
    assert.equal(new Set(hexes(chosen)).size, VERIFIERS_PER_BLOCK)
    assert.deepEqual(hexes(chooseVerifiers(blockA, [...keys].reverse())), hexes(chosen))
  })

  it('the lowest H(blockHash || key) win, and another block picks another set', () => {
    const score = (k: Uint8Array): string => toHex(taggedHash(TAGS.verifierChoice, concatBytes(blockA, k)))
    const expected = [...keys].sort((a, b) => (score(a) < score(b) ? -1 : 1)).slice(0, 10)
    assert.deepEqual(hexes(chooseVerifiers(blockA, keys)), hexes(expected))
    assert.notDeepEqual(new Set(hexes(chooseVerifiers(blockB, keys))), new Set(hexes(expected)))
  })

  it('every candidate when there are no more than n; quorum is a majority', () => {
    assert.equal(chooseVerifiers(blockA, keys.slice(0, 3)).length, 3)
    assert.equal(chooseVerifiers(blockA, keys, 2).length, 2)
    assert.deepEqual([1, 2, 3, 10].map(verifierQuorum), [1, 2, 2, 6])
  })

  it('a bad block hash or count is a typed error', () => {
    throwsCode(() => chooseVerifiers(new Uint8Array(31), keys), 'PROTOCOL_BAD_VALUE')
    throwsCode(() => chooseVerifiers(blockA, keys, 0), 'PROTOCOL_BAD_VALUE')
  })
})
