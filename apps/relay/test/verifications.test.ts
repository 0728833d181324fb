// Run: node --import ./scripts/node-polyfills.mjs --import tsx --test --test-force-exit apps/relay/test/verifications.test.ts
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  TAGS, TOPICS, compareBytes, computeMerkleRoot, revealFromBytes, revealToBytes,
  signVerifierApproval, taggedHash, toHex, verdictSeal,
  type KeyPair, type Tx,
} from '@pouw/protocol'
import { Chain, MemoryStore, type ChainEntry, type ChainParams } from '@pouw/ledger'
import { REVEAL_AFTER_MS, createVerifications, type HeldVerdict } from '../src/verifications.js'
import { NOW, PARAMS, blockOn, keyPair, mineFromPrecursor, recipient } from '../../../packages/ledger/test/fixtures.js'

/** Three relays' verifier keys, every one chosen for every block (ten per block). */
const V: KeyPair[] = [keyPair(61), keyPair(62), keyPair(63)].sort((a, b) => compareBytes(a.publicKey, b.publicKey))
const P: ChainParams = { ...PARAMS, networkName: 'pouw-test-verifications', verification: { verifiers: V.map((k) => k.publicKey), perBlock: 10, noncesPerIteration: 1_000 } }
const PRECURSOR = taggedHash(TAGS.noncePrecursor, Uint8Array.of(1))

/** A chain whose tip (height 1) was mined from PRECURSOR, as a tab mines (nonces from H(precursor) on). */
async function chainWithBlock(store = new MemoryStore()): Promise<{ chain: Chain; block: ChainEntry }> {
  const chain = await Chain.open(store, P)
  const coinbase: Tx = { type: 'coinbase', height: 1, outputs: [{ amount: P.subsidy, recipient: recipient(1) }] }
  const b = blockOn(chain.tip(), {}, P)
  const mined = mineFromPrecursor({ header: { ...b.header, merkleRoot: computeMerkleRoot([coinbase]) }, txs: [coinbase] }, PRECURSOR)
  return { chain, block: (await chain.addBlock(mined, { now: NOW })).entry }
}

/** Relay 0's side: the verdicts it holds (with the times they came, from a clock the test moves) and what it gossips. */
function relay0(chain: Chain, store: MemoryStore, verdicts = new Map<string, HeldVerdict>()) {
  let clock = 1_000
  const published: Uint8Array[] = []
  const v = createVerifications({
    store, chain, keys: V[0]!, log: () => {}, now: () => clock,
    network: { publish: async (topic, data) => { assert.equal(topic, TOPICS.reveals); published.push(data) } },
    heldVerdict: async (block, verifier) => verdicts.get(`${block}/${verifier}`),
  })
  return {
    v, published, verdicts,
    tick: (ms: number) => { clock += ms },
    /** a verdict from verifier `n` arriving now: accepting, sealing `precursor` */
    verdict: (block: ChainEntry, n: number, precursor = PRECURSOR) =>
      verdicts.set(`${block.hashHex}/${toHex(V[n]!.publicKey)}`, { accepted: true, seal: verdictSeal(block.hash, V[n]!.publicKey, precursor), at: clock }),
  }
}

const reveal = (block: ChainEntry, n: number, precursor = PRECURSOR): Uint8Array =>
  revealToBytes({ blockHash: block.hash, approval: signVerifierApproval(block.hash, precursor, V[n]!) })

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

const until = async (what: string, ok: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((resolve) => setTimeout(resolve, 10))
  assert.ok(ok(), what)
}

describe('verifier reveals and the collect a template carries (§5.2 commit-reveal)', () => {
  it('reveals once every chosen verdict is in, and collects only reveals whose sealing verdict came before the first reveal', async () => {
    const store = new MemoryStore()
    const { chain, block } = await chainWithBlock(store)
    const r = relay0(chain, store)
    // no reveal yet: a block on it collects nothing
    assert.deepEqual(await r.v.collectFor(block), { subsidy: 0n, reveals: [] })
    await r.v.seal(block.hash, PRECURSOR)
    r.verdict(block, 0)
    r.verdict(block, 1)
    r.v.afterVerdict(block.hash, PRECURSOR)
    r.tick(100)
    await pause(300) // the checks run every 250 ms
    assert.equal(r.published.length, 0, 'relay 2\'s verdict is not in yet')
    r.verdict(block, 2, taggedHash(TAGS.noncePrecursor, Uint8Array.of(2))) // sealing a precursor it will not reveal
    await until('our reveal once every chosen verdict is in', () => r.published.length === 1)
    assert.equal(toHex(revealFromBytes(r.published[0]!).approval.verifier), toHex(V[0]!.publicKey))
    // relay 1's reveal (sealed in time) counts; relay 2's reveal does not match its seal
    await r.v.onReveal(reveal(block, 1), 'relay1')
    await r.v.onReveal(reveal(block, 2), 'relay2')
    const c = await r.v.collectFor(block)
    assert.deepEqual(c.collect?.approvals.map((a) => toHex(a.verifier)), [0, 1].map((n) => toHex(V[n]!.publicKey)))
    assert.equal(c.subsidy, (P.subsidy * 6n) / 10n, '2 of 3 chosen: 60%')
    // served as the verifiers' own reveal bytes, in the collect's order
    assert.deepEqual(c.reveals, c.collect!.approvals.map((approval) => toHex(revealToBytes({ blockHash: block.hash, approval }))))
  })

  it('a verdict that came after the first reveal is not collected, even with the right seal: it could copy the revealed precursor', async () => {
    const store = new MemoryStore()
    const { chain, block } = await chainWithBlock(store)
    const r = relay0(chain, store)
    r.verdict(block, 1)
    r.tick(10)
    await r.v.onReveal(reveal(block, 1), 'relay1')
    r.tick(10)
    r.verdict(block, 2) // sealed after relay 1's reveal reached us
    await r.v.onReveal(reveal(block, 2), 'relay2')
    const c = await r.v.collectFor(block)
    assert.deepEqual(c.collect?.approvals.map((a) => toHex(a.verifier)), [toHex(V[1]!.publicKey)])
    assert.equal(c.subsidy, (P.subsidy * 3n) / 10n)
    // the first-reveal time is kept in the store: after a restart the late verdict is still left out
    const restarted = relay0(chain, store, r.verdicts)
    assert.deepEqual(await restarted.v.collectFor(block), c)
  })

  it('a template asked for while our reveal is being kept sees the reveal afterwards (one map of a block\'s reveals)', async () => {
    // a store whose reads take a while, from a snapshot taken when they start, as LevelDB's iterators
    // do: the two reads of the block's reveals below overlap
    let reading: () => void = () => {}
    const firstRead = new Promise<void>((resolve) => { reading = resolve })
    class SlowStore extends MemoryStore {
      override async *iterate(prefix: string): AsyncIterable<[string, Uint8Array]> {
        const snapshot: [string, Uint8Array][] = []
        for await (const entry of super.iterate(prefix)) snapshot.push(entry)
        if (prefix.startsWith('relay/reveal/')) {
          reading()
          await pause(50)
        }
        yield* snapshot
      }
    }
    const store = new SlowStore()
    const { chain, block } = await chainWithBlock(store)
    const r = relay0(chain, store)
    for (const n of [0, 1, 2]) r.verdict(block, n)
    r.v.afterVerdict(block.hash, PRECURSOR) // every verdict is in: it reveals at once, reading the block's reveals first
    await firstRead
    const during = r.v.collectFor(block) // a tab polling /api/template for the new tip meanwhile
    await until('our reveal', () => r.published.length === 1)
    await during
    assert.deepEqual((await r.v.collectFor(block)).collect?.approvals.map((a) => toHex(a.verifier)), [toHex(V[0]!.publicKey)])
  })

  it('refuses a reveal by a key that is not a verifier or with a forged signature; leaves out one whose precursor misses the nonce', async () => {
    const store = new MemoryStore()
    const { chain, block } = await chainWithBlock(store)
    const r = relay0(chain, store)
    const outsider = revealToBytes({ blockHash: block.hash, approval: signVerifierApproval(block.hash, PRECURSOR, keyPair(99)) })
    await assert.rejects(r.v.onReveal(outsider, 'x'), (e: { code?: string }) => e.code === 'RELAY_NOT_VERIFIER')
    const forged = reveal(block, 1)
    forged[forged.length - 1]! ^= 1
    await assert.rejects(r.v.onReveal(forged, 'x'), (e: { code?: string }) => e.code === 'POUW_BAD_SIGNATURE')
    const wrong = taggedHash(TAGS.noncePrecursor, Uint8Array.of(9))
    r.verdict(block, 1, wrong) // sealed and revealed alike, but not the block's precursor: the chain would refuse it
    await r.v.onReveal(reveal(block, 1, wrong), 'relay1')
    assert.deepEqual(await r.v.collectFor(block), { subsidy: 0n, reveals: [] })
  })

  it('a relay that stopped before revealing reveals after its restart', async () => {
    const store = new MemoryStore()
    const { chain, block } = await chainWithBlock(store)
    const before = relay0(chain, store)
    assert.equal(toHex(await before.v.seal(block.hash, PRECURSOR)), toHex(verdictSeal(block.hash, V[0]!.publicKey, PRECURSOR)))
    before.verdict(block, 0)
    before.v.afterVerdict(block.hash, PRECURSOR) // relays 1 and 2 never answer: it would wait REVEAL_AFTER_MS
    before.v.stop()
    assert.equal(before.published.length, 0)
    const after = relay0(chain, store)
    after.verdict(block, 0)
    await after.v.start()
    await until('the due reveal after the restart', () => after.published.length === 1)
    assert.equal((await after.v.collectFor(block)).collect?.approvals.length, 1)
    await after.v.stop()
    // revealed: a further restart has nothing left to reveal
    const again = relay0(chain, store)
    await again.v.start()
    await pause(300)
    assert.equal(again.published.length, 0)
  })

  it('reveals REVEAL_AFTER_MS after its verdict when the other verdicts never come', async () => {
    const store = new MemoryStore()
    const { chain, block } = await chainWithBlock(store)
    const r = relay0(chain, store)
    await r.v.seal(block.hash, PRECURSOR)
    r.verdict(block, 0)
    r.v.afterVerdict(block.hash, PRECURSOR)
    r.tick(REVEAL_AFTER_MS - 1)
    await pause(300)
    assert.equal(r.published.length, 0, 'not yet due')
    r.tick(1)
    await until('the reveal at the deadline', () => r.published.length === 1)
    await r.v.stop()
  })
})
