import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  TAGS, compareBytes, computeMerkleRoot, revealFromBytes, revealToBytes,
  chooseVerifiers, coinbaseOutputs, signVerifierApproval, taggedHash, toHex, txHash, verifierReward, type Block, type Collect, type TransferTx, type Tx, type VerifierApproval,
} from '@pouw/protocol'
import { CHAIN_KEYS, Chain, MemoryStore, checkBlockSyntax, collectedSubsidy, type ChainEntry, type ChainParams } from '../src/index.js'
import { NOW, PARAMS, blockOn, keyPair, mineFromPrecursor, pay, recipient, transfer } from './fixtures.js'

/** three verifiers, all chosen for every block (ten per block); a precursor gives nonces within 1,000 */
const VERIFIERS = [keyPair(71), keyPair(72), keyPair(73)].sort((a, b) => compareBytes(a.publicKey, b.publicKey))
const P: ChainParams = { ...PARAMS, networkName: 'pouw-test-collect', verification: { verifiers: VERIFIERS.map((k) => k.publicKey), perBlock: 10, noncesPerIteration: 1_000 } }
const S = P.subsidy

/** The nonce precursor of a block found at `seed`: what its verifiers rebuild and reveal. */
const precursorOf = (seed: number): Uint8Array => taggedHash(TAGS.noncePrecursor, Uint8Array.of(seed))

/**
 * A block on `parent` whose coinbase claims `amount` in all and carries `collect`, mined from
 * precursorOf(seed): the approving verifiers are paid their reward of the subsidy `collect` proves,
 * the rest (if any) goes to the miner.
 */
function blockWith(parent: ChainEntry, amount: bigint, collect: Collect | undefined, seed: number, params = P, transfers: TransferTx[] = []): Block {
  // the block on genesis pays MINER, whose reward the fees test spends
  const to = parent.height === 0 ? MINER.publicKey : recipient(seed)
  const v = params.verification!
  const k = collect?.approvals.length ?? 0
  const proven = collectedSubsidy(params.subsidy, k, Math.min(v.perBlock, v.verifiers.length))
  const each = verifierReward(proven, k)
  const miner = amount > each * BigInt(k) ? amount - each * BigInt(k) : 0n
  const outputs = [{ amount: miner, recipient: to }, ...(collect?.approvals ?? []).map((a) => ({ amount: each, recipient: a.verifier }))]
  const coinbase: Tx = { type: 'coinbase', height: parent.height + 1, outputs, ...(collect === undefined ? {} : { collect }) }
  const txs = [coinbase, ...transfers]
  const b = blockOn(parent, {}, params)
  return mineFromPrecursor({ header: { ...b.header, merkleRoot: computeMerkleRoot(txs) }, txs }, precursorOf(seed))
}

const MINER = keyPair(70)

const approve = (block: Uint8Array, precursor: Uint8Array, n: number, keys = VERIFIERS): VerifierApproval => signVerifierApproval(block, precursor, keys[n]!)

async function chainWithParent(params = P, store = new MemoryStore()): Promise<{ chain: Chain; parent: ChainEntry }> {
  const chain = await Chain.open(store, params)
  const genesis = chain.tip()
  // on genesis: the whole subsidy, nothing to collect
  const r = await chain.addBlock(blockWith(genesis, S, undefined, 1, params), { now: NOW })
  return { chain, parent: r.entry }
}

const code = (c: string) => (e: unknown): boolean => (e as { code?: string }).code === c

describe('COLLECT_VERIFICATIONS: the subsidy in proportion to the parent\'s approvals (§5.2)', () => {
  it('steps of 10%: a tenth per approval of ten, the whole subsidy when every chosen verifier approves', () => {
    assert.equal(collectedSubsidy(1000n, 10, 10), 1000n)
    assert.equal(collectedSubsidy(1000n, 1, 10), 100n)
    assert.equal(collectedSubsidy(1000n, 0, 10), 0n)
    assert.equal(collectedSubsidy(1000n, 1, 3), 300n) // floor(10/3) = 3 steps
    assert.equal(collectedSubsidy(1000n, 2, 3), 600n)
    assert.equal(collectedSubsidy(1000n, 3, 3), 1000n)
    assert.equal(collectedSubsidy(1000n, 1, 1), 1000n)
  })

  it('a reveal (the approval as relays gossip it) round-trips; the coinbase extensions are tested in protocol tx.test', () => {
    const block = new Uint8Array(32).fill(5)
    const reveal = { blockHash: block, approval: approve(block, precursorOf(1), 0) }
    assert.deepEqual(revealFromBytes(revealToBytes(reveal)), reveal)
  })

  it('the block on genesis claims the whole subsidy without a collect, and may carry none', async () => {
    const chain = await Chain.open(new MemoryStore(), P)
    const g = chain.tip()
    const withCollect = blockWith(g, S, { block: g.hash, approvals: [approve(g.hash, precursorOf(0), 0)] }, 1)
    await assert.rejects(chain.addBlock(withCollect, { now: NOW }), code('LEDGER_BAD_COLLECT'))
    assert.equal((await chain.addBlock(blockWith(g, S, undefined, 1), { now: NOW })).entry.height, 1)
  })

  it('without approvals a block claims fees only', async () => {
    const { chain, parent } = await chainWithParent()
    await assert.rejects(chain.addBlock(blockWith(parent, 1n, undefined, 2), { now: NOW }), code('LEDGER_BAD_COINBASE'))
    assert.equal((await chain.addBlock(blockWith(parent, 0n, undefined, 2), { now: NOW })).entry.height, 2)
  })

  it('two of three approvals prove 60%, not a unit more; three the whole subsidy', async () => {
    const { chain, parent } = await chainWithParent()
    const p = precursorOf(1)
    const two: Collect = { block: parent.hash, approvals: [approve(parent.hash, p, 0), approve(parent.hash, p, 1)] }
    await assert.rejects(chain.addBlock(blockWith(parent, (S * 6n) / 10n + 1n, two, 2), { now: NOW }), code('LEDGER_BAD_COINBASE'))
    const sixty = await chain.addBlock(blockWith(parent, (S * 6n) / 10n, two, 2), { now: NOW })
    assert.equal(sixty.status, 'extended')
    assert.equal((await chain.supply()).coinbases, S + (S * 6n) / 10n)
    // every approval, on a chain of its own: the whole subsidy
    const other = await chainWithParent()
    const three: Collect = { block: other.parent.hash, approvals: [0, 1, 2].map((n) => approve(other.parent.hash, p, n)) }
    await assert.rejects(other.chain.addBlock(blockWith(other.parent, S + 1n, three, 3), { now: NOW }), code('LEDGER_BAD_COINBASE'))
    assert.equal((await other.chain.addBlock(blockWith(other.parent, S, three, 3), { now: NOW })).status, 'extended')
    assert.equal((await other.chain.supply()).coinbases, 2n * S)
  })

  it('the approving verifiers are paid 10% of the proven subsidy, split equally, in the coinbase\'s outputs 1..k', async () => {
    const { chain, parent } = await chainWithParent()
    const p = precursorOf(1)
    const two: Collect = { block: parent.hash, approvals: [approve(parent.hash, p, 0), approve(parent.hash, p, 2)] }
    const sixty = (S * 6n) / 10n
    const each = sixty / 10n / 2n
    assert.equal(verifierReward(sixty, 2), each)
    const right = coinbaseOutputs(recipient(2), sixty, 0n, two)
    assert.deepEqual(right.map((o) => o.amount), [sixty - 2n * each, each, each])
    const withOutputs = (outputs: typeof right): Block => {
      const txs: Tx[] = [{ type: 'coinbase', height: parent.height + 1, outputs, collect: two }]
      return mineFromPrecursor({ header: { ...blockOn(parent, {}, P).header, merkleRoot: computeMerkleRoot(txs) }, txs }, p)
    }
    const wrong: [string, typeof right][] = [
      ['a verifier left out (the miner keeps its reward)', [{ ...right[0]!, amount: sixty - each }, right[1]!]],
      ['paid to another key', [right[0]!, right[1]!, { ...right[2]!, recipient: VERIFIERS[1]!.publicKey }]],
      ['in another order', [right[0]!, right[2]!, right[1]!]],
      ['a unit short', [{ ...right[0]!, amount: right[0]!.amount + 1n }, right[1]!, { ...right[2]!, amount: each - 1n }]],
    ]
    for (const [what, outputs] of wrong) await assert.rejects(chain.addBlock(withOutputs(outputs), { now: NOW }), code('LEDGER_BAD_COINBASE'), what)
    const added = await chain.addBlock(withOutputs(right), { now: NOW })
    assert.equal(added.status, 'extended')
    // the verifiers' rewards are coins of theirs, like the miner's (they mature alike)
    const cb = txHash((await chain.getBlock(added.entry.hashHex))!.txs[0]!)
    for (const n of [1, 2]) assert.equal((await chain.utxo({ txHash: cb, index: n }))?.amount, each)
  })

  it('with transfers, the coinbase claims the collected share plus their fees, not a unit more', async () => {
    // maturity 1: block 2 spends block 1's reward, paying a fee
    const P1: ChainParams = { ...P, networkName: 'pouw-test-collect-fees', coinbaseMaturity: 1 }
    const { chain, parent } = await chainWithParent(P1)
    const reward = { outpoint: { txHash: txHash((await chain.getBlock(parent.hashHex))!.txs[0]!), index: 0 }, key: MINER }
    const fee = 777n
    const spend = transfer([reward], [pay(recipient(8), S - fee)])
    const two: Collect = { block: parent.hash, approvals: [approve(parent.hash, precursorOf(1), 0), approve(parent.hash, precursorOf(1), 1)] }
    const sixty = (S * 6n) / 10n
    await assert.rejects(chain.addBlock(blockWith(parent, sixty + fee + 1n, two, 2, P1, [spend]), { now: NOW }), code('LEDGER_BAD_COINBASE'))
    await assert.rejects(chain.addBlock(blockWith(parent, fee + 1n, undefined, 2, P1, [spend]), { now: NOW }), code('LEDGER_BAD_COINBASE'), 'no collect: the fees only')
    assert.equal((await chain.addBlock(blockWith(parent, sixty + fee, two, 2, P1, [spend]), { now: NOW })).status, 'extended')
    assert.equal((await chain.supply()).coinbases, S + sixty + fee)
  })

  it('refuses a collect that names another block, repeats or misorders verifiers, has an outsider, a wrong precursor or a forged signature', async () => {
    const { chain, parent } = await chainWithParent()
    const p = precursorOf(1)
    const a0 = approve(parent.hash, p, 0)
    const a1 = approve(parent.hash, p, 1)
    const other = new Uint8Array(32).fill(9)
    const outsider = signVerifierApproval(parent.hash, p, keyPair(99))
    const wrong = precursorOf(2)
    const cases: Array<[string, Collect, string]> = [
      ['another block', { block: other, approvals: [approve(other, p, 0)] }, 'LEDGER_BAD_COLLECT'],
      ['a repeated verifier', { block: parent.hash, approvals: [a0, a0] }, 'LEDGER_BAD_COLLECT'],
      ['verifiers out of order', { block: parent.hash, approvals: [a1, a0] }, 'LEDGER_BAD_COLLECT'],
      ['an outsider', { block: parent.hash, approvals: [outsider] }, 'LEDGER_BAD_COLLECT'],
      ['a precursor that does not give the parent\'s nonce', { block: parent.hash, approvals: [approve(parent.hash, wrong, 0)] }, 'LEDGER_BAD_COLLECT'],
      ['a forged signature', { block: parent.hash, approvals: [{ ...a0, signature: a0.signature.map((b, i) => (i === 0 ? b ^ 1 : b)) }] }, 'LEDGER_BAD_SIGNATURE'],
    ]
    for (const [what, collect, expected] of cases) {
      await assert.rejects(chain.addBlock(blockWith(parent, 0n, collect, 2), { now: NOW }), code(expected), what)
    }
    assert.equal(chain.tip().height, 1, 'nothing was stored')
  })

  it('with more verifiers than are chosen per block: only the chosen count, and the share is of the chosen', async () => {
    const five = [81, 82, 83, 84, 85].map(keyPair)
    const P2: ChainParams = { ...P, networkName: 'pouw-test-collect-2', verification: { ...P.verification!, verifiers: five.map((k) => k.publicKey), perBlock: 2 } }
    const { chain, parent } = await chainWithParent(P2)
    const chosen = chooseVerifiers(parent.hash, P2.verification!.verifiers, 2).map(toHex)
    const inChosen = five.filter((k) => chosen.includes(toHex(k.publicKey))).sort((a, b) => compareBytes(a.publicKey, b.publicKey))
    const notChosen = five.find((k) => !chosen.includes(toHex(k.publicKey)))!
    const p = precursorOf(1)
    await assert.rejects(chain.addBlock(blockWith(parent, 0n, { block: parent.hash, approvals: [approve(parent.hash, p, 0, [notChosen])] }, 2, P2), { now: NOW }),
      code('LEDGER_BAD_COLLECT'), 'a verifier of the chain that the parent\'s hash did not choose')
    const one: Collect = { block: parent.hash, approvals: [approve(parent.hash, p, 0, inChosen)] }
    // 1 of the 2 chosen: half the subsidy (not a fifth, as if all five had been chosen)
    await assert.rejects(chain.addBlock(blockWith(parent, S / 2n + 1n, one, 2, P2), { now: NOW }), code('LEDGER_BAD_COINBASE'))
    assert.equal((await chain.addBlock(blockWith(parent, S / 2n, one, 2, P2), { now: NOW })).entry.height, 2)
  })

  it('a coinbase-only block is bounded without its parent: a side branch cannot store a claim its collect could never prove', () => {
    const parent = { hash: new Uint8Array(32).fill(3), hashHex: '03'.repeat(32), height: 4, header: { time: PARAMS.genesisTime, bits: P.bits } } as unknown as ChainEntry
    assert.throws(() => checkBlockSyntax(blockWith(parent, 1n, undefined, 2), P), code('LEDGER_BAD_COINBASE'))
    const one: Collect = { block: parent.hash, approvals: [approve(parent.hash, precursorOf(1), 0)] }
    assert.throws(() => checkBlockSyntax(blockWith(parent, (S * 3n) / 10n + 1n, one, 2), P), code('LEDGER_BAD_COINBASE'))
    assert.doesNotThrow(() => checkBlockSyntax(blockWith(parent, (S * 3n) / 10n, one, 2), P))
  })

  it('a chain with collects rebuilds the same UTXO set from its blocks, and does not open under other verifiers', async () => {
    const store = new MemoryStore()
    const { chain, parent } = await chainWithParent(P, store)
    const p = precursorOf(1)
    const two: Collect = { block: parent.hash, approvals: [approve(parent.hash, p, 0), approve(parent.hash, p, 1)] }
    const b2 = await chain.addBlock(blockWith(parent, (S * 6n) / 10n, two, 2), { now: NOW })
    const three: Collect = { block: b2.entry.hash, approvals: [0, 1, 2].map((n) => approve(b2.entry.hash, precursorOf(2), n)) }
    await chain.addBlock(blockWith(b2.entry, S, three, 3), { now: NOW })
    const before = await chain.supply()
    await store.batch([{ type: 'del', key: CHAIN_KEYS.utxoBest }])
    const reopened = await Chain.open(store, P)
    assert.deepEqual(await reopened.supply(), before)
    assert.equal(before.coinbases, S + (S * 6n) / 10n + S)
    const others: ChainParams = { ...P, verification: { ...P.verification!, verifiers: [keyPair(1).publicKey] } }
    await assert.rejects(Chain.open(store, others), code('LEDGER_GENESIS_MISMATCH'))
    await assert.rejects(Chain.open(new MemoryStore(), { ...P, verification: { ...P.verification!, verifiers: [] } }), RangeError)
  })
})
