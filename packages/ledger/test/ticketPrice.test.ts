import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { txHash, type OutPoint, type TransferOutput, type TransferTx } from '@pouw/protocol'
import { CHAIN_KEYS, Chain, Mempool, MemoryStore, type ChainEntry, type ChainParams } from '../src/index.js'
import { NOW, PARAMS, keyPair, minedOn, pay, transfer } from './fixtures.js'

/**
 * The ticket price in consensus (params.tickets.adjust): Decred's stake difficulty, from the pool
 * of live and immature tickets on the block's own branch, every `window` blocks.
 */
const A = keyPair(1)
const MIN = 100n
const WINDOW = 4
const TARGET = 2
const P: ChainParams = {
  ...PARAMS, networkName: 'pouw-test-ticket-price', subsidy: 1_000_000n, coinbaseMaturity: 1,
  tickets: { price: MIN, maxPerBlock: 50, maturity: 0, adjust: { window: WINDOW, targetPoolSize: TARGET, maxPrice: 10_000n } },
}
const ticket = (amount: bigint, expiry = 1_000): TransferOutput => ({ amount, recipient: A.publicKey, lock: { kind: 'stake', role: 0, preferences: [1], expiry, vrfPublicKey: new Uint8Array(32).fill(3) } })
/** tickets bought from coin `c` (a whole coinbase), change back, a 1,000-unit fee */
const buy = (c: OutPoint, tickets: TransferOutput[]): TransferTx =>
  transfer([{ outpoint: c, key: A }], [...tickets, pay(A, P.subsidy - tickets.reduce((s, t) => s + t.amount, 0n) - 1_000n)])

async function next(chain: Chain, parent: ChainEntry, txs: TransferTx[] = [], seed = 9): Promise<ChainEntry> {
  return (await chain.addBlock(minedOn(parent, { seed, txs, outputs: [pay(A, P.subsidy)] }), { now: NOW })).entry
}
const coinbaseOf = async (chain: Chain, e: ChainEntry): Promise<OutPoint> => ({ txHash: txHash((await chain.getBlock(e.hashHex))!.txs[0]!), index: 0 })

describe('ticket price (Decred\'s stake difficulty, params.tickets.adjust)', () => {
  it('moves at multiples of the window with the pool on the block\'s branch; blocks, the mempool, a reopen and a reorg agree', async () => {
    const store = new MemoryStore()
    const chain = await Chain.open(store, P)
    assert.equal(chain.ticketPrice(), MIN)
    const b1 = await next(chain, chain.tip())
    // block 2: two tickets, one expiring at height 6 (it leaves the pool there)
    const b2 = await next(chain, b1, [buy(await coinbaseOf(chain, b1), [ticket(MIN), ticket(MIN, 6)])])
    const b3 = await next(chain, b2)
    // height 4: the pool a window ago (height -1) is empty: the price stands, and a purchase waiting at it stays
    const early = new Mempool(chain)
    await early.add(buy(await coinbaseOf(chain, b2), [ticket(MIN)]))
    const b4 = await next(chain, b3)
    assert.equal(chain.ticketPrice(), MIN)
    await early.update({ status: 'extended', entry: b4, disconnected: [], connected: [b4] })
    assert.equal(early.count, 1, 'the price did not rise: the purchase still meets it')
    const fork = b4
    const b5 = await next(chain, b4, [buy(await coinbaseOf(chain, b3), [ticket(MIN), ticket(MIN), ticket(MIN), ticket(MIN)])])
    const b6 = await next(chain, b5)
    // a purchase at the old price waits in the mempool until the price rises above it
    const pool = new Mempool(chain)
    const cheap = buy(await coinbaseOf(chain, b4), [ticket(MIN)])
    await pool.add(cheap)
    const b7 = await next(chain, b6)
    await pool.update({ status: 'extended', entry: b7, disconnected: [], connected: [b7] })
    assert.equal(pool.count, 0, 'dropped: it no longer meets the price at height 8')

    // height 8: pool after 7 = 5 (the ticket expiring at 6 is out), after 3 = 2: 100 x 5^2 / (2 x 2) = 625
    assert.equal(chain.ticketPrice(), 625n)
    await assert.rejects(pool.add(cheap), { code: 'LEDGER_BAD_TICKET_PURCHASE' })
    await assert.rejects(chain.addBlock(minedOn(b7, { txs: [cheap], outputs: [pay(A, P.subsidy)] }), { now: NOW }), { code: 'LEDGER_BAD_TICKET_PURCHASE' })
    const dear = buy(await coinbaseOf(chain, b4), [ticket(625n)])
    await pool.add(dear)
    const b8 = await next(chain, b7, [dear])
    assert.equal(b8.height, 8)
    assert.equal(chain.ticketPrice(), 625n, 'it stands until the next multiple of the window')

    // reopened, and rebuilt from the blocks alone: the same price
    assert.equal((await Chain.open(store, P)).ticketPrice(), 625n)
    for await (const [key] of store.iterate('chain/p')) if (key.startsWith('chain/price') || key.startsWith('chain/pool')) await store.batch([{ type: 'del', key }])
    assert.equal(await store.get(CHAIN_KEYS.priceIndex), undefined)
    assert.equal((await Chain.open(store, P)).ticketPrice(), 625n)

    // a longer branch from height 4 without the four tickets: its pool after 7 is 1, so the price at 8 is
    // 100 x 1 / 4, clamped to the lowest; a ticket at 100 is valid at its height 8
    const r = await Chain.open(store, P)
    let side = fork
    for (let h = 5; h <= 7; h++) side = await next(r, side, [], 5)
    assert.equal(r.tip().hashHex, b8.hashHex, 'still behind')
    side = await next(r, side, [buy(await coinbaseOf(r, b4), [ticket(MIN)])], 5)
    side = await next(r, side, [], 5)
    assert.equal(r.tip().hashHex, side.hashHex, 'the reorg')
    assert.equal(r.ticketPrice(), MIN)
  })

  it('a window of one block reads the pool after the genesis (empty), then moves every block', async () => {
    const chain = await Chain.open(new MemoryStore(), { ...P, networkName: 'pouw-test-window-1', tickets: { ...P.tickets!, adjust: { window: 1, targetPoolSize: 1, maxPrice: 10_000n } } })
    const b1 = await next(chain, chain.tip())
    assert.equal(chain.ticketPrice(), MIN, 'height 2: the pools after heights 1 and 0 (the genesis) are empty')
    const b2 = await next(chain, b1, [buy(await coinbaseOf(chain, b1), [ticket(MIN), ticket(MIN)])])
    assert.equal(chain.ticketPrice(), MIN, 'height 3: the pool after height 1 was empty, so the price stands')
    await next(chain, b2)
    assert.equal(chain.ticketPrice(), 2n * MIN, 'height 4: 100 x 2^2 / (2 x 1)')
  })
})
