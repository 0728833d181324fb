import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { headerHash, toHex, txHash, verifyReference, type Block, type OutPoint, type TransferTx } from '@pouw/protocol'
import { CHAIN_KEYS, COINBASE_MATURITY, Chain, MemoryStore, type ChainEntry, type KeyValueStore } from '../src/index.js'
import { NOW, PARAMS, keyPair, minedOn, pay, transfer, type BlockSpec } from './fixtures.js'

const A = keyPair(1)
const B = keyPair(2)
const C = keyPair(3)
const reward = (to = A, amount = PARAMS.subsidy): BlockSpec['outputs'] => [{ amount, recipient: to.publicKey }]

async function dump(store: KeyValueStore, prefix = ''): Promise<[string, string][]> {
  const out: [string, string][] = []
  for await (const [k, v] of store.iterate(prefix)) out.push([k, toHex(v)])
  return out
}

/** The UTXO set, the owner index and the undo data, as stored. */
async function utxoState(store: KeyValueStore): Promise<[string, string][]> {
  return [...await dump(store, CHAIN_KEYS.utxoPrefix), ...await dump(store, 'chain/owner/'), ...await dump(store, CHAIN_KEYS.undoPrefix)]
}

async function add(chain: Chain, block: Block): Promise<ChainEntry> {
  return (await chain.addBlock(block, { now: NOW })).entry
}

/** A chain whose block 1 pays the subsidy to A, then enough empty blocks for it to mature. */
async function funded(store: KeyValueStore = new MemoryStore()): Promise<{ chain: Chain; coin: OutPoint; blocks: Block[] }> {
  const chain = await Chain.open(store, PARAMS)
  const first = minedOn(chain.tip(), { outputs: reward() })
  const blocks = [first]
  let parent = await add(chain, first)
  for (let i = 1; i < COINBASE_MATURITY; i++) {
    const b = minedOn(parent, { seed: 9 })
    blocks.push(b)
    parent = await add(chain, b)
  }
  return { chain, coin: { txHash: txHash(first.txs[0]!), index: 0 }, blocks }
}

describe('Chain with a UTXO set', () => {
  it('keeps coinbase outputs, applies transfers, and answers utxo/coinsOf/balance', async () => {
    const { chain, coin } = await funded()
    assert.equal(chain.tip().height, COINBASE_MATURITY)
    assert.deepEqual(await chain.utxo(coin), { amount: PARAMS.subsidy, recipient: A.publicKey, lock: { kind: 'pubkey' }, height: 1, coinbase: true })
    assert.equal(await chain.balance(A.publicKey), PARAMS.subsidy)
    const t = transfer([{ outpoint: coin, key: A }], [pay(B, 30_000n), pay(A, 19_990n)])
    const block = minedOn(chain.tip(), { outputs: reward(C, PARAMS.subsidy + 10n), txs: [t] })
    const r = await chain.addBlock(block, { now: NOW, verify: verifyReference })
    assert.equal(r.status, 'extended')
    assert.equal(await chain.utxo(coin), undefined)
    assert.equal(await chain.balance(A.publicKey), 19_990n)
    assert.equal(await chain.balance(B.publicKey), 30_000n)
    assert.equal(await chain.balance(C.publicKey), PARAMS.subsidy + 10n)
    assert.deepEqual((await chain.coinsOf(B.publicKey)).map((c) => c.outpoint), [{ txHash: txHash(t), index: 0 }])
    assert.deepEqual(await chain.getBlock(r.entry.hashHex), block)
    // the audit: 11 coinbases paid the subsidy, the last one the 10-unit fee on top; the UTXO set holds
    // coinbases - fees in 12 coins: the 10 unspent rewards (C's among them) and the transfer's two outputs
    const s = await chain.supply()
    const blocks = BigInt(COINBASE_MATURITY + 1)
    assert.deepEqual(s, { height: COINBASE_MATURITY + 1, tip: r.entry.hashHex, coinbases: PARAMS.subsidy * blocks + 10n, fees: 10n, utxo: PARAMS.subsidy * blocks, coins: 12 })
  })

  it('refuses a new tip whose transfers break a rule, writing nothing', async () => {
    const store = new MemoryStore()
    const { chain, coin, blocks } = await funded(store)
    const before = await dump(store)
    const tip = chain.tip()
    const cases: [TransferTx[], string, BlockSpec['outputs']?][] = [
      [[transfer([{ outpoint: coin, key: B }], [pay(B, 1n)])], 'LEDGER_BAD_SIGNATURE'],
      [[transfer([{ outpoint: coin, key: A }], [pay(B, PARAMS.subsidy + 1n)])], 'LEDGER_INSUFFICIENT_INPUTS'],
      [[transfer([{ outpoint: coin, key: A }], [pay(B, 1n)]), transfer([{ outpoint: coin, key: A }], [pay(C, 1n)])], 'LEDGER_DOUBLE_SPEND'],
      [[transfer([{ outpoint: { ...coin, index: 1 }, key: A }], [pay(B, 1n)])], 'LEDGER_MISSING_INPUT'],
      [[transfer([{ outpoint: coin, key: A }], [pay(B, PARAMS.subsidy - 5n)])], 'LEDGER_BAD_COINBASE', reward(C, PARAMS.subsidy + 6n)],
      [[transfer([{ outpoint: { txHash: txHash(blocks[9]!.txs[0]!), index: 0 }, key: A }], [pay(B, 1n)])], 'LEDGER_IMMATURE_COINBASE'],
    ]
    for (const [txs, code, outputs] of cases) {
      await assert.rejects(chain.addBlock(minedOn(tip, { txs, outputs: outputs ?? reward(C) }), { now: NOW }), { code }, code)
    }
    assert.deepEqual(await dump(store), before)
    assert.equal(chain.tip(), tip)
  })

  it('follows a reorg: the new branch double-spends the old one\'s coin, and back', async () => {
    const { chain, coin } = await funded()
    const fork = chain.tip()
    const toB = transfer([{ outpoint: coin, key: A }], [pay(B, PARAMS.subsidy - 1n)])
    const toC = transfer([{ outpoint: coin, key: A }], [pay(C, PARAMS.subsidy - 2n)])
    const a1 = await add(chain, minedOn(fork, { seed: 1, txs: [toB] }))
    // the same coin spent on a rival branch: stored as a side block, not checked yet
    const b1 = await chain.addBlock(minedOn(fork, { seed: 2, txs: [toC] }), { now: NOW })
    const aWins = a1.hashHex < b1.entry.hashHex
    const [winTx, loseTx] = aWins ? [toB, toC] : [toC, toB]
    const win = aWins ? a1 : b1.entry
    const lose = aWins ? b1.entry : a1
    assert.equal(chain.tip().hashHex, win.hashHex)
    assert.ok(await chain.utxo({ txHash: txHash(winTx), index: 0 }))
    assert.equal(await chain.utxo({ txHash: txHash(loseTx), index: 0 }), undefined)

    // the losing branch grows: reorg, the other spend of the coin takes its place
    const r = await chain.addBlock(minedOn(lose, { seed: 3 }), { now: NOW })
    assert.equal(r.status, 'reorg')
    assert.equal(await chain.utxo({ txHash: txHash(winTx), index: 0 }), undefined)
    assert.ok(await chain.utxo({ txHash: txHash(loseTx), index: 0 }))
    assert.equal(await chain.utxo(coin), undefined)

    // the same state as a chain that only ever saw this branch
    const fresh = await funded()
    await add(fresh.chain, minedOn(fork, { seed: aWins ? 2 : 1, txs: [loseTx] }))
    await add(fresh.chain, minedOn(lose, { seed: 3 }))
    assert.equal(fresh.chain.tip().hashHex, chain.tip().hashHex)
    assert.deepEqual(await utxoState((fresh.chain as unknown as { store: KeyValueStore }).store), await utxoState((chain as unknown as { store: KeyValueStore }).store))

    // and back: the first branch grows past it
    const w2 = await add(chain, minedOn(win, { seed: 4 }))
    const back = await chain.addBlock(minedOn(w2, { seed: 4 }), { now: NOW })
    assert.equal(back.status, 'reorg')
    assert.ok(await chain.utxo({ txHash: txHash(winTx), index: 0 }))
    assert.equal(await chain.utxo({ txHash: txHash(loseTx), index: 0 }), undefined)
  })

  it('refuses the block that would make an invalid branch the main chain, writing nothing', async () => {
    const store = new MemoryStore()
    const { chain, coin } = await funded(store)
    const fork = chain.tip()
    const main1 = await add(chain, minedOn(fork, { seed: 1 }))
    await add(chain, minedOn(main1, { seed: 1 }))
    // a rival branch: its first block spends the coin, its second spends it again
    const s1 = (await chain.addBlock(minedOn(fork, { seed: 5, txs: [transfer([{ outpoint: coin, key: A }], [pay(B, 1_000n)])] }), { now: NOW }))
    assert.equal(s1.status, 'side')
    // equal work: pick a seed whose hash is above the tip's, so that it stays on the side unchecked
    let seed = 5
    const spendAgain = transfer([{ outpoint: coin, key: A }], [pay(C, 1_000n)])
    while (toHex(headerHash(minedOn(s1.entry, { seed, txs: [spendAgain] }).header)) < chain.tip().hashHex) seed++
    const s2 = await chain.addBlock(minedOn(s1.entry, { seed, txs: [spendAgain] }), { now: NOW })
    assert.equal(s2.status, 'side')
    const tip = chain.tip()
    const before = await dump(store)
    await assert.rejects(chain.addBlock(minedOn(s2.entry, { seed: 5 }), { now: NOW }), { code: 'LEDGER_MISSING_INPUT' })
    assert.deepEqual(await dump(store), before)
    assert.equal(chain.tip(), tip)
    assert.ok(await chain.utxo(coin), 'the coin is unspent on the main chain')
  })

  it('builds the UTXO set of a store written before it existed', async () => {
    const store = new MemoryStore()
    const { chain, coin } = await funded(store)
    await add(chain, minedOn(chain.tip(), { outputs: reward(C, PARAMS.subsidy + 5n), txs: [transfer([{ outpoint: coin, key: A }], [pay(B, PARAMS.subsidy - 5n)])] }))
    const state = await utxoState(store)
    const ops = [...state.map(([key]) => ({ type: 'del' as const, key })), { type: 'del' as const, key: CHAIN_KEYS.utxoBest }]
    await store.batch(ops)
    assert.deepEqual(await utxoState(store), [])
    const reopened = await Chain.open(store, PARAMS)
    assert.deepEqual(await utxoState(store), state)
    assert.equal(await reopened.balance(B.publicKey), PARAMS.subsidy - 5n)
  })
})
