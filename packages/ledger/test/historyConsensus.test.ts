/**
 * Message-history consensus: supervisors in one process, a tiny message bus
 * that delivers every broadcast to every other supervisor (through the wire
 * encoding, in a seeded random interleaving), IT_RES hashes reaching each
 * supervisor in a different order, and a real BLS t-of-n scheme from a
 * trusted dealer.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Prng } from '../../protocol/test/helpers.js'
import {
  ZERO_HASH, combineSignatures, commitPolynomial, evaluatePolynomial, generateKeyPair, groupPublicKey,
  historyMessageFromBytes, historyMessageToBytes, isPouwError, publicShareOf, randomPolynomial, signShare,
  replaceLeaderHash, signSlotProposal, signSlotResult, signSlotVote, slotHash, taggedHash, thresholdFor, toHex, verifySignatureShare,
  verifyThresholdSignature, TAGS,
  type HistoryMessage, type KeyPair, type MessageHistory, type ReplaceLeader, type SlotProposal, type SlotResult, type SlotVote,
} from '@pouw/protocol'
import { HISTORY_ERRORS, HistoryConsensus, schulze, type HistoryConsensusOptions, type ThresholdScheme } from '../src/index.js'

const TASK = new Uint8Array(16).fill(0x42)

function sortedKeys(n: number, seed: number): KeyPair[] {
  return Array.from({ length: n }, (_, i) => generateKeyPair(new Uint8Array(32).fill(seed + i)))
    .sort((a, b) => (toHex(a.publicKey) < toHex(b.publicKey) ? -1 : 1))
}

/** A trusted dealer: one random polynomial of degree t - 1, share i = S(i). */
function dealSchemes(n: number, seed: number): ThresholdScheme[] {
  const rng = new Prng(seed)
  const t = thresholdFor(n)
  const coeffs = randomPolynomial(t, (k) => rng.bytes(k))
  const commitments = [commitPolynomial(coeffs)]
  const groupKey = groupPublicKey(commitments)
  const publicShares = Array.from({ length: n }, (_, i) => publicShareOf(commitments, i + 1))
  return publicShares.map((_, i) => {
    const secret = evaluatePolynomial(coeffs, i + 1)
    return {
      t,
      index: i + 1,
      signShare: (m: Uint8Array) => signShare(secret, m),
      verifyShare: (index: number, m: Uint8Array, s: Uint8Array) => index >= 1 && index <= n && verifySignatureShare(publicShares[index - 1]!, m, s),
      combine: (shares: { index: number; signature: Uint8Array }[]) => combineSignatures(shares, t),
      verify: (m: Uint8Array, s: Uint8Array) => verifyThresholdSignature(groupKey, m, s),
    }
  })
}

const TIMING = { slotIntervalMs: 100, maxSlotMessages: 6, leaderTimeoutMs: 1_000, voteGraceMs: 50 }

interface SimOptions { n: number; seed: number; opts?: Partial<HistoryConsensusOptions> }

class Sim {
  readonly keys: KeyPair[]
  readonly schemes: ThresholdScheme[]
  readonly nodes: HistoryConsensus[]
  readonly silent = new Set<number>()
  readonly rng: Prng
  private queue: { to: number; bytes: Uint8Array }[] = []
  now = 0
  epoch = 0
  delivered = 0

  constructor({ n, seed, opts = {} }: SimOptions) {
    this.rng = new Prng(seed)
    this.keys = sortedKeys(n, seed & 0x7f)
    this.schemes = dealSchemes(n, seed)
    const committee = this.keys.map((k) => k.publicKey)
    this.nodes = this.keys.map((keys, i) => new HistoryConsensus({ taskId: TASK, committee, keys, scheme: this.schemes[i]!, ...TIMING, ...opts }))
  }

  broadcast(from: number, msgs: HistoryMessage[]): void {
    if (this.silent.has(from)) return
    for (const m of msgs) {
      const bytes = historyMessageToBytes(m)
      for (let to = 0; to < this.nodes.length; to++) if (to !== from) this.queue.push({ to, bytes })
    }
  }

  /** delivers everything queued, in a random interleaving, until the bus is quiet */
  deliver(): void {
    while (this.queue.length > 0) {
      const { to, bytes } = this.queue.splice(this.rng.int(this.queue.length), 1)[0]!
      if (this.silent.has(to)) continue
      this.delivered++
      this.broadcast(to, this.nodes[to]!.receive(historyMessageFromBytes(bytes), this.now))
    }
  }

  step(ms: number): void {
    this.now += ms
    for (let i = 0; i < this.nodes.length; i++) if (!this.silent.has(i)) this.broadcast(i, this.nodes[i]!.tick(this.now, this.epoch))
    this.deliver()
  }

  live(): HistoryConsensus[] { return this.nodes.filter((_, i) => !this.silent.has(i)) }
}

function messageHash(k: number): Uint8Array {
  return taggedHash(TAGS.itres, new Uint8Array([k >> 8, k & 0xff]))
}

/**
 * Feeds `count` IT_RES hashes (numbered from `first`), one every 10 ms, each
 * reaching each supervisor after its own random delay of up to 60 ms, so
 * every supervisor records them in a different order; steps the clock while
 * they arrive.
 */
function feed(sim: Sim, first: number, count: number, jitterMs = 60): Uint8Array[] {
  const start = sim.now
  const arrivals: { at: number; node: number; k: number }[] = []
  for (let k = first; k < first + count; k++) {
    for (let node = 0; node < sim.nodes.length; node++) arrivals.push({ at: start + (k - first) * 10 + sim.rng.int(jitterMs + 1), node, k })
  }
  arrivals.sort((a, b) => a.at - b.at || a.node - b.node || a.k - b.k)
  let i = 0
  const end = arrivals[arrivals.length - 1]!.at
  while (sim.now < end + 50) {
    sim.now += 25
    for (; i < arrivals.length && arrivals[i]!.at <= sim.now; i++) {
      const a = arrivals[i]!
      if (!sim.silent.has(a.node)) sim.nodes[a.node]!.record(messageHash(a.k), sim.now)
    }
    sim.step(0)
  }
  return Array.from({ length: count }, (_, j) => messageHash(first + j))
}

/** steps the clock until every live supervisor has slotted `hashes` (or fails) */
function settle(sim: Sim, hashes: Uint8Array[], maxMs = 20_000): void {
  const startedAt = sim.now
  while (!sim.live().every((node) => hashes.every((h) => node.slotOf(h) !== undefined))) {
    if (sim.now - startedAt > maxMs) {
      assert.fail(`not settled after ${maxMs} ms: unslotted ${sim.live().map((n) => n.unslottedCount()).join(',')}`)
    }
    sim.step(50)
  }
}

const recordBytes = (node: HistoryConsensus): string[] => node.records().map((r) => toHex(historyMessageToBytes(r)))

/** identical records everywhere, chained, threshold-signed, every hash slotted once */
function assertAgreement(sim: Sim, hashes: Uint8Array[]): MessageHistory[] {
  const live = sim.live()
  const first = live[0]!
  for (const node of live.slice(1)) assert.deepEqual(recordBytes(node), recordBytes(first), 'same records at every supervisor')
  const recs = first.records()
  let prev: Uint8Array = ZERO_HASH
  const seen = new Set<string>()
  recs.forEach((r, slot) => {
    assert.equal(r.slot, slot)
    assert.equal(toHex(r.prevSlotHash), toHex(prev), `slot ${slot} chains to slot ${slot - 1}`)
    assert.ok(sim.schemes[0]!.verify(slotHash(r), r.signature), `slot ${slot} threshold signature`)
    assert.ok(r.messages.length >= 1 && r.messages.length <= TIMING.maxSlotMessages)
    r.messages.forEach((h, position) => {
      const id = toHex(h)
      assert.ok(!seen.has(id), 'a message is slotted once')
      seen.add(id)
      for (const node of live) assert.deepEqual(node.slotOf(h), { slot, position })
    })
    prev = slotHash(r)
  })
  for (const h of hashes) assert.ok(seen.has(toHex(h)), 'every recorded message is slotted')
  for (const node of live) assert.equal(toHex(node.head().prevSlotHash), toHex(prev))
  return recs
}

/** A copy of a supervisor's whole state (without its keys and scheme), to check a refusal changed nothing. */
function stateOf(node: HistoryConsensus): unknown {
  return structuredClone(Object.fromEntries(Object.entries(node).filter(([k]) => k !== 'scheme' && k !== 'keys')))
}

function refuses(node: HistoryConsensus, msg: HistoryMessage, code: string, now = 0): void {
  const before = stateOf(node)
  assert.throws(() => node.receive(msg, now), (e: unknown) => {
    assert.ok(isPouwError(e), `expected a PouwError, got ${String(e)}`)
    assert.equal(e.code, code, e.message)
    return true
  })
  assert.deepEqual(stateOf(node), before, `refusing ${msg.type} (${code}) left the state untouched`)
}

describe('HistoryConsensus', () => {
  it('3 supervisors: every slot agreed, in the same order everywhere, across epochs', () => {
    const sim = new Sim({ n: 3, seed: 3 })
    const all: Uint8Array[] = []
    for (let epoch = 0; epoch < 3; epoch++) {
      sim.epoch = epoch
      all.push(...feed(sim, epoch * 20, 20))
      settle(sim, all)
      for (const node of sim.nodes) assert.equal(node.leaderIndex(epoch), epoch % 3, 'round robin')
    }
    const recs = assertAgreement(sim, all)
    assert.ok(recs.length >= 10, `${recs.length} slots`)
    assert.deepEqual([...new Set(recs.map((r) => r.epoch))], [0, 1, 2], 'each epoch\'s leader packed slots')
    const drained = sim.nodes[1]!.drain()
    assert.equal(drained.records.length, recs.length)
    assert.equal(sim.nodes[1]!.drain().records.length, 0)
  })

  it('4 supervisors: agreed order follows the common receipt order', () => {
    const sim = new Sim({ n: 4, seed: 4 })
    // no jitter: every supervisor records in the same order, so that is the history
    const same = feed(sim, 0, 12, 0)
    settle(sim, same)
    const recs = assertAgreement(sim, same)
    assert.deepEqual(recs.flatMap((r) => r.messages.map(toHex)), same.map(toHex))
    // then with jitter
    const more = feed(sim, 100, 30)
    settle(sim, [...same, ...more])
    assertAgreement(sim, [...same, ...more])
    assert.equal(sim.nodes[0]!.replacements().length, 0)

    // a supervisor that restarts from scratch catches up from the records alone, whatever order they come in
    const all = sim.nodes[0]!.records()
    const opts = { taskId: TASK, committee: sim.keys.map((k) => k.publicKey), keys: sim.keys[3]!, scheme: sim.schemes[3]!, ...TIMING }
    const fresh = new HistoryConsensus(opts)
    for (const r of all.slice().reverse()) assert.deepEqual(fresh.receive(r, sim.now), [])
    assert.deepEqual(recordBytes(fresh), recordBytes(sim.nodes[0]!))
    // one that resumes from a known slot takes the records after it
    const k = Math.floor(all.length / 2)
    const resumed = new HistoryConsensus({ ...opts, startSlot: { slot: k, prevSlotHash: slotHash(all[k - 1]!) } })
    for (const r of all) resumed.receive(r, sim.now)
    assert.deepEqual(recordBytes(resumed), recordBytes(sim.nodes[0]!).slice(k))
    assert.equal(resumed.slotOf(all[0]!.messages[0]!), undefined)
    assert.deepEqual(resumed.slotOf(all[k]!.messages[0]!), { slot: k, position: 0 })
  })

  for (const n of [3, 4]) {
    it(`${n} supervisors: a leader that goes silent is replaced and slots continue`, () => {
      const sim = new Sim({ n, seed: 40 + n })
      const before = feed(sim, 0, 10)
      settle(sim, before)
      const slotsBefore = sim.nodes[0]!.records().length
      const leader = sim.nodes[0]!.leaderIndex(0)
      sim.silent.add(leader)
      const after = feed(sim, 50, 15)
      settle(sim, [...before, ...after])
      const recs = assertAgreement(sim, [...before, ...after])
      assert.ok(recs.length > slotsBefore)
      for (const node of sim.live()) {
        const reps = node.replacements()
        assert.equal(reps.length, 1)
        assert.equal(reps[0]!.leaderIndex, leader)
        assert.equal(reps[0]!.reason, 'offline')
        assert.equal(node.leaderIndex(0), (leader + 1) % n)
        assert.ok(sim.schemes[0]!.verify(replaceLeaderHash(reps[0]!), reps[0]!.signature), 'threshold-signed replacement')
      }
      // the replacement and the new slots are the same bytes everywhere
      const live = sim.live()
      for (const node of live.slice(1)) {
        assert.deepEqual(node.replacements().map((r) => toHex(historyMessageToBytes(r))), live[0]!.replacements().map((r) => toHex(historyMessageToBytes(r))))
      }
    })
  }

  it('a silent next-in-line does not block the replacement (the one after asks later)', () => {
    // the leader and the next in line silent in a 7-member committee (t = 5)
    const big = new Sim({ n: 7, seed: 78 })
    big.silent.add(0)
    big.silent.add(1)
    const hs = feed(big, 0, 8)
    settle(big, hs)
    assertAgreement(big, hs)
    const reps = big.live()[0]!.replacements()
    assert.deepEqual(reps.map((r) => r.leaderIndex), [0, 1])
    assert.equal(big.live()[0]!.leaderIndex(0), 2)
  })

  it('a result that overtakes its proposal is kept until the proposal comes; the leader waits the grace period for the n-th vote', () => {
    const sim = new Sim({ n: 4, seed: 12 })
    const [L, A, B, C] = sim.nodes as [HistoryConsensus, HistoryConsensus, HistoryConsensus, HistoryConsensus]
    const hs = [1, 2, 3].map(messageHash)
    for (const node of sim.nodes) hs.forEach((h) => node.record(h, 0))
    const [proposal] = L.tick(100, 0) as [SlotProposal, SlotVote]
    const va = A.receive(proposal, 100)
    const vb = B.receive(proposal, 100)
    assert.deepEqual(L.receive(va[0]!, 110), [])
    assert.deepEqual(L.receive(vb[0]!, 110), [], 't votes, within the grace period')
    assert.deepEqual(L.tick(100 + TIMING.voteGraceMs - 1, 0), [])
    const out = L.tick(100 + TIMING.voteGraceMs, 0)
    assert.deepEqual(out.map((m) => m.type), ['result', 'share'])
    assert.equal((out[0] as SlotResult).votes.length, 3)
    assert.deepEqual(C.receive(out[0]!, 160), [], 'no proposal yet: kept')
    const fromC = C.receive(proposal, 170)
    assert.deepEqual(fromC.map((m) => m.type), ['vote', 'share'])
    assert.deepEqual(C.receive(out[1]!, 170), [])
    const sa = A.receive(out[0]!, 170)[0]!
    assert.deepEqual(C.receive(sa, 170), [], 'C combines t shares')
    assert.equal(C.records().length, 1)
    assert.deepEqual(L.receive(fromC[0]!, 170), [], 'a late vote is ignored')
  })

  describe('refusals leave the state untouched', () => {
    // one slot driven by hand among 4 supervisors (t = 3): node 0 leads epoch 0
    const sim = new Sim({ n: 4, seed: 9 })
    const [L, A, B, C] = sim.nodes as [HistoryConsensus, HistoryConsensus, HistoryConsensus, HistoryConsensus]
    const keys = sim.keys
    const outsider = generateKeyPair(new Uint8Array(32).fill(0xee))
    const hs = [1, 2, 3, 4].map(messageHash)
    hs.forEach((h, i) => { L.record(h, 0); A.record(hs[(i + 1) % 4]!, 0); B.record(hs[3 - i]!, 0); C.record(h, 0) })
    const [proposal, leaderVote] = L.tick(200, 0) as [SlotProposal, SlotVote]
    const votes = [A, B, C].map((node) => node.receive(proposal, 200)[0] as SlotVote)

    it('a proposal from a supervisor that is not the leader', () => {
      assert.equal(proposal.type, 'proposal')
      assert.equal(leaderVote.type, 'vote')
      const fake = signSlotProposal({ ...proposal, leader: keys[2]!.publicKey }, keys[2]!.secretKey)
      refuses(A, fake, HISTORY_ERRORS.NOT_LEADER)
      const outside = signSlotProposal({ ...proposal, leader: outsider.publicKey }, outsider.secretKey)
      refuses(A, outside, HISTORY_ERRORS.NOT_MEMBER)
      refuses(A, { ...proposal, signature: proposal.signature.map((b, i) => (i === 0 ? b ^ 1 : b)) }, HISTORY_ERRORS.BAD_SIGNATURE)
      refuses(A, { ...proposal, taskId: new Uint8Array(16) }, HISTORY_ERRORS.WRONG_TASK)
      assert.deepEqual(A.receive(proposal, 200), [], 'a re-delivered proposal is ignored')
    })

    it('a second, different proposal for the slot from the leader is equivocation', () => {
      const other = signSlotProposal({ ...proposal, messages: proposal.messages.slice(0, 2) }, keys[0]!.secretKey)
      assert.throws(() => B.receive(other, 200), (e: unknown) => isPouwError(e) && e.code === HISTORY_ERRORS.EQUIVOCATION)
    })

    it('votes from non-members, duplicate votes, bad ballots', () => {
      const outside = signSlotVote({ ...votes[0]!, voter: outsider.publicKey }, outsider.secretKey)
      refuses(L, outside, HISTORY_ERRORS.NOT_MEMBER)
      assert.deepEqual(L.receive(votes[0]!, 210), [], 'first vote of A: no result yet')
      assert.deepEqual(L.receive(votes[0]!, 210), [], 'the same vote again is ignored')
      const changed = signSlotVote({ ...votes[0]!, ranking: votes[0]!.ranking.slice().reverse() }, keys[1]!.secretKey)
      refuses(L, changed, HISTORY_ERRORS.BAD_VOTE)
      const short = signSlotVote({ ...votes[1]!, ranking: [0, 1] }, keys[2]!.secretKey)
      refuses(L, short, HISTORY_ERRORS.BAD_VOTE)
      const unsigned = { ...votes[1]!, ranking: votes[1]!.ranking.slice().reverse() }
      refuses(L, unsigned, HISTORY_ERRORS.BAD_SIGNATURE)
    })

    let result: SlotResult
    it('the leader sends the result once all n votes are in', () => {
      assert.deepEqual(L.receive(votes[1]!, 220), [], 't = 3 votes: waits for the 4th within the grace period')
      const out = L.receive(votes[2]!, 220)
      assert.deepEqual(out.map((m) => m.type), ['result', 'share'])
      result = out[0] as SlotResult
      assert.equal(result.votes.length, 4)
      assert.deepEqual(result.order, schulze(4, result.votes.map((v) => v.ranking)))
    })

    it('tampered results', () => {
      const resign = (r: Omit<SlotResult, 'signature'>): SlotResult => signSlotResult(r, keys[0]!.secretKey)
      const swapped = result.order.slice()
      ;[swapped[0], swapped[1]] = [swapped[1]!, swapped[0]!]
      refuses(A, resign({ ...result, order: swapped }), HISTORY_ERRORS.BAD_RESULT)
      const forgedVote = { ...result.votes[1]!, ranking: result.votes[1]!.ranking.slice().reverse() }
      refuses(A, resign({ ...result, votes: result.votes.map((v, i) => (i === 1 ? forgedVote : v)) }), HISTORY_ERRORS.BAD_SIGNATURE)
      refuses(A, resign({ ...result, votes: [result.votes[0]!, result.votes[0]!, result.votes[1]!] }), HISTORY_ERRORS.BAD_VOTE)
      const outsideVote = signSlotVote({ ...result.votes[0]!, voter: outsider.publicKey }, outsider.secretKey)
      refuses(A, resign({ ...result, votes: [...result.votes.slice(0, 3), outsideVote] }), HISTORY_ERRORS.NOT_MEMBER)
      refuses(A, resign({ ...result, votes: result.votes.slice(0, 2), order: schulze(4, result.votes.slice(0, 2).map((v) => v.ranking)) }), HISTORY_ERRORS.BAD_RESULT)
      refuses(A, { ...result, slot: 1 }, HISTORY_ERRORS.BAD_RESULT)
      refuses(A, { ...result, signature: new Uint8Array(64) }, HISTORY_ERRORS.BAD_SIGNATURE)
      const byOther = signSlotResult({ ...result, leader: keys[2]!.publicKey }, keys[2]!.secretKey)
      refuses(A, byOther, HISTORY_ERRORS.NOT_LEADER)
    })

    let record: MessageHistory
    it('the genuine result is signed and the slot completes; forged records are refused', () => {
      const shares = [A, B, C].map((node) => node.receive(result, 230))
      for (const s of shares) assert.deepEqual(s.map((m) => m.type), ['share'])
      // A gets two shares (B's and C's) and its own: t = 3, it completes without the leader
      assert.deepEqual(A.receive(shares[1]![0]!, 240), [])
      assert.deepEqual(A.receive(shares[2]![0]!, 240), [])
      assert.equal(A.records().length, 1)
      // the leader combines and broadcasts the record
      L.receive(shares[0]![0]!, 240)
      const out = L.receive(shares[1]![0]!, 240)
      assert.deepEqual(out.map((m) => m.type), ['history'])
      record = out[0] as MessageHistory
      assert.equal(toHex(historyMessageToBytes(record)), toHex(historyMessageToBytes(A.records()[0]!)), 'the BLS signature is unique')
      // forged slot signatures
      const forged: MessageHistory = { ...record, messages: record.messages.slice().reverse() }
      refuses(B, forged, HISTORY_ERRORS.FORGED_RECORD)
      refuses(B, { ...record, signature: new Uint8Array(96) }, HISTORY_ERRORS.FORGED_RECORD)
      const otherGroup = dealSchemes(4, 1234)
      const shares2 = otherGroup.slice(0, 3).map((s) => ({ index: s.index, signature: s.signShare(slotHash(record)) }))
      refuses(B, { ...record, signature: otherGroup[0]!.combine(shares2) }, HISTORY_ERRORS.FORGED_RECORD, 250)
      // the genuine record is verified and appended
      assert.deepEqual(B.receive(record, 250), [])
      assert.equal(B.records().length, 1)
      assert.deepEqual(B.receive(record, 250), [], 'twice is fine')
    })

    it('forged replace-leader records', () => {
      const rec: ReplaceLeader = { type: 'replace', taskId: TASK, epoch: 0, round: 0, leaderIndex: 0, reason: 'offline', signature: new Uint8Array(96) }
      refuses(C, rec, HISTORY_ERRORS.FORGED_RECORD)
      assert.equal(C.leaderIndex(0), 0)
    })
  })
})
