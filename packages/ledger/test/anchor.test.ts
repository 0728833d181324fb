import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  combineSignatures, commitPolynomial, compareBytes, computeMerkleRoot, dkgSessionId, signDkgMessage,
  signShare, slotHash, taggedHash, TAGS,
  type Block, type DkgSuccess, type HistoryAnchor, type KeyPair, type MessageHistory, type Tx,
} from '@pouw/protocol'
import { Chain, MemoryStore, checkBlockSyntax, type ChainEntry, type ChainParams } from '../src/index.js'
import { NOW, PARAMS, blockOn, keyPair, mine, recipient, runDkg } from './fixtures.js'

/** The supervisor committee: the chain's verifiers, sorted (the DKG's committee order). */
const MEMBERS: KeyPair[] = [keyPair(91), keyPair(92), keyPair(93)].sort((a, b) => compareBytes(a.publicKey, b.publicKey))
const COMMITTEE = MEMBERS.map((k) => k.publicKey)
const P: ChainParams = { ...PARAMS, networkName: 'pouw-test-anchor', verification: { verifiers: COMMITTEE, perBlock: 10, noncesPerIteration: 1_000 } }

const DKG = runDkg(MEMBERS)
const T = DKG.results[0]!.t

/** Slot `slot`'s record, threshold-signed by members `signers` (indices into the results). */
function record(slot: number, signers = [0, 1], results = DKG.results): MessageHistory {
  const unsigned = {
    type: 'history' as const, taskId: new Uint8Array(16).fill(7), epoch: 0, slot, prevSlotHash: new Uint8Array(32).fill(slot),
    messages: [taggedHash(TAGS.itres, Uint8Array.of(slot))],
  }
  const h = slotHash(unsigned)
  const shares = signers.map((i) => ({ index: results[i]!.index, signature: signShare(results[i]!.secretShare, h) }))
  return { ...unsigned, signature: combineSignatures(shares, T) }
}

function blockWith(parent: ChainEntry, history: HistoryAnchor): Block {
  const coinbase: Tx = { type: 'coinbase', height: parent.height + 1, outputs: [{ amount: P.subsidy, recipient: recipient(1) }], history }
  const b = blockOn(parent, {}, P)
  return mine({ header: { ...b.header, merkleRoot: computeMerkleRoot([coinbase]) }, txs: [coinbase] })
}

const code = (c: string) => (e: unknown): boolean => (e as { code?: string }).code === c

describe('MESSAGE_HISTORY anchors in coinbases (§4.2.1): the committee\'s threshold-signed slot and its DKG proof', () => {
  it('a block carries the latest slot; the chain checks its signature under the group key the DKG proof establishes', async () => {
    const chain = await Chain.open(new MemoryStore(), P)
    const block = blockWith(chain.tip(), { attempt: 0, successes: DKG.proof, record: record(4, [1, 2]) })
    const r = await chain.addBlock(block, { now: NOW })
    assert.equal(r.entry.height, 1)
    assert.deepEqual((await chain.getBlock(r.entry.hashHex))!.txs[0], block.txs[0])
  })

  it('refuses a forged record, a proof missing a member, another session, mixed keys, and an anchor on a chain without a committee', () => {
    const memberKeys = (member: Uint8Array): KeyPair => MEMBERS.find((k) => compareBytes(k.publicKey, member) === 0)!
    const parent = { hash: new Uint8Array(32), hashHex: '00'.repeat(32), height: 0, header: { time: P.genesisTime, bits: P.bits } } as unknown as ChainEntry
    const good = record(5)
    const forged = { ...good, slot: 6 } // the signature is over slot 5's hash
    const other = runDkg(MEMBERS, 1)
    const cases: Array<[string, HistoryAnchor, string, RegExp?]> = [
      ['a record whose signature is not over its hash', { attempt: 0, successes: DKG.proof, record: forged }, 'LEDGER_BAD_HISTORY', /does not verify/],
      ['a record signed by another DKG\'s key', { attempt: 0, successes: DKG.proof, record: record(5, [0, 1], other.results) }, 'LEDGER_BAD_HISTORY', /does not verify/],
      ['a proof without every qualified member', { attempt: 0, successes: DKG.proof.slice(1), record: good }, 'LEDGER_BAD_HISTORY', /not every qualified member/],
      ['a proof of another attempt than it names', { attempt: 1, successes: DKG.proof, record: good }, 'LEDGER_BAD_HISTORY', /another session/],
      ['a proof mixing two DKGs', { attempt: 0, successes: [...DKG.proof.slice(0, 2), other.proof[2]!], record: good }, 'LEDGER_BAD_HISTORY', /another session/],
      // signed within this very session by its member: only the group key, or the qualified set, differs
      ['a success naming another group key', { attempt: 0, successes: [...DKG.proof.slice(0, 2), signDkgMessage<DkgSuccess>({ ...DKG.proof[2]!, groupPublicKey: other.proof[2]!.groupPublicKey }, memberKeys(DKG.proof[2]!.member).secretKey)], record: good }, 'LEDGER_BAD_HISTORY', /different group keys or qualified sets/],
      ['a success naming another qualified set', { attempt: 0, successes: [...DKG.proof.slice(0, 2), signDkgMessage<DkgSuccess>({ ...DKG.proof[2]!, qualified: DKG.proof[2]!.qualified.slice(0, -1) }, memberKeys(DKG.proof[2]!.member).secretKey)], record: good }, 'LEDGER_BAD_HISTORY', /different group keys or qualified sets/],
      ['a member twice', { attempt: 0, successes: [DKG.proof[0]!, ...DKG.proof], record: good }, 'LEDGER_BAD_HISTORY', /two successes by one member/],
    ]
    // a valid proof checked first (and remembered): a copy with the same signatures and other contents is still refused
    assert.doesNotThrow(() => checkBlockSyntax(blockWith(parent, { attempt: 0, successes: DKG.proof, record: good }), P))
    const swapped = DKG.proof.map((m, i) => (i === 0 ? { ...m, member: DKG.proof[1]!.member } : m))
    cases.push(['the remembered proof\'s signatures over other contents', { attempt: 0, successes: swapped, record: good }, 'LEDGER_BAD_HISTORY'])
    const outsider = signDkgMessage<DkgSuccess>({ ...DKG.proof[0]!, member: keyPair(99).publicKey }, keyPair(99).secretKey)
    cases.push(['a success by a key outside the committee', { attempt: 0, successes: [...DKG.proof, outsider], record: good }, 'LEDGER_BAD_HISTORY', /not a member of the chain's committee/])
    // one member alone: a "DKG" whose qualified set is itself, with a key it made up, signing any record
    const s = 424242n
    const alone = signDkgMessage<DkgSuccess>({
      kind: 'success', session: dkgSessionId(COMMITTEE, T, 7), member: MEMBERS[0]!.publicKey, groupPublicKey: commitPolynomial([s])[0]!, qualified: [1],
    }, MEMBERS[0]!.secretKey)
    const made = { ...good, signature: signShare(s, slotHash(good)) }
    cases.push(['one member\'s own key, below the threshold', { attempt: 7, successes: [alone], record: made }, 'LEDGER_BAD_HISTORY', /qualified members, the threshold is/])
    for (const [what, a, expected, why] of cases) {
      assert.throws(() => checkBlockSyntax(blockWith(parent, a), P), (e: unknown) => code(expected)(e) && (why === undefined || why.test((e as Error).message)), what)
    }
    // the other attempt's own proof and record hold: any completed DKG of this committee establishes its key
    assert.doesNotThrow(() => checkBlockSyntax(blockWith(parent, { attempt: 1, successes: other.proof, record: record(5, [0, 2], other.results) }), P))
    const noCommittee: ChainParams = { ...PARAMS }
    assert.throws(() => checkBlockSyntax(blockWith(parent, { attempt: 0, successes: DKG.proof, record: good }), noCommittee), code('LEDGER_BAD_HISTORY'))
  })
})
