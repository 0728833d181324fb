import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { sha256 } from '@noble/hashes/sha2.js'
import { PPM, PROTOCOL_ERRORS, compareBytes, concatBytes, isPouwError, toHex } from '@pouw/protocol'
import {
  BPS, CONCLUSION_SALT_SIZE, DEFAULT_CHARGE_PARAMS, LEDGER_ERRORS, agreementThreshold, apportion, bestMinerOf, checkReveal,
  computeCharge, computeConclusionCommitment, conclusionFromBytes, conclusionToBytes, createConclusion, decideAgreement,
  sumPayouts, trimCount, trimmedMeanScores,
  type ChargeInput, type ChargeParams, type Conclusion, type EvaluatorStatus, type MinerScore, type Payout, type WorkerStatus,
} from '../src/index.js'
import { Prng, throwsCode } from '../../protocol/test/helpers.js'

const TASK = new Uint8Array(16).fill(7)

function randomConclusion(prng: Prng, taskId = TASK): Conclusion {
  // a task no evaluator holds: no scores, the workers that reported it
  if (prng.int(5) === 0) return createConclusion(taskId, 'unavailable', [], [], Array.from({ length: prng.int(4) }, () => prng.bytes(32)))
  const n = prng.int(12)
  const scores: MinerScore[] = Array.from({ length: n }, () => ({ miner: prng.bytes(32), scorePpm: prng.int(PPM + 1) }))
  const cheaters = [...scores.filter(() => prng.int(4) === 0).map((s) => s.miner), ...Array.from({ length: prng.int(3) }, () => prng.bytes(32))]
  return createConclusion(taskId, prng.bool() ? 'match' : 'mismatch', scores, cheaters)
}

/** the canonical bytes with one field rewritten by hand */
function reencode(c: Conclusion): Uint8Array {
  const parts: number[] = [2, ...c.taskId, ['match', 'mismatch', 'unavailable'].indexOf(c.testSetVerdict), c.scores.length >> 8, c.scores.length & 0xff]
  for (const s of c.scores) parts.push(...s.miner, (s.scorePpm >>> 24) & 0xff, (s.scorePpm >>> 16) & 0xff, (s.scorePpm >>> 8) & 0xff, s.scorePpm & 0xff)
  parts.push(c.cheaters.length >> 8, c.cheaters.length & 0xff)
  for (const k of c.cheaters) parts.push(...k)
  parts.push(c.reporters.length >> 8, c.reporters.length & 0xff)
  for (const k of c.reporters) parts.push(...k)
  if (c.bestMiner === undefined) parts.push(0)
  else parts.push(1, ...c.bestMiner)
  return Uint8Array.from(parts)
}

const OUR_CODES = new Set<string>([...Object.values(LEDGER_ERRORS), ...Object.values(PROTOCOL_ERRORS)])

describe('finalisation: the canonical conclusion', () => {
  it('round-trips, and the bytes are the documented layout', () => {
    const prng = new Prng(1)
    for (let i = 0; i < 300; i++) {
      const c = randomConclusion(prng)
      const b = conclusionToBytes(c)
      assert.deepEqual(b, reencode(c))
      assert.deepEqual(conclusionFromBytes(b), c)
    }
  })

  it('the best miner is the top honest score, ties to the lowest key, absent when no honest miner was scored', () => {
    const prng = new Prng(2)
    for (let i = 0; i < 300; i++) {
      const c = randomConclusion(prng)
      const bad = new Set(c.cheaters.map(toHex))
      const honest = c.scores.filter((s) => !bad.has(toHex(s.miner)))
      if (honest.length === 0) { assert.equal(c.bestMiner, undefined); continue }
      const top = Math.max(...honest.map((s) => s.scorePpm))
      const lowest = honest.filter((s) => s.scorePpm === top).map((s) => s.miner).sort(compareBytes)[0]!
      assert.deepEqual(c.bestMiner, lowest)
    }
    const a = new Uint8Array(32).fill(1)
    const b = new Uint8Array(32).fill(2)
    assert.deepEqual(bestMinerOf([{ miner: b, scorePpm: 5 }, { miner: a, scorePpm: 5 }], []), a)
    assert.deepEqual(bestMinerOf([{ miner: b, scorePpm: 5 }, { miner: a, scorePpm: 5 }], [a]), b)
  })

  it('refuses what is not canonical with LEDGER_BAD_CONCLUSION', () => {
    const prng = new Prng(3)
    let c: Conclusion
    do c = randomConclusion(prng); while (c.scores.length < 3 || c.bestMiner === undefined)
    const bad = (x: Conclusion, what: string): void => throwsCode(() => conclusionFromBytes(reencode(x)), LEDGER_ERRORS.BAD_CONCLUSION, what)
    bad({ ...c, scores: [...c.scores].reverse() }, 'unsorted scores')
    bad({ ...c, scores: [c.scores[0]!, ...c.scores] }, 'a miner twice')
    bad({ ...c, scores: c.scores.map((s, i) => (i === 0 ? { ...s, scorePpm: PPM + 1 } : s)) }, 'score above 10^6')
    bad({ ...c, cheaters: [c.scores[0]!.miner, c.scores[0]!.miner] }, 'a cheater twice')
    const other = c.scores.find((s) => !bytesSame(s.miner, c.bestMiner!))!.miner
    bad({ ...c, bestMiner: other }, 'a best miner that is not the best')
    bad({ ...c, bestMiner: undefined }, 'no best miner although there is one')
    throwsCode(() => conclusionToBytes({ ...c, scores: [...c.scores].reverse() }), LEDGER_ERRORS.BAD_CONCLUSION)
    const b = reencode(c)
    bad({ ...c, reporters: [c.scores[0]!.miner] }, 'reporters of a task that was tested')
    bad({ ...c, testSetVerdict: 'unavailable', cheaters: [], reporters: [] }, 'scores for a task that is unavailable')
    const k = [new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)]
    bad({ ...createConclusion(c.taskId, 'unavailable', [], [], k), reporters: [k[1]!, k[0]!] }, 'unsorted reporters')
    throwsCode(() => conclusionFromBytes(Uint8Array.from([1, ...b.subarray(1)])), LEDGER_ERRORS.BAD_CONCLUSION, 'version 1 (before reporters)')
    const v = b.slice(); v[17] = 3
    throwsCode(() => conclusionFromBytes(v), LEDGER_ERRORS.BAD_CONCLUSION, 'verdict byte')
    throwsCode(() => conclusionFromBytes(Uint8Array.from([...b, 0])), PROTOCOL_ERRORS.TRAILING_BYTES)
    throwsCode(() => conclusionFromBytes(b.subarray(0, b.length - 1)), PROTOCOL_ERRORS.TRUNCATED)
  })

  it('a decoder fed random and mutated bytes only ever throws our own errors', () => {
    const prng = new Prng(4)
    for (let i = 0; i < 2_000; i++) {
      const b = i % 2 === 0 ? prng.bytes(prng.int(200)) : conclusionToBytes(randomConclusion(prng))
      if (i % 2 === 1) for (let k = 0; k < 1 + prng.int(3); k++) b[prng.int(b.length)] = prng.u32() & 0xff
      try {
        const c = conclusionFromBytes(b)
        assert.deepEqual(conclusionToBytes(c), b, 'what decodes re-encodes to the same bytes')
      } catch (e) {
        assert.ok(isPouwError(e) && OUR_CODES.has(e.code), `unexpected ${String(e)}`)
      }
    }
  })
})

function bytesSame(a: Uint8Array, b: Uint8Array): boolean {
  return compareBytes(a, b) === 0
}

describe('finalisation: commit-then-reveal', () => {
  it('a reveal opens its commitment; anything else does not (LEDGER_BAD_REVEAL)', () => {
    const prng = new Prng(5)
    for (let i = 0; i < 50; i++) {
      const evaluator = prng.bytes(32)
      const salt = prng.bytes(CONCLUSION_SALT_SIZE)
      const c = randomConclusion(prng)
      const bytes = conclusionToBytes(c)
      const commitment = computeConclusionCommitment(TASK, evaluator, bytes, salt)
      // the documented construction, computed independently (the same bytes as protocol's taggedHash with tag 'conclusion-commit')
      const tag = sha256(new TextEncoder().encode('pouw/conclusion-commit'))
      const len = Uint8Array.of(bytes.length >>> 24, (bytes.length >>> 16) & 0xff, (bytes.length >>> 8) & 0xff, bytes.length & 0xff)
      assert.deepEqual(commitment, sha256(concatBytes(tag, tag, TASK, evaluator, len, bytes, salt)))
      assert.deepEqual(checkReveal(commitment, TASK, evaluator, bytes, salt), c)
      const salt2 = salt.slice(); salt2[prng.int(32)]! ^= 1 << prng.int(8)
      throwsCode(() => checkReveal(commitment, TASK, evaluator, bytes, salt2), LEDGER_ERRORS.BAD_REVEAL, 'other salt')
      const other = conclusionToBytes(randomConclusion(prng))
      if (!bytesSame(other, bytes)) throwsCode(() => checkReveal(commitment, TASK, evaluator, other, salt), LEDGER_ERRORS.BAD_REVEAL, 'other conclusion')
      // copying another evaluator's commitment does not let you reveal its conclusion as yours
      throwsCode(() => checkReveal(commitment, TASK, prng.bytes(32), bytes, salt), LEDGER_ERRORS.BAD_REVEAL, 'copied commitment')
      throwsCode(() => checkReveal(commitment, TASK, evaluator, bytes, salt.subarray(1)), LEDGER_ERRORS.BAD_REVEAL, 'short salt')
      // moving bytes between the conclusion and the salt changes the commitment (length prefix)
      const shifted = computeConclusionCommitment(TASK, evaluator, bytes.subarray(0, bytes.length - 1), Uint8Array.from([bytes[bytes.length - 1]!, ...salt.subarray(0, 31)]))
      assert.notDeepEqual(shifted, computeConclusionCommitment(TASK, evaluator, bytes, Uint8Array.from([...salt.subarray(0, 31), 0])))
    }
  })

  it('a conclusion about another task is refused even with a matching commitment', () => {
    const prng = new Prng(6)
    const other = new Uint8Array(16).fill(9)
    const bytes = conclusionToBytes(randomConclusion(prng, other))
    const evaluator = prng.bytes(32)
    const salt = prng.bytes(32)
    throwsCode(() => checkReveal(computeConclusionCommitment(TASK, evaluator, bytes, salt), TASK, evaluator, bytes, salt), LEDGER_ERRORS.BAD_CONCLUSION)
  })
})

describe('finalisation: agreement (>= ceil(2n/3) identical conclusions)', () => {
  it('decides exactly when the largest identical group reaches ceil(2n/3); otherwise asks for a new round', () => {
    const prng = new Prng(7)
    for (let i = 0; i < 500; i++) {
      const n = 1 + prng.int(12)
      const committee = Array.from({ length: n }, () => prng.bytes(32))
      const variants = Array.from({ length: 1 + prng.int(3) }, () => conclusionToBytes(randomConclusion(prng)))
      const reveals = committee.filter(() => prng.int(5) !== 0).map((evaluator) => ({ evaluator, conclusion: prng.pick(variants) }))
      const counts = new Map<string, number>()
      for (const r of reveals) counts.set(toHex(r.conclusion), (counts.get(toHex(r.conclusion)) ?? 0) + 1)
      const largest = Math.max(0, ...counts.values())
      const a = decideAgreement(committee, [...reveals].reverse())
      assert.equal(agreementThreshold(n), Math.ceil((2 * n) / 3))
      assert.equal(a.silent.length, n - reveals.length)
      if (largest * 3 >= 2 * n) {
        assert.ok(a.decided)
        assert.equal(counts.get(toHex(a.conclusion)), largest)
        assert.equal(a.agreeing.length, largest)
        assert.equal(a.agreeing.length + a.dissenting.length + a.silent.length, n)
        for (const k of a.agreeing) assert.deepEqual(reveals.find((r) => bytesSame(r.evaluator, k))!.conclusion, a.conclusion)
      } else {
        assert.ok(!a.decided)
        assert.equal(a.largest, largest)
        assert.equal(a.needed, agreementThreshold(n))
      }
    }
  })

  it('boundary cases: 2 of 3 decide, 2 of 4 do not, 3 of 4 do; the silent count against', () => {
    const prng = new Prng(8)
    const [x, y] = [conclusionToBytes(randomConclusion(prng)), conclusionToBytes(randomConclusion(prng))]
    const keys = Array.from({ length: 4 }, () => prng.bytes(32))
    assert.ok(decideAgreement(keys.slice(0, 3), [{ evaluator: keys[0]!, conclusion: x }, { evaluator: keys[1]!, conclusion: x }]).decided)
    assert.ok(!decideAgreement(keys, [{ evaluator: keys[0]!, conclusion: x }, { evaluator: keys[1]!, conclusion: x }, { evaluator: keys[2]!, conclusion: y }]).decided)
    assert.ok(decideAgreement(keys, [0, 1, 2].map((i) => ({ evaluator: keys[i]!, conclusion: x }))).decided)
  })

  it('refuses reveals from outside the committee and second reveals', () => {
    const prng = new Prng(9)
    const keys = Array.from({ length: 3 }, () => prng.bytes(32))
    const x = conclusionToBytes(randomConclusion(prng))
    throwsCode(() => decideAgreement(keys, [{ evaluator: prng.bytes(32), conclusion: x }]), LEDGER_ERRORS.BAD_REVEAL)
    throwsCode(() => decideAgreement(keys, [{ evaluator: keys[0]!, conclusion: x }, { evaluator: keys[0]!, conclusion: x }]), LEDGER_ERRORS.BAD_REVEAL)
  })
})

describe('finalisation: trimmed mean (paper 001)', () => {
  it('trims floor((m-1)/3) from each end, so f < m/3 liars never move the mean outside the honest range', () => {
    const prng = new Prng(10)
    for (let i = 0; i < 400; i++) {
      const m = 1 + prng.int(13)
      const f = Math.floor((m - 1) / 3)
      assert.equal(trimCount(m), f)
      const miners = Array.from({ length: 1 + prng.int(4) }, () => prng.bytes(32))
      const truth = miners.map(() => prng.int(PPM + 1))
      const evaluations = Array.from({ length: m }, (_, e) => ({
        evaluator: prng.bytes(32),
        scores: miners.map((miner, j) => {
          if (e < f) return { miner, scorePpm: prng.pick([0, PPM, prng.int(PPM + 1)]) } // Byzantine: anything
          return { miner, scorePpm: Math.max(0, Math.min(PPM, truth[j]! + prng.int(201) - 100)) } // honest: +-100 ppm of noise
        }),
      }))
      const r = trimmedMeanScores(evaluations, 500)
      for (const [j, miner] of miners.entries()) {
        const honest = evaluations.slice(f).map((e) => e.scores[j]!.scorePpm)
        const q = r.scores.find((s) => bytesSame(s.miner, miner))!.scorePpm
        assert.ok(q >= Math.min(...honest) && q <= Math.max(...honest), `miner ${j}: ${q} outside [${Math.min(...honest)}, ${Math.max(...honest)}]`)
      }
      // honest evaluators are never outliers at a tolerance above twice the noise
      for (const e of evaluations.slice(f)) assert.ok(!r.outliers.some((o) => bytesSame(o, e.evaluator)))
      // the outliers are exactly those beyond the tolerance
      r.deviations.forEach((d, k) => assert.equal(r.outliers.some((o) => bytesSame(o, evaluations[k]!.evaluator)), d > 500 || d < 0))
    }
  })

  it('the mean of what is kept, rounded down; an evaluator that leaves a miner out is an outlier', () => {
    const k = (i: number): Uint8Array => new Uint8Array(32).fill(i)
    const r = trimmedMeanScores([
      { evaluator: k(1), scores: [{ miner: k(9), scorePpm: 10 }] },
      { evaluator: k(2), scores: [{ miner: k(9), scorePpm: 11 }] },
      { evaluator: k(3), scores: [{ miner: k(9), scorePpm: 11 }, { miner: k(8), scorePpm: 5 }] },
      { evaluator: k(4), scores: [{ miner: k(9), scorePpm: 900_000 }, { miner: k(8), scorePpm: 5 }] },
    ], 1)
    // miner 9: [10, 11, 11, 900000], trim 1 each end -> (11 + 11) / 2; miner 8: [5, 5], trim 0 -> 5
    assert.deepEqual(r.scores, [{ miner: k(8), scorePpm: 5 }, { miner: k(9), scorePpm: 11 }])
    assert.deepEqual(r.outliers, [k(1), k(2), k(4)])
    assert.deepEqual(r.deviations, [-1, -1, 0, 900_000 - 11])
  })
})

// ---- the fee split ----

function sumOf(ps: readonly Payout[], pred: (p: Payout) => boolean): bigint {
  return sumPayouts(ps.filter(pred))
}

function randomCharge(prng: Prng): { input: ChargeInput; params: ChargeParams } {
  const a = prng.int(BPS + 1)
  const b = prng.int(BPS - a + 1)
  const params: ChargeParams = { minersBps: a, supervisorsBps: b, evaluatorsBps: BPS - a - b, offlinePenaltyBps: prng.int(BPS + 1) }
  const amount = (): bigint => (prng.int(5) === 0 ? 0n : prng.u64() % (prng.bool() ? 1_000n : 10n ** 15n))
  const ws = (): WorkerStatus => prng.pick(['honest', 'honest', 'cheat', 'offline'] as const)
  const es = (): EvaluatorStatus => prng.pick(['honest', 'honest', 'outlier', 'cheat'] as const)
  const miners = Array.from({ length: prng.int(8) }, () => ({ key: prng.bytes(32), stake: amount(), status: ws(), scorePpm: prng.int(5) === 0 ? 0 : prng.int(PPM + 1) }))
  const supervisors = Array.from({ length: prng.int(6) }, () => ({ key: prng.bytes(32), stake: amount(), status: ws() }))
  const evaluators = Array.from({ length: prng.int(6) }, () => ({ key: prng.bytes(32), stake: amount(), status: es() }))
  const outcome = prng.pick(['completed', 'completed', 'not-run', 'malformed'] as const)
  const workers = [...miners, ...supervisors].map((w) => w.key)
  const reporters = outcome === 'malformed' ? workers.filter(() => prng.bool()) : undefined
  // joined but not selected: a key of their own, or a miner's (one seat per key), sometimes twice
  const unselected = Array.from({ length: prng.int(4) }, () => ({ key: miners.length > 0 && prng.bool() ? prng.pick(miners).key : prng.bytes(32), stake: amount() }))
  if (unselected.length > 0 && prng.bool()) unselected.push({ ...unselected[0]! })
  const input: ChargeInput = {
    // one client mostly; sometimes a second coin's owner, who may have paid nothing worth counting
    clients: Array.from({ length: prng.int(3) === 0 ? 2 : 1 }, () => ({ key: prng.bytes(32), paid: amount() })), fee: amount(), outcome: outcome === 'malformed' && reporters!.length === 0 ? 'not-run' : outcome,
    testSetVerdict: prng.int(4) === 0 ? 'mismatch' : 'match', miners, supervisors, evaluators, reporters, unselected,
  }
  return { input, params }
}

describe('finalisation: CHARGE_FOR_TASK', () => {
  it('apportion splits to the unit: exact sum, each within one unit of its exact share, zero weights get nothing', () => {
    const prng = new Prng(11)
    for (let i = 0; i < 2_000; i++) {
      const total = prng.u64() % (prng.bool() ? 100n : 10n ** 18n)
      const weights = Array.from({ length: 1 + prng.int(10) }, () => (prng.int(4) === 0 ? 0n : prng.u64() % 1_000_000n))
      const out = apportion(total, weights)
      assert.equal(out.reduce((a, b) => a + b, 0n), total)
      const W = weights.reduce((a, b) => a + b, 0n)
      const ws = W === 0n ? weights.map(() => 1n) : weights
      const WW = W === 0n ? BigInt(weights.length) : W
      out.forEach((x, k) => {
        const floor = (total * ws[k]!) / WW
        assert.ok(x === floor || x === floor + 1n, `share ${k}: ${x} vs floor ${floor}`)
        if (ws[k] === 0n) assert.equal(x, 0n)
      })
    }
  })

  it('sums reconcile exactly over many random tasks: fee + stakes in, the same out', () => {
    const prng = new Prng(12)
    for (let i = 0; i < 3_000; i++) {
      const { input, params } = randomCharge(prng)
      const out = computeCharge(input, params)
      const stakes = [...input.miners, ...input.supervisors, ...input.evaluators, ...input.unselected!].reduce((a, p) => a + p.stake, 0n)
      assert.equal(sumPayouts(out), input.fee + stakes, `case ${i}`)
      for (const p of out) assert.ok(p.amount > 0n, 'no zero payouts')
      // the fee part and the stake part reconcile separately
      const feeReasons = new Set(['miner-reward', 'supervisor-reward', 'evaluator-reward', 'malformed-report', 'fee-refund'])
      assert.equal(sumOf(out, (p) => feeReasons.has(p.reason)), input.fee)
      assert.equal(sumOf(out, (p) => !feeReasons.has(p.reason)), stakes)
    }
  })

  it('follows each rule: stakes back or captured, rewards to the honest, refunds when the task could not run', () => {
    const prng = new Prng(13)
    for (let i = 0; i < 2_000; i++) {
      const { input, params } = randomCharge(prng)
      const out = computeCharge(input, params)
      const to = (key: Uint8Array, reason: Payout['reason']): bigint => sumOf(out, (p) => bytesSame(p.recipient, key) && p.reason === reason)
      const all = [...input.miners, ...input.supervisors, ...input.evaluators]
      let captured = 0n
      for (const p of all) {
        const pen = p.status === 'cheat' ? p.stake : p.status === 'offline' ? (p.stake * BigInt(params.offlinePenaltyBps)) / 10_000n : 0n
        captured += pen
      }
      // stake returns, summed per key (a key may hold several roles, and unselected stakes come back whole)
      const keys = new Map<string, Uint8Array>([...all, ...input.unselected!].map((p) => [toHex(p.key), p.key]))
      for (const [id, key] of keys) {
        const want = all.filter((p) => toHex(p.key) === id).reduce((a, p) => {
          if (p.status === 'cheat') return a
          if (p.status === 'offline') return a + p.stake - (p.stake * BigInt(params.offlinePenaltyBps)) / 10_000n
          return a + p.stake
        }, 0n) + input.unselected!.filter((u) => toHex(u.key) === id).reduce((a, u) => a + u.stake, 0n)
        assert.equal(to(key, 'stake-return'), want)
      }
      assert.equal(sumOf(out, (p) => p.reason === 'stake-redistribution'), captured)
      // nobody who is not honest gets a reward or a redistribution
      const honest = new Set(all.filter((p) => p.status === 'honest').map((p) => toHex(p.key)))
      for (const p of out) {
        if (p.reason === 'miner-reward' || p.reason === 'supervisor-reward' || p.reason === 'evaluator-reward') assert.ok(honest.has(toHex(p.recipient)))
        if (p.reason === 'stake-redistribution' && !input.clients.some((c) => bytesSame(p.recipient, c.key))) assert.ok(honest.has(toHex(p.recipient)))
      }
      const honestMiners = input.miners.filter((m) => m.status === 'honest')
      if (input.outcome === 'not-run' || (input.outcome === 'completed' && honestMiners.length === 0)) {
        // apportioned by what each paid
        const paid = input.clients.map((c) => c.paid)
        const total = paid.reduce((a, b) => a + b, 0n)
        input.clients.forEach((c, i) => {
          const share = to(c.key, 'fee-refund')
          if (total > 0n) assert.ok(share * total >= input.fee * paid[i]! - total && share * total <= input.fee * paid[i]! + total, 'within a unit of its share')
        })
        assert.equal(input.clients.reduce((a, c) => a + to(c.key, 'fee-refund'), 0n), input.fee)
      } else {
        assert.equal(sumOf(out, (p) => p.reason === 'fee-refund'), 0n)
      }
      if (input.outcome === 'malformed') {
        const r = sumOf(out, (p) => p.reason === 'malformed-report')
        const e = sumOf(out, (p) => p.reason === 'evaluator-reward')
        assert.equal(r + e, input.fee)
        const hasEval = input.evaluators.some((x) => x.status === 'honest')
        assert.equal(e, hasEval ? (input.fee * BigInt(params.evaluatorsBps)) / 10_000n : 0n)
        for (const p of out.filter((x) => x.reason === 'malformed-report')) assert.ok(input.reporters!.some((k) => bytesSame(k, p.recipient)))
      }
      if (input.outcome === 'completed' && honestMiners.length > 0) {
        // miners paid in proportion to performance: each within one unit of pool x w_i / W
        const pool = sumOf(out, (p) => p.reason === 'miner-reward')
        const weights = input.testSetVerdict === 'mismatch' ? honestMiners.map(() => 1n) : honestMiners.map((m) => BigInt(m.scorePpm))
        const W0 = weights.reduce((a, b) => a + b, 0n)
        const W = W0 === 0n ? BigInt(weights.length) : W0
        honestMiners.forEach((m, k) => {
          const exact = pool * (W0 === 0n ? 1n : weights[k]!)
          const got = to(m.key, 'miner-reward') * W
          assert.ok(got >= exact - W && got <= exact + W, `miner ${k}`)
        })
        // the supervisors' and evaluators' pools go to their honest members, or to the miners when there are none
        const sup = sumOf(out, (p) => p.reason === 'supervisor-reward')
        if (!input.supervisors.some((s) => s.status === 'honest')) assert.equal(sup, 0n)
        const shares = apportion(input.fee, [params.minersBps, params.supervisorsBps, params.evaluatorsBps].map(BigInt))
        if (input.supervisors.some((s) => s.status === 'honest')) assert.equal(sup, shares[1])
      }
    }
  })

  it('does not depend on the order of the input lists', () => {
    const prng = new Prng(14)
    for (let i = 0; i < 300; i++) {
      const { input, params } = randomCharge(prng)
      const flipped: ChargeInput = {
        ...input, miners: [...input.miners].reverse(), supervisors: [...input.supervisors].reverse(),
        evaluators: [...input.evaluators].reverse(), reporters: input.reporters && [...input.reporters].reverse(), unselected: [...input.unselected!].reverse(),
      }
      assert.deepEqual(computeCharge(flipped, params), computeCharge(input, params))
    }
  })

  it('a refund goes to each payer by what it paid: a coin added to someone else\'s task takes back its own share only', () => {
    const k = (i: number): Uint8Array => new Uint8Array(32).fill(i)
    // the client paid 1,000,000; someone added 1 unit with a key that sorts first
    const out = computeCharge({ clients: [{ key: k(99), paid: 1_000_000n }, { key: k(1), paid: 1n }], fee: 999_000n, outcome: 'not-run', miners: [], supervisors: [], evaluators: [] })
    assert.deepEqual(out.map((p) => [p.recipient[0], p.amount, p.reason]), [[1, 1n, 'fee-refund'], [99, 998_999n, 'fee-refund']])
  })

  it('a worked example: 1000 units, 70/20/10, one cheat among three miners', () => {
    const k = (i: number): Uint8Array => new Uint8Array(32).fill(i)
    const out = computeCharge({
      clients: [{ key: k(99), paid: 1_000n }], fee: 1_000n, outcome: 'completed',
      miners: [
        { key: k(1), stake: 100n, status: 'honest', scorePpm: 900_000 },
        { key: k(2), stake: 100n, status: 'honest', scorePpm: 450_000 },
        { key: k(3), stake: 300n, status: 'cheat', scorePpm: 990_000 },
      ],
      supervisors: [{ key: k(4), stake: 50n, status: 'honest' }, { key: k(5), stake: 50n, status: 'offline' }],
      evaluators: [{ key: k(6), stake: 10n, status: 'honest' }, { key: k(7), stake: 10n, status: 'outlier' }],
    }, DEFAULT_CHARGE_PARAMS)
    const get = (key: number, reason: Payout['reason']): bigint => sumOf(out, (p) => bytesSame(p.recipient, k(key)) && p.reason === reason)
    // miners' pool 700 split 2:1 between the honest miners; supervisors' 200 to the one honest; evaluators' 100 to the one honest
    assert.equal(get(1, 'miner-reward') + get(2, 'miner-reward'), 700n)
    assert.ok(get(1, 'miner-reward') === 2n * get(2, 'miner-reward') || get(1, 'miner-reward') === 2n * get(2, 'miner-reward') + 1n)
    assert.equal(get(4, 'supervisor-reward'), 200n)
    assert.equal(get(6, 'evaluator-reward'), 100n)
    assert.equal(get(7, 'evaluator-reward'), 0n)
    assert.equal(get(3, 'stake-return'), 0n)
    assert.equal(get(5, 'stake-return'), 45n) // 10% of 50 captured
    // captured 300 + 5 = 305, shared by stake among honest workers (100, 100, 50)
    assert.equal(get(1, 'stake-redistribution') + get(2, 'stake-redistribution') + get(4, 'stake-redistribution'), 305n)
    assert.equal(sumPayouts(out), 1_000n + 100n + 100n + 300n + 50n + 50n + 10n + 10n)
  })

  it('refuses inputs that break the rules (LEDGER_BAD_CHARGE)', () => {
    const prng = new Prng(15)
    const base: ChargeInput = { clients: [{ key: prng.bytes(32), paid: 10n }], fee: 10n, outcome: 'completed', miners: [{ key: prng.bytes(32), stake: 1n, status: 'honest', scorePpm: 1 }], supervisors: [], evaluators: [] }
    const bad = (input: ChargeInput, params: ChargeParams = DEFAULT_CHARGE_PARAMS): void => throwsCode(() => computeCharge(input, params), LEDGER_ERRORS.BAD_CHARGE)
    bad(base, { ...DEFAULT_CHARGE_PARAMS, minersBps: 6_000 })
    bad(base, { ...DEFAULT_CHARGE_PARAMS, offlinePenaltyBps: 10_001 })
    bad({ ...base, fee: -1n })
    bad({ ...base, miners: [...base.miners, base.miners[0]!] })
    bad({ ...base, miners: [{ ...base.miners[0]!, scorePpm: PPM + 1 }] })
    bad({ ...base, miners: [{ ...base.miners[0]!, stake: -1n }] })
    bad({ ...base, outcome: 'malformed', reporters: [] })
    bad({ ...base, outcome: 'malformed', reporters: [prng.bytes(32)] })
    bad({ ...base, clients: [{ key: new Uint8Array(31), paid: 10n }] })
    bad({ ...base, clients: [] })
    bad({ ...base, clients: [base.clients[0]!, base.clients[0]!] })
    bad({ ...base, clients: [{ ...base.clients[0]!, paid: -1n }] })
  })
})
