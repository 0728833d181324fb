import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { txHash, type OutPoint, type TransferOutput } from '@pouw/protocol'
import { COINBASE_MATURITY, Chain, Mempool, MemoryStore, checkTicketPurchases, type ChainParams } from '../src/index.js'
import { NOW, PARAMS, keyPair, minedOn, pay, transfer } from './fixtures.js'

/**
 * BUY_TICKETS in consensus (params.tickets): each stake output is one ticket
 * at least the price; a block buys at most maxPerBlock. The mempool refuses
 * what no block may hold and fills a template up to the cap.
 */
const A = keyPair(1)
const PRICE = 100n
const TICKETS: ChainParams = { ...PARAMS, networkName: 'pouw-test-tickets', tickets: { price: PRICE, maxPerBlock: 3, maturity: 2 } }
const ticket = (amount = PRICE): TransferOutput => ({ amount, recipient: A.publicKey, lock: { kind: 'stake', role: 0, preferences: [1], expiry: 1_000, vrfPublicKey: new Uint8Array(32).fill(3) } })

async function setup(): Promise<{ chain: Chain; pool: Mempool; coins: OutPoint[] }> {
  const chain = await Chain.open(new MemoryStore(), TICKETS)
  const first = minedOn(chain.tip(), { outputs: Array.from({ length: 4 }, () => ({ amount: TICKETS.subsidy / 4n, recipient: A.publicKey })) })
  let parent = (await chain.addBlock(first, { now: NOW })).entry
  for (let i = 1; i < COINBASE_MATURITY; i++) parent = (await chain.addBlock(minedOn(parent, { seed: 9 }), { now: NOW })).entry
  return { chain, pool: new Mempool(chain), coins: Array.from({ length: 4 }, (_, index) => ({ txHash: txHash(first.txs[0]!), index })) }
}

/** A purchase of `n` tickets (plus change) from coin `c`, paying a 2,000-unit fee. */
const buy = (c: OutPoint, n: number, amount = PRICE) =>
  transfer([{ outpoint: c, key: A }], [...Array.from({ length: n }, () => ticket(amount)), pay(A, TICKETS.subsidy / 4n - BigInt(n) * amount - 2_000n)])

describe('ticket purchases (params.tickets)', () => {
  it('checkTicketPurchases: the price per stake output and the cap per block', () => {
    const c: OutPoint = { txHash: new Uint8Array(32), index: 0 }
    assert.equal(checkTicketPurchases([buy(c, 3)], TICKETS), 3, 'exactly the cap')
    assert.equal(checkTicketPurchases([buy(c, 1, PRICE * 7n)], TICKETS), 1, 'a ticket may stake more than the price')
    assert.throws(() => checkTicketPurchases([buy(c, 1, PRICE - 1n)], TICKETS), { code: 'LEDGER_BAD_TICKET_PURCHASE' })
    assert.throws(() => checkTicketPurchases([buy(c, 2), buy(c, 2)], TICKETS), { code: 'LEDGER_TOO_MANY_TICKETS' })
    assert.equal(checkTicketPurchases([buy(c, 2, 1n), buy(c, 2, 1n)], PARAMS), 4, 'without rules: counted, not refused')
  })

  it('a block over the cap or under the price is refused; the mempool refuses what no block may hold and caps its template', async () => {
    const { chain, pool, coins } = await setup()
    const tip = chain.tip()
    await assert.rejects(chain.addBlock(minedOn(tip, { txs: [buy(coins[0]!, 2), buy(coins[1]!, 2)] }), { now: NOW }), { code: 'LEDGER_TOO_MANY_TICKETS' })
    await assert.rejects(chain.addBlock(minedOn(tip, { txs: [buy(coins[0]!, 1, PRICE - 1n)] }), { now: NOW }), { code: 'LEDGER_BAD_TICKET_PURCHASE' })
    await assert.rejects(pool.add(buy(coins[0]!, 4)), { code: 'LEDGER_TOO_MANY_TICKETS' })
    await assert.rejects(pool.add(buy(coins[0]!, 1, PRICE - 1n)), { code: 'LEDGER_BAD_TICKET_PURCHASE' })
    // two purchases of 2 each wait in the mempool; a block template takes one of them (3 at most)
    await pool.add(buy(coins[0]!, 2))
    await pool.add(buy(coins[1]!, 2))
    const template = pool.selectForBlock(1_000_000)
    assert.equal(template.txs.length, 1)
    const mined = await chain.addBlock(minedOn(tip, { txs: template.txs, outputs: [{ amount: TICKETS.subsidy + template.fees, recipient: A.publicKey }] }), { now: NOW })
    assert.equal(mined.status, 'extended')
    await pool.update(mined)
    assert.equal(pool.selectForBlock(1_000_000).txs.length, 1, 'the other one goes into the next block')
  })
})
