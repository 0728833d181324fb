// Run: node --import ./scripts/node-polyfills.mjs --import tsx --test --test-force-exit apps/relay/test/evaluatorTickets.test.ts
// A relay's evaluator tickets on a real chain and mempool: it buys one at a time from its verifier
// key's coins until it holds TICKETS_KEPT, joins a task with a ticket live at the definition block,
// and never joins one task twice (a restart that forgot its join finds it in the mempool).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { PPM, deriveVrfSecretKey, roleIndex, toHex, txHash, verifySelection, vrfPublicKey, type TransferTx } from '@pouw/protocol'
import { Chain, MemoryStore, Mempool, type ChainParams } from '@pouw/ledger'
import { RESEND_BLOCKS, TICKETS_KEPT, TICKET_BLOCKS, createEvaluatorTickets } from '../src/evaluatorTickets.js'
import { NOW, PARAMS, keyPair, minedOn } from '../../../packages/ledger/test/fixtures.js'

const RELAY = keyPair(21)
const P: ChainParams = { ...PARAMS, networkName: 'pouw-test-evaluator-tickets', subsidy: 1_000_000_000n, coinbaseMaturity: 1, tickets: { price: 1_000_000n, maxPerBlock: 50, maturity: 1 } }

/** `late`: the relay's one reward is in the tip block (mature for the next block, not for a relay one block behind) */
async function setup(opts: { late?: boolean } = {}): Promise<{ chain: Chain; mempool: Mempool; logs: string[]; resent: TransferTx[]; tickets: ReturnType<typeof createEvaluatorTickets>; mine(txs?: TransferTx[]): Promise<void> }> {
  const chain = await Chain.open(new MemoryStore(), P)
  const mempool = new Mempool(chain)
  const mine = async (txs: TransferTx[] = []): Promise<void> => {
    await mempool.update(await chain.addBlock(minedOn(chain.tip(), { seed: 9, txs, outputs: [{ amount: P.subsidy, recipient: new Uint8Array(32).fill(9) }] }), { now: NOW }))
  }
  // the relay's verifier rewards: one coinbase paying its key
  const reward = async (): Promise<void> => { await chain.addBlock(minedOn(chain.tip(), { outputs: [{ amount: P.subsidy, recipient: RELAY.publicKey }] }), { now: NOW }) }
  if (opts.late === true) { await mine(); await mine(); await reward() } else { await reward(); await mine() }
  const logs: string[] = []
  const resent: TransferTx[] = []
  const tickets = createEvaluatorTickets({
    chain, keys: RELAY, submit: (tx) => mempool.add(tx), log: (msg, ctx) => logs.push(`${msg} ${JSON.stringify(ctx ?? {})}`),
    pendingSpend: (o) => mempool.isSpent(o), inMempool: (h) => mempool.has(h), mempoolTxs: () => mempool.all().map((e) => e.tx), resend: (tx) => resent.push(tx),
  })
  return { chain, mempool, logs, resent, tickets, mine }
}

const pending = (m: Mempool): TransferTx[] => m.all().map((e) => e.tx as TransferTx)

describe('evaluator tickets', () => {
  it('buys one ticket at a time, each mined before the next, up to TICKETS_KEPT; then buys no more', async () => {
    const { chain, mempool, tickets, mine } = await setup()
    await tickets.keep()
    await tickets.keep()
    assert.equal(mempool.count, 1, 'one purchase waits in the mempool: no second one meanwhile')
    const [first] = pending(mempool)
    const stake = first!.outputs.find((o) => o.lock.kind === 'stake')!
    assert.ok(stake.lock.kind === 'stake')
    assert.equal(stake.lock.role, roleIndex('evaluator'))
    assert.equal(stake.lock.expiry, chain.tip().height + 1 + TICKET_BLOCKS)
    assert.equal(stake.amount, chain.ticketPrice() ?? P.tickets!.price)
    for (let i = 1; i < TICKETS_KEPT; i++) {
      await mine(pending(mempool))
      await tickets.keep()
      assert.equal(mempool.count, 1, `purchase ${i + 1}`)
    }
    await mine(pending(mempool))
    assert.equal(await tickets.count(), TICKETS_KEPT)
    await tickets.keep()
    assert.equal(mempool.count, 0, 'enough tickets: nothing bought')
  })

  it('a purchase still unmined RESEND_BLOCKS blocks later is handed to the other relays again, once per RESEND_BLOCKS; a reward not yet mature a block early is not spent', async () => {
    const { mempool, logs, resent, tickets, mine } = await setup({ late: true })
    await tickets.keep()
    assert.equal(mempool.count, 0, 'the reward in the tip is left for the next block')
    assert.ok(logs.some((l) => l.includes('LEDGER_INSUFFICIENT_FUNDS')))
    await mine()
    await tickets.keep()
    const [purchase] = pending(mempool)
    assert.ok(purchase !== undefined)
    for (let i = 1; i < RESEND_BLOCKS; i++) { await mine(); await tickets.keep() }
    assert.deepEqual(resent, [])
    await mine()
    await tickets.keep()
    assert.deepEqual(resent.map((tx) => toHex(txHash(tx))), [toHex(txHash(purchase))])
    await tickets.keep()
    assert.equal(resent.length, 1, 'not again until RESEND_BLOCKS more blocks')
    assert.equal(mempool.count, 1, 'and no second purchase while it waits')
  })

  it('joins a task with a ticket live at its definition block, once, even after a restart forgot the join', async () => {
    const { chain, mempool, logs, tickets, mine } = await setup()
    const task = toHex(new Uint8Array(32).fill(5))
    // no ticket yet: nothing to join with (logged once)
    assert.equal(await tickets.join(task, { height: chain.tip().height, hash: chain.tip().hashHex }), undefined)
    assert.equal(await tickets.join(task, { height: chain.tip().height, hash: chain.tip().hashHex }), undefined)
    assert.equal(logs.filter((l) => l.startsWith('no evaluator ticket to join')).length, 1)
    await tickets.keep()
    await mine(pending(mempool))
    // a definition block in the ticket's purchase block: the ticket is not live there (maturity 1)
    assert.equal(await tickets.join(task, { height: chain.tip().height, hash: chain.tip().hashHex }), undefined)
    await mine()
    const tdb = chain.tip()
    const hash = await tickets.join(task, { height: tdb.height, hash: tdb.hashHex })
    assert.ok(hash !== undefined)
    const join = pending(mempool).find((tx) => toHex(txHash(tx)) === hash)!
    const lock = join.outputs[0]!.lock
    assert.ok(lock.kind === 'joined' && lock.role === roleIndex('evaluator') && toHex(lock.taskHash) === task)
    // its VRF proof is over the definition block, by the key derived from the relay's key, for this owner
    assert.deepEqual(lock.vrfPublicKey, vrfPublicKey(deriveVrfSecretKey(RELAY.secretKey)))
    assert.equal(verifySelection(lock.vrfPublicKey, tdb.hash, 'evaluator', lock.pi, PPM, PPM, RELAY.publicKey).selected, true)
    assert.equal(verifySelection(lock.vrfPublicKey, tdb.header.prevHash, 'evaluator', lock.pi, PPM, PPM, RELAY.publicKey).selected, false)
    // a second call (a restarted relay that lost its own record of the join) finds it in the mempool
    const again = createEvaluatorTickets({
      chain, keys: RELAY, submit: (tx) => mempool.add(tx), log: () => {},
      pendingSpend: (o) => mempool.isSpent(o), inMempool: (h) => mempool.has(h), mempoolTxs: () => mempool.all().map((e) => e.tx), resend: () => {},
    })
    assert.equal(await again.join(task, { height: tdb.height, hash: tdb.hashHex }), hash)
    assert.equal(mempool.count, 1, 'one join for the task')
  })
})
