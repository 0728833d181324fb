/**
 * Joint-Feldman DKG with complaints (dkg.ts): whole runs in one process with
 * every message delivered to every member, the complaint rules (dismissed by a
 * valid revealed share, upheld by a bad one or none, missing and late deals),
 * refusals (wrong session, non-member, bad signature, equivocation) that
 * leave the state untouched, the wire encodings, and threshold signing with
 * the keys a run produces.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  CURVE_ORDER, DKG_ERRORS, DkgSession, combineSignatures, compareBytes, dkgComplaintFromBytes, dkgDealFromBytes,
  dkgJustificationFromBytes, dkgMessageFromBytes, dkgMessageToBytes, dkgSessionId, dkgSuccessFromBytes, encryptShare,
  generateKeyPair, groupPublicKey, isDkgComplete, signDkgMessage, signShare,
  verifyDkgMessageSignature, verifyDkgMessageSignatureAsync, verifySignatureShare, verifyThresholdSignature,
  type DkgDeal, type DkgJustification, type DkgMessage, type DkgResult, type DkgSuccess, type KeyPair,
} from '../src/index.js'
import { Prng, decodeOrOurError, hex, throwsCode, unhex, utf8 } from './helpers.js'

const rand = (seed: number): ((n: number) => Uint8Array) => {
  const rng = new Prng(seed)
  return (n) => rng.bytes(n)
}

interface Party { keys: KeyPair; s: DkgSession }
interface Net {
  parties: Party[]
  committee: Uint8Array[]
  /** every message any party sent, in order (`from` is 1-based) */
  log: { from: number; msg: DkgMessage }[]
}

/** Members' keys sorted bytewise, so party k is member k + 1. */
function committeeOf(n: number, seed: number): KeyPair[] {
  const keys = Array.from({ length: n }, (_, i) => generateKeyPair(new Uint8Array(32).fill(seed * 64 + i + 1)))
  return keys.sort((a, b) => compareBytes(a.publicKey, b.publicKey))
}

function setup(n: number, t: number, seed: number, attempt = 0): Net {
  const keys = committeeOf(n, seed)
  const committee = keys.map((k) => k.publicKey)
  const parties = keys.map((k, i) => ({ keys: k, s: new DkgSession({ committee, keys: k, t, attempt, randomBytes: rand(seed * 1000 + i) }) }))
  return { parties, committee, log: [] }
}

/**
 * What the network does with a message party `from` sends: pass it on (the
 * default), replace it, or drop it (null).
 */
type Intercept = (from: number, msg: DkgMessage) => DkgMessage | null

/** Broadcasts `initial` and everything it provokes to every online party but the sender, FIFO, until quiet. */
function deliver(net: Net, initial: { from: number; msgs: DkgMessage[] }[], opts: { offline?: number[]; intercept?: Intercept } = {}): void {
  const offline = new Set(opts.offline ?? [])
  const queue: { from: number; msg: DkgMessage }[] = []
  const send = (from: number, msgs: DkgMessage[]): void => {
    for (const m of msgs) {
      const out = opts.intercept ? opts.intercept(from, m) : m
      if (out === null) continue
      net.log.push({ from, msg: out })
      queue.push({ from, msg: out })
    }
  }
  for (const { from, msgs } of initial) send(from, msgs)
  for (let steps = 0; queue.length > 0; steps++) {
    assert.ok(steps < 10_000, 'the message exchange does not end')
    const { from, msg } = queue.shift()!
    net.parties.forEach((p, k) => {
      const to = k + 1
      if (to === from || offline.has(to)) return
      send(to, p.s.receive(msg))
    })
  }
}

function startAll(net: Net, opts: { offline?: number[]; intercept?: Intercept } = {}): void {
  const offline = new Set(opts.offline ?? [])
  deliver(net, net.parties.flatMap((p, k) => (offline.has(k + 1) ? [] : [{ from: k + 1, msgs: p.s.start() }])), opts)
}

function timeoutAll(net: Net, opts: { offline?: number[]; intercept?: Intercept } = {}): void {
  const offline = new Set(opts.offline ?? [])
  deliver(net, net.parties.flatMap((p, k) => (offline.has(k + 1) ? [] : [{ from: k + 1, msgs: p.s.timeout() }])), opts)
}

/** Every listed member has a result, and they all agree on it; returns it. */
function agreed(net: Net, members: number[]): DkgResult[] {
  const rs = members.map((i) => {
    const r = net.parties[i - 1]!.s.result()
    assert.ok(r !== undefined, `member ${i} has no result: ${JSON.stringify(net.parties[i - 1]!.s.status())}`)
    assert.equal(r.index, i)
    return r
  })
  for (const r of rs.slice(1)) {
    assert.equal(hex(r.groupPublicKey), hex(rs[0]!.groupPublicKey), 'group keys differ')
    assert.deepEqual(r.qualified, rs[0]!.qualified)
    assert.deepEqual(r.publicShares.map(hex), rs[0]!.publicShares.map(hex))
  }
  return rs
}

/** The group key from the broadcast deals of `dealers`, computed apart from any session. */
function expectedKey(net: Net, dealers: number[]): string {
  const deals = dealers.map((d) => net.log.find((e) => e.msg.kind === 'deal' && e.from === d)!.msg as DkgDeal)
  return hex(groupPublicKey(deals.map((x) => x.commitments)))
}

/** t signers from the results sign `msg`; the combined signature verifies under the group key. */
function signsAndVerifies(rs: DkgResult[], signers: number[], t: number, msg: Uint8Array): Uint8Array {
  const byIndex = new Map(rs.map((r) => [r.index, r]))
  const shares = signers.map((i) => {
    const r = byIndex.get(i)!
    const sig = signShare(r.secretShare, msg)
    return { index: i, signature: sig }
  })
  const sig = combineSignatures(shares, t)
  assert.equal(verifyThresholdSignature(rs[0]!.groupPublicKey, msg, sig), true)
  return sig
}

const successesIn = (net: Net): DkgSuccess[] => net.log.filter((e) => e.msg.kind === 'success').map((e) => e.msg as DkgSuccess)

/**
 * A deal of party `dealer`, signed by it, in which member `victim`'s share is
 * a wrong one, well encrypted (the Feldman check catches it) or garbage (the
 * MAC does).
 */
function tamperedDeal(net: Net, dealer: number, deal: DkgDeal, victim: number, garbage = false): DkgDeal {
  const p = net.parties[dealer - 1]!
  const shares = deal.encryptedShares.slice()
  shares[victim - 1] = garbage ? new Uint8Array(64).fill(0x5a) : encryptShare(p.keys.secretKey, net.committee[victim - 1]!, deal.session, 424242n)
  const { signature: _sig, ...rest } = deal
  return signDkgMessage<DkgDeal>({ ...rest, encryptedShares: shares }, p.keys.secretKey)
}

const SLOT = utf8('slot hash 7')

describe('dkg: full runs', () => {
  it('2-of-3: everyone agrees without any timeout; every pair of members signs', () => {
    const net = setup(3, 2, 1)
    startAll(net)
    const rs = agreed(net, [1, 2, 3])
    assert.deepEqual(rs[0]!.qualified, [1, 2, 3])
    assert.equal(hex(rs[0]!.groupPublicKey), expectedKey(net, [1, 2, 3]))
    for (const p of net.parties) {
      const st = p.s.status()
      assert.equal(st.complete, true)
      assert.deepEqual(st.complaints, [])
      assert.deepEqual(st.confirmedBy, [1, 2, 3])
    }
    assert.equal(isDkgComplete(successesIn(net), net.committee, [1, 2, 3]), true)
    const sigs = [[1, 2], [1, 3], [2, 3]].map((s) => hex(signsAndVerifies(rs, s, 2, SLOT)))
    assert.equal(new Set(sigs).size, 1)
    // a late timeout changes nothing
    timeoutAll(net)
    timeoutAll(net)
    assert.equal(hex(net.parties[0]!.s.result()!.groupPublicKey), hex(rs[0]!.groupPublicKey))
  })

  it('3-of-5: public shares match the secret shares; every 3 of 5 give one signature', () => {
    const net = setup(5, 3, 2)
    startAll(net)
    const rs = agreed(net, [1, 2, 3, 4, 5])
    assert.equal(rs[0]!.t, 3)
    // 5 deals, 5 successes, nothing else
    assert.deepEqual(net.log.map((e) => e.msg.kind).sort(), [...Array(5).fill('deal'), ...Array(5).fill('success')])
    for (const r of rs) {
      const s = signShare(r.secretShare, SLOT)
      assert.equal(verifySignatureShare(r.publicShares[r.index - 1]!, SLOT, s), true, `member ${r.index}`)
    }
    const byIndex = new Map(rs.map((r) => [r.index, { index: r.index, signature: signShare(r.secretShare, SLOT) }]))
    const out = new Set<string>()
    for (let a = 1; a <= 5; a++) for (let b = a + 1; b <= 5; b++) for (let c = b + 1; c <= 5; c++) {
      out.add(hex(combineSignatures([a, b, c].map((i) => byIndex.get(i)!), 3)))
    }
    assert.equal(out.size, 1)
    assert.equal(verifyThresholdSignature(rs[0]!.groupPublicKey, SLOT, unhex([...out][0]!)), true)
    throwsCode(() => combineSignatures([byIndex.get(1)!, byIndex.get(4)!], 3), 'THRESHOLD_TOO_FEW_SHARES')
  })

  it('n = 1: start() alone completes it', () => {
    const net = setup(1, 1, 3)
    const out = net.parties[0]!.s.start()
    assert.deepEqual(out.map((m) => m.kind), ['deal', 'success'])
    const r = net.parties[0]!.s.result()!
    assert.deepEqual(r.qualified, [1])
    assert.equal(net.parties[0]!.s.status().complete, true)
    assert.equal(isDkgComplete([out[1] as DkgSuccess], net.committee, [1]), true)
    signsAndVerifies([r], [1], 1, SLOT)
  })

  it('is deterministic in randomBytes', () => {
    const a = setup(3, 2, 4)
    const b = setup(3, 2, 4)
    const da = a.parties.map((p) => hex(dkgMessageToBytes(p.s.start()[0]!)))
    const db = b.parties.map((p) => hex(dkgMessageToBytes(p.s.start()[0]!)))
    assert.deepEqual(da, db)
  })
})

describe('dkg: complaints', () => {
  // n = 4, t = 3 (= thresholdFor(4)); member 2 deals member 4 a wrong share
  const DEALER = 2
  const VICTIM = 4
  const badDealer = (net: Net): Intercept => (from, msg) => (from === DEALER && msg.kind === 'deal' ? tamperedDeal(net, DEALER, msg, VICTIM) : msg)

  it('a bad share, then a valid justification: the complaint is dismissed and the victim uses the revealed share', () => {
    const net = setup(4, 3, 5)
    let first = true
    const bad = badDealer(net)
    startAll(net, { intercept: (from, msg) => (first && from === DEALER && msg.kind === 'deal' ? ((first = false), bad(from, msg)) : msg) })
    const kinds = net.log.map((e) => `${e.from}:${e.msg.kind}`)
    assert.ok(kinds.includes(`${VICTIM}:complaint`))
    assert.ok(kinds.includes(`${DEALER}:justification`))
    const rs = agreed(net, [1, 2, 3, 4])
    assert.deepEqual(rs[0]!.qualified, [1, 2, 3, 4])
    for (const p of net.parties) {
      const st = p.s.status()
      assert.deepEqual(st.complaints, [{ complainer: VICTIM, accused: DEALER, reason: 'bad-share', ruling: 'dismissed' }])
      assert.equal(st.complete, true)
    }
    const v = rs[VICTIM - 1]!
    assert.equal(verifySignatureShare(v.publicShares[VICTIM - 1]!, SLOT, signShare(v.secretShare, SLOT)), true)
    signsAndVerifies(rs, [2, 3, 4], 3, SLOT)
  })

  it('a bad share and a bad justification: the dealer is disqualified at once, the others agree without it', () => {
    const net = setup(4, 3, 6)
    const bad = badDealer(net)
    startAll(net, {
      intercept: (from, msg) => {
        if (from === DEALER && msg.kind === 'justification') {
          const { signature: _s, ...rest } = msg
          return signDkgMessage<DkgJustification>({ ...rest, share: (msg.share + 1n) % CURVE_ORDER }, net.parties[DEALER - 1]!.keys.secretKey)
        }
        return bad(from, msg)
      },
    })
    const honest = [1, 3, 4]
    const rs = agreed(net, honest)
    assert.deepEqual(rs[0]!.qualified, honest)
    assert.equal(hex(rs[0]!.groupPublicKey), expectedKey(net, honest))
    assert.notEqual(hex(rs[0]!.groupPublicKey), expectedKey(net, [1, 2, 3, 4]))
    for (const i of honest) {
      const st = net.parties[i - 1]!.s.status()
      assert.deepEqual(st.disqualified, [DEALER])
      assert.equal(st.complaints[0]!.ruling, 'upheld')
      assert.equal(st.complete, true, `member ${i}`)
    }
    assert.equal(isDkgComplete(successesIn(net), net.committee, honest), true)
    signsAndVerifies(rs, honest, 3, SLOT)
  })

  it('an undecryptable share and no justification: upheld at the second timeout; an early success for all four never completes', () => {
    const net = setup(4, 3, 7)
    const bad: Intercept = (from, msg) => (from === DEALER && msg.kind === 'deal' ? tamperedDeal(net, DEALER, msg, VICTIM, true) : msg)
    const intercept: Intercept = (from, msg) => (from === DEALER && msg.kind === 'justification' ? null : bad(from, msg))
    startAll(net, { intercept })
    const victim = net.parties[VICTIM - 1]!.s
    assert.equal(victim.result(), undefined, 'the victim waits for the ruling')
    assert.deepEqual(victim.status().complaints.map((c) => c.ruling), ['pending'])
    assert.equal(net.parties[0]!.s.status().complete, false, 'member 1 posted a success for all four, but the victim did not')
    assert.equal(isDkgComplete(successesIn(net), net.committee, [1, 2, 3, 4]), false)
    timeoutAll(net, { intercept }) // nothing missing: no complaint
    assert.equal(victim.result(), undefined)
    timeoutAll(net, { intercept })
    const honest = [1, 3, 4]
    const rs = agreed(net, honest)
    assert.deepEqual(rs[0]!.qualified, honest)
    assert.equal(hex(rs[0]!.groupPublicKey), expectedKey(net, honest))
    for (const i of honest) {
      const st = net.parties[i - 1]!.s.status()
      assert.equal(st.phase, 'final')
      assert.equal(st.complete, true, `member ${i}`)
    }
    assert.equal(isDkgComplete(successesIn(net), net.committee, honest), true)
    signsAndVerifies(rs, honest, 3, SLOT)
  })

  it('a missing dealer: complaints at the first timeout, disqualified at the second; t members still sign', () => {
    const net = setup(3, 2, 8)
    const offline = [3]
    startAll(net, { offline })
    assert.equal(net.parties[0]!.s.result(), undefined)
    timeoutAll(net, { offline })
    const complaints = net.log.filter((e) => e.msg.kind === 'complaint')
    assert.deepEqual(complaints.map((e) => [e.from, e.msg.kind === 'complaint' && e.msg.reason]), [[1, 'missing'], [2, 'missing']])
    timeoutAll(net, { offline })
    const rs = agreed(net, [1, 2])
    assert.deepEqual(rs[0]!.qualified, [1, 2])
    assert.equal(hex(rs[0]!.groupPublicKey), expectedKey(net, [1, 2]))
    assert.deepEqual(net.parties[0]!.s.status().disqualified, [3])
    assert.equal(net.parties[0]!.s.status().complete, true)
    signsAndVerifies(rs, [1, 2], 2, SLOT)
  })

  it('a late deal: the missing complaints are answered with the deal and justifications, nobody is disqualified', () => {
    const net = setup(3, 2, 9)
    let held = true
    const intercept: Intercept = (from, msg) => (held && from === 3 && msg.kind === 'deal' ? null : msg)
    startAll(net, { intercept })
    held = false
    timeoutAll(net, { intercept })
    const rs = agreed(net, [1, 2, 3])
    assert.deepEqual(rs[0]!.qualified, [1, 2, 3])
    assert.deepEqual(net.parties[0]!.s.status().complaints.map((c) => [c.complainer, c.accused, c.reason, c.ruling]),
      [[1, 3, 'missing', 'dismissed'], [2, 3, 'missing', 'dismissed']])
    for (const p of net.parties) assert.equal(p.s.status().complete, true)
  })
})

describe('dkg: refusals leave the session untouched', () => {
  const net = setup(3, 2, 10)
  const [p1, p2] = net.parties as [Party, Party, Party]
  const deal2 = p2.s.start()[0] as DkgDeal
  const snapshot = (): string => JSON.stringify(p1.s.status())

  function refused(msg: DkgMessage, code: string, what: string): void {
    const before = snapshot()
    throwsCode(() => p1.s.receive(msg), code, what)
    assert.equal(snapshot(), before, `${what}: state changed`)
  }

  it('wrong session, non-member, bad signature, malformed shape, equivocation', () => {
    const other = new DkgSession({ committee: net.committee, keys: p2.keys, t: 2, attempt: 1, randomBytes: rand(99) })
    refused(other.start()[0]!, DKG_ERRORS.WRONG_SESSION, 'another attempt')

    const outsider = generateKeyPair(new Uint8Array(32).fill(200))
    const { signature: _s, ...unsigned } = deal2
    refused(signDkgMessage<DkgDeal>({ ...unsigned, dealer: outsider.publicKey }, outsider.secretKey), DKG_ERRORS.NOT_MEMBER, 'outsider deal')
    refused(signDkgMessage({ kind: 'complaint', session: p1.s.session, complainer: p2.keys.publicKey, accused: outsider.publicKey, reason: 'missing' }, p2.keys.secretKey),
      DKG_ERRORS.NOT_MEMBER, 'complaint against an outsider')

    refused({ ...deal2, signature: deal2.signature.map((b, i) => (i === 5 ? b ^ 1 : b)) }, DKG_ERRORS.BAD_SIGNATURE, 'flipped signature')
    refused(signDkgMessage<DkgDeal>({ ...unsigned }, net.parties[2]!.keys.secretKey), DKG_ERRORS.BAD_SIGNATURE, 'signed by another member')

    refused(signDkgMessage<DkgDeal>({ ...unsigned, commitments: unsigned.commitments.slice(0, 1) }, p2.keys.secretKey), 'PROTOCOL_BAD_VALUE', 'too few commitments')
    refused({ ...deal2, encryptedShares: deal2.encryptedShares.slice(0, 2) }, 'PROTOCOL_BAD_VALUE', 'a share missing')
    refused({ ...deal2, commitments: [new Uint8Array(48), deal2.commitments[1]!] }, 'PROTOCOL_BAD_VALUE', 'not a point')
    refused({ ...deal2, session: deal2.session.subarray(1) }, 'PROTOCOL_BAD_VALUE', 'short session')

    // the honest deal is still accepted after all that, once; a repeat is ignored; a different one is equivocation
    assert.deepEqual(p1.s.receive(deal2), [])
    assert.deepEqual(p1.s.status().dealsFrom, [1, 2])
    assert.deepEqual(p1.s.receive(deal2), [])
    refused(tamperedDeal(net, 2, deal2, 3), DKG_ERRORS.EQUIVOCATION, 'second deal')
  })

  it('a complaint or justification that contradicts an earlier one is equivocation', () => {
    const c1 = signDkgMessage({ kind: 'complaint', session: p1.s.session, complainer: p2.keys.publicKey, accused: net.committee[2]!, reason: 'missing' }, p2.keys.secretKey)
    const c2 = signDkgMessage({ kind: 'complaint', session: p1.s.session, complainer: p2.keys.publicKey, accused: net.committee[2]!, reason: 'bad-share' }, p2.keys.secretKey)
    p1.s.receive(c1)
    refused(c2, DKG_ERRORS.EQUIVOCATION, 'complaint with another reason')
    const j = (share: bigint): DkgMessage => signDkgMessage({ kind: 'justification', session: p1.s.session, dealer: p2.keys.publicKey, complainer: net.committee[2]!, share }, p2.keys.secretKey)
    p1.s.receive(j(5n))
    assert.deepEqual(p1.s.receive(j(5n)), [])
    refused(j(6n), DKG_ERRORS.EQUIVOCATION, 'second justification')
  })

  it('the constructor checks the committee and our place in it', () => {
    const keys = committeeOf(3, 11)
    const committee = keys.map((k) => k.publicKey)
    const mk = (c: Uint8Array[], k: KeyPair, t: number) => (): DkgSession => new DkgSession({ committee: c, keys: k, t, attempt: 0, randomBytes: rand(1) })
    throwsCode(mk([...committee].reverse(), keys[0]!, 2), DKG_ERRORS.BAD_COMMITTEE, 'unsorted')
    throwsCode(mk([committee[0]!, committee[0]!, committee[1]!], keys[0]!, 2), DKG_ERRORS.BAD_COMMITTEE, 'duplicate')
    throwsCode(mk(committee, keys[0]!, 4), DKG_ERRORS.BAD_COMMITTEE, 't > n')
    throwsCode(mk(committee, keys[0]!, 0), DKG_ERRORS.BAD_COMMITTEE, 't = 0')
    throwsCode(mk([], keys[0]!, 1), DKG_ERRORS.BAD_COMMITTEE, 'empty')
    throwsCode(mk(committee, generateKeyPair(new Uint8Array(32).fill(250)), 2), DKG_ERRORS.NOT_MEMBER, 'not ours')
  })

  it('the session id binds the committee, t and the attempt', () => {
    const c = net.committee
    const ids = [dkgSessionId(c, 2, 0), dkgSessionId(c, 2, 1), dkgSessionId(c, 3, 0), dkgSessionId(c.slice(0, 2), 2, 0)].map(hex)
    assert.equal(new Set(ids).size, 4)
    assert.equal(hex(dkgSessionId(c, 2, 0)), hex(p1.s.session))
  })
})

describe('dkg: encodings', () => {
  const net = setup(3, 2, 12)
  const VICTIM = 3
  let first = true
  startAll(net, {
    intercept: (from, msg) => (first && from === 1 && msg.kind === 'deal' ? ((first = false), tamperedDeal(net, 1, msg, VICTIM)) : msg),
  })
  const sample = new Map<string, DkgMessage>()
  for (const e of net.log) if (!sample.has(e.msg.kind)) sample.set(e.msg.kind, e.msg)

  it('a run produced one of each kind; each round-trips, through the union and its own decoder', async () => {
    assert.deepEqual([...sample.keys()].sort(), ['complaint', 'deal', 'justification', 'success'])
    const own = { deal: dkgDealFromBytes, complaint: dkgComplaintFromBytes, justification: dkgJustificationFromBytes, success: dkgSuccessFromBytes }
    for (const [kind, m] of sample) {
      const b = dkgMessageToBytes(m)
      assert.deepEqual(dkgMessageFromBytes(b), m, kind)
      assert.deepEqual(own[kind as keyof typeof own](b), m, kind)
      assert.equal(verifyDkgMessageSignature(m), true)
      assert.equal(await verifyDkgMessageSignatureAsync(m), true)
      for (const [other, decode] of Object.entries(own)) if (other !== kind) throwsCode(() => decode(b), 'PROTOCOL_BAD_TYPE', `${kind} as ${other}`)
    }
    const d = sample.get('deal')!
    assert.equal(dkgMessageToBytes(d).length, 1 + 1 + 32 + 32 + 1 + 2 * 48 + 1 + 3 * 64 + 64)
  })

  it('every truncation and bit flip is refused with a PROTOCOL_* error or re-encodes to itself', () => {
    let refusedCount = 0
    for (const [kind, m] of sample) {
      const b = dkgMessageToBytes(m)
      for (let n = 0; n < b.length; n++) {
        throwsCode(() => dkgMessageFromBytes(b.subarray(0, n)), 'PROTOCOL_TRUNCATED', `${kind} cut to ${n}`)
      }
      throwsCode(() => dkgMessageFromBytes(Uint8Array.from([...b, 0])), 'PROTOCOL_TRAILING_BYTES', `${kind} + 1 byte`)
      // flips in the fields before the signature (flips in the signature decode fine and fail verification)
      const step = kind === 'deal' ? 13 : 3
      for (let bit = 0; bit < (b.length - 64) * 8; bit += step) {
        const f = b.slice()
        f[bit >> 3]! ^= 1 << (bit & 7)
        const x = decodeOrOurError(dkgMessageFromBytes, f, `${kind} bit ${bit}`)
        if (x === null) { refusedCount++; continue }
        assert.equal(hex(dkgMessageToBytes(x)), hex(f), `${kind} bit ${bit}: not canonical`)
        assert.equal(verifyDkgMessageSignature(x), false, `${kind} bit ${bit}: signature still valid`)
      }
    }
    assert.ok(refusedCount > 0)
  })

  it('random bytes (with and without a valid head) only ever give PROTOCOL_* errors; oversize is refused', () => {
    const rng = new Prng(77)
    for (let i = 0; i < 400; i++) {
      const b = rng.bytes(rng.int(300))
      if (i % 2 === 0 && b.length >= 2) { b[0] = 1; b[1] = 1 + rng.int(5) }
      decodeOrOurError(dkgMessageFromBytes, b, `random ${i}`)
    }
    throwsCode(() => dkgMessageFromBytes(new Uint8Array(8193)), 'PROTOCOL_TOO_LARGE')
    const head = (type: number, ...rest: number[]): Uint8Array => Uint8Array.from([1, type, ...new Uint8Array(64), ...rest])
    throwsCode(() => dkgMessageFromBytes(head(9)), 'PROTOCOL_BAD_TYPE')
    throwsCode(() => dkgMessageFromBytes(Uint8Array.from([2, 1])), 'PROTOCOL_BAD_VERSION')
    throwsCode(() => dkgMessageFromBytes(head(1, 65)), 'PROTOCOL_TOO_LARGE', 'commitment count over the cap')
    throwsCode(() => dkgMessageFromBytes(head(1, 0)), 'PROTOCOL_BAD_VALUE', 'no commitments')
    throwsCode(() => dkgMessageFromBytes(head(2, ...new Uint8Array(32), 3)), 'PROTOCOL_BAD_VALUE', 'unknown reason')
    throwsCode(() => dkgMessageFromBytes(head(2, ...new Uint8Array(32), 1)), 'PROTOCOL_BAD_VALUE', 'complaint against oneself')
    const s = dkgMessageToBytes(sample.get('success')!)
    const unsorted = s.slice()
    const at = 2 + 64 + 48
    assert.equal(unsorted[at], 3)
    unsorted[at + 1] = 2
    unsorted[at + 2] = 1
    throwsCode(() => dkgMessageFromBytes(unsorted), 'PROTOCOL_NOT_CANONICAL')
    const j = dkgMessageToBytes(sample.get('justification')!)
    const big = j.slice()
    big.fill(0xff, 2 + 64 + 32, 2 + 64 + 64)
    throwsCode(() => dkgMessageFromBytes(big), 'PROTOCOL_BAD_VALUE', 'share ≥ r')
  })

  it('isDkgComplete: all qualified members, one key, valid signatures', () => {
    const ok = successesIn(net)
    const q = [1, 2, 3]
    assert.equal(isDkgComplete(ok, net.committee, q), true)
    assert.equal(isDkgComplete(ok.slice(1), net.committee, q), false, 'one missing')
    assert.equal(isDkgComplete(ok, net.committee, [1, 2]), false, 'another qualified set')
    const forged = ok.map((m, i) => (i === 0 ? { ...m, signature: new Uint8Array(64) } : m))
    assert.equal(isDkgComplete(forged, net.committee, q), false, 'bad signature')
    const other = setup(3, 2, 13)
    startAll(other)
    assert.equal(isDkgComplete([...ok.slice(1), successesIn(other)[0]!], net.committee, q), false, 'another key')
    assert.equal(isDkgComplete([], net.committee, []), false)
  })
})
