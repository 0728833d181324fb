/**
 * Message-history wire messages: every kind round-trips, signatures cover
 * every field, and the decoder is strict and only ever throws PROTOCOL_*
 * PouwErrors on random, truncated or mutated bytes.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  HISTORY_VERSION, MAX_HISTORY_MESSAGE_BYTES, MAX_SLOT_MESSAGES, PROTOCOL_ERRORS, REPLACE_REASONS, generateKeyPair,
  historyMessageFromBytes, historyMessageToBytes, historySigningHash, proposalHash, replaceLeaderHash,
  signReplaceRequest, signSigShare, signSlotProposal, signSlotResult, signSlotVote, slotHash, verifyHistorySignature,
  type HistoryMessage, type KeyPair, type MessageHistory, type ReplaceLeader, type SlotVote,
} from '../src/index.js'
import { Prng, concat, decodeOrOurError, hex, throwsCode, u16be } from './helpers.js'

const rng = new Prng(0x5107)
const keys: KeyPair[] = [1, 2, 3, 4].map((i) => generateKeyPair(new Uint8Array(32).fill(i)))
const TASK = new Uint8Array(16).fill(9)

function permutation(n: number, r: Prng): number[] {
  const xs = Array.from({ length: n }, (_, i) => i)
  for (let i = n - 1; i > 0; i--) {
    const j = r.int(i + 1)
    ;[xs[i], xs[j]] = [xs[j]!, xs[i]!]
  }
  return xs
}

function hashes(n: number, r: Prng): Uint8Array[] {
  return Array.from({ length: n }, () => r.bytes(32))
}

function vote(k: KeyPair, m: number, r: Prng, ph: Uint8Array): SlotVote {
  return signSlotVote({ type: 'vote', taskId: TASK, slot: 7, proposalHash: ph, voter: k.publicKey, ranking: permutation(m, r) }, k.secretKey)
}

/** one of each kind, with `m` messages per slot */
function samples(r: Prng, m = 1 + r.int(20)): HistoryMessage[] {
  const proposal = signSlotProposal({
    type: 'proposal', taskId: TASK, epoch: r.int(0x10000), slot: r.u32(), leader: keys[0]!.publicKey,
    prevSlotHash: r.bytes(32), messages: hashes(m, r),
  }, keys[0]!.secretKey)
  const ph = proposalHash(proposal)
  const sorted = keys.slice().sort((a, b) => (hex(a.publicKey) < hex(b.publicKey) ? -1 : 1))
  const votes = sorted.slice(0, 1 + r.int(4)).map((k) => vote(k, m, r, ph))
  const result = signSlotResult({
    type: 'result', taskId: TASK, slot: 7, proposalHash: ph, leader: keys[0]!.publicKey, order: permutation(m, r), votes,
  }, keys[0]!.secretKey)
  const share = signSigShare({
    type: 'share', taskId: TASK, subject: r.bytes(32), signer: keys[1]!.publicKey, index: 1 + r.int(64), share: r.bytes(96),
  }, keys[1]!.secretKey)
  const history: MessageHistory = {
    type: 'history', taskId: TASK, epoch: r.int(0x10000), slot: r.u32(), prevSlotHash: r.bytes(32), messages: hashes(m, r), signature: r.bytes(96),
  }
  const body = { taskId: TASK, epoch: r.int(0x10000), round: r.int(0x10000), leaderIndex: r.int(64), reason: r.pick(REPLACE_REASONS) }
  const request = signReplaceRequest({
    type: 'replace-request', ...body, requester: keys[2]!.publicKey, index: 3, share: r.bytes(96),
  }, keys[2]!.secretKey)
  const replace: ReplaceLeader = { type: 'replace', ...body, signature: r.bytes(96) }
  return [proposal, votes[0]!, result, share, history, request, replace]
}

function decodeOrOurs(b: Uint8Array, what: string): HistoryMessage | null {
  return decodeOrOurError(historyMessageFromBytes, b, what)
}

describe('history messages', () => {
  it('round-trip every kind, and re-encode to the same bytes', () => {
    for (let i = 0; i < 20; i++) {
      for (const m of samples(rng)) {
        const bytes = historyMessageToBytes(m)
        const back = historyMessageFromBytes(bytes)
        assert.deepEqual(back, m, m.type)
        assert.equal(hex(historyMessageToBytes(back)), hex(bytes))
        assert.equal(bytes[2], [0, 'proposal', 'vote', 'result', 'share', 'history', 'replace-request', 'replace'].indexOf(m.type))
      }
    }
  })

  it('round-trips a full slot: 512 messages, 64 votes over them', () => {
    const r = new Prng(512)
    const many = Array.from({ length: 64 }, (_, i) => generateKeyPair(new Uint8Array(32).fill(100 + i)))
      .sort((a, b) => (hex(a.publicKey) < hex(b.publicKey) ? -1 : 1))
    const ph = r.bytes(32)
    const votes = many.map((k) => vote(k, MAX_SLOT_MESSAGES, r, ph))
    const result = signSlotResult({
      type: 'result', taskId: TASK, slot: 7, proposalHash: ph, leader: many[0]!.publicKey, order: permutation(MAX_SLOT_MESSAGES, r), votes,
    }, many[0]!.secretKey)
    const bytes = historyMessageToBytes(result)
    assert.ok(bytes.length <= MAX_HISTORY_MESSAGE_BYTES, `${bytes.length} <= ${MAX_HISTORY_MESSAGE_BYTES}`)
    assert.deepEqual(historyMessageFromBytes(bytes), result)
    assert.ok(verifyHistorySignature(result))
  })

  it('signatures verify and cover every field', () => {
    for (const m of samples(new Prng(3), 5)) {
      if (m.type === 'history' || m.type === 'replace') continue
      assert.ok(verifyHistorySignature(m), m.type)
      const bytes = historyMessageToBytes(m)
      // flip one bit in each body byte (not the header, not the signature): the signature no longer verifies
      let checked = 0
      for (let at = 3; at < bytes.length - 64; at += 7) {
        const b = bytes.slice()
        b[at] = b[at]! ^ 1
        const x = decodeOrOurs(b, m.type)
        if (x === null) continue
        checked++
        assert.equal(verifyHistorySignature(x as typeof m), false, `${m.type}: bit flip at ${at}`)
      }
      assert.ok(checked > 0)
      // another key does not verify
      const other = { ...m, signature: m.signature }
      if (other.type === 'proposal') other.leader = keys[3]!.publicKey
      if (other.type === 'vote') other.voter = keys[0]!.publicKey
      if (other.type === 'share') other.signer = keys[3]!.publicKey
      if (other.type === 'replace-request') other.requester = keys[3]!.publicKey
      if (other.type === 'result') other.leader = keys[3]!.publicKey
      assert.equal(verifyHistorySignature(other), false, `${m.type} under another key`)
    }
  })

  it('hashes are domain-separated and cover the fields', () => {
    const [p, , , , h, , rl] = samples(new Prng(4), 3) as [HistoryMessage, HistoryMessage, HistoryMessage, HistoryMessage, MessageHistory, HistoryMessage, ReplaceLeader]
    assert.equal(hex(proposalHash(p as never)), hex(historySigningHash(p as never)))
    assert.notEqual(hex(slotHash(h)), hex(slotHash({ ...h, slot: h.slot ^ 1 })))
    assert.notEqual(hex(slotHash(h)), hex(slotHash({ ...h, messages: h.messages.slice().reverse() })))
    assert.equal(hex(slotHash(h)), hex(slotHash({ ...h, signature: new Uint8Array(96) })), 'the signature is not hashed')
    assert.notEqual(hex(replaceLeaderHash(rl)), hex(replaceLeaderHash({ ...rl, round: rl.round ^ 1 })))
    assert.notEqual(hex(replaceLeaderHash(rl)), hex(replaceLeaderHash({ ...rl, reason: rl.reason === 'slow' ? 'offline' : 'slow' })))
  })

  it('refuses non-canonical and out-of-range fields', () => {
    const r = new Prng(5)
    const [p, v, res, share, , req, rl] = samples(r, 3)
    const code = (c: keyof typeof PROTOCOL_ERRORS): string => PROTOCOL_ERRORS[c]
    const enc = historyMessageToBytes
    throwsCode(() => historyMessageFromBytes(concat(u16be(HISTORY_VERSION + 1), enc(p!).subarray(2))), code('BAD_VERSION'))
    throwsCode(() => historyMessageFromBytes(concat(u16be(HISTORY_VERSION), [9], enc(p!).subarray(3))), code('BAD_TYPE'))
    throwsCode(() => historyMessageFromBytes(concat(enc(p!), [0])), code('TRAILING_BYTES'))
    throwsCode(() => historyMessageFromBytes(enc(p!).subarray(0, 40)), code('TRUNCATED'))
    throwsCode(() => historyMessageFromBytes(new Uint8Array(MAX_HISTORY_MESSAGE_BYTES + 1)), code('TOO_LARGE'))
    // proposal: 3 + 16 + 2 + 4 + 32 + 32 = offset of the message count
    const pb = enc(p!)
    throwsCode(() => historyMessageFromBytes(concat(pb.subarray(0, 89), u16be(MAX_SLOT_MESSAGES + 1), pb.subarray(91))), code('TOO_LARGE'))
    throwsCode(() => historyMessageFromBytes(concat(pb.subarray(0, 89), u16be(0), pb.subarray(91 + 3 * 32))), code('BAD_VALUE'))
    const dup = pb.slice()
    dup.set(dup.subarray(91, 123), 123) // message 1 := message 0
    throwsCode(() => historyMessageFromBytes(dup), code('BAD_VALUE'))
    // vote ranking: 3 + 16 + 4 + 32 + 32 = 87 is the ranking length, then u16 entries
    const vb = enc(v!)
    const badRank = vb.slice()
    badRank.set(u16be(3), 89) // index out of range 0..2
    throwsCode(() => historyMessageFromBytes(badRank), code('BAD_VALUE'))
    const twice = vb.slice()
    twice.set(vb.subarray(89, 91), 91) // the same index twice
    throwsCode(() => historyMessageFromBytes(twice), code('BAD_VALUE'))
    // result: votes must be in strictly increasing voter order
    if (res!.type === 'result') {
      const ph = res.proposalHash
      const vs = keys.slice().sort((a, b) => (hex(a.publicKey) < hex(b.publicKey) ? 1 : -1)).slice(0, 2).map((k) => vote(k, 3, r, ph))
      const unsorted = signSlotResult({ ...res, votes: vs }, keys[0]!.secretKey)
      throwsCode(() => historyMessageFromBytes(enc(unsorted)), code('NOT_CANONICAL'))
      const dupVoter = signSlotResult({ ...res, votes: [vs[0]!, vs[0]!] }, keys[0]!.secretKey)
      throwsCode(() => historyMessageFromBytes(enc(dupVoter)), code('NOT_CANONICAL'))
    }
    // share index 0 or 65
    const sb = enc(share!)
    const idxAt = 3 + 16 + 32 + 32
    throwsCode(() => historyMessageFromBytes(concat(sb.subarray(0, idxAt), [0], sb.subarray(idxAt + 1))), code('BAD_VALUE'))
    throwsCode(() => historyMessageFromBytes(concat(sb.subarray(0, idxAt), [65], sb.subarray(idxAt + 1))), code('BAD_VALUE'))
    // replace: reason 3, leader index 64
    for (const m of [rl!, req!]) {
      const b = enc(m)
      const at = 3 + 16 + 2 + 2
      throwsCode(() => historyMessageFromBytes(concat(b.subarray(0, at), [64], b.subarray(at + 1))), code('BAD_VALUE'))
      throwsCode(() => historyMessageFromBytes(concat(b.subarray(0, at + 1), [REPLACE_REASONS.length], b.subarray(at + 2))), code('BAD_VALUE'))
    }
  })

  it('only throws PROTOCOL_* PouwErrors on random, truncated and mutated bytes', () => {
    const r = new Prng(0xbad)
    let accepted = 0
    for (let i = 0; i < 2000; i++) {
      const b = r.bytes(r.int(300))
      if (b.length >= 3 && r.bool()) { b[0] = 0; b[1] = HISTORY_VERSION; b[2] = 1 + r.int(7) }
      if (decodeOrOurs(b, 'random') !== null) accepted++
    }
    for (let i = 0; i < 30; i++) {
      for (const m of samples(r)) {
        const bytes = historyMessageToBytes(m)
        for (let cut = 0; cut < bytes.length; cut += 1 + r.int(9)) {
          assert.equal(decodeOrOurs(bytes.subarray(0, cut), `${m.type} cut at ${cut}`), null, `${m.type} truncated to ${cut} decoded`)
        }
        for (let k = 0; k < 20; k++) {
          const b = bytes.slice()
          for (let f = 1 + r.int(3); f > 0; f--) { const at = r.int(b.length); b[at] = r.int(2) === 0 ? b[at]! ^ (1 << r.int(8)) : r.u32() & 0xff }
          const x = decodeOrOurs(b, `${m.type} mutated`)
          if (x !== null) {
            accepted++
            assert.equal(hex(historyMessageToBytes(x)), hex(b), 'an accepted encoding is canonical')
          }
        }
      }
    }
    assert.ok(accepted > 0)
  })
})
