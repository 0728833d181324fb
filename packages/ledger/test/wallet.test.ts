import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { txSigHash, txSize, verifyReference, type TransferTx } from '@pouw/protocol'
import { COINBASE_MATURITY, Chain, Mempool, MemoryStore, Wallet, payTo, selectCoins, transferSize, type ChainEntry } from '../src/index.js'
import { NOW, PARAMS, minedOn } from './fixtures.js'

const alice = Wallet.fromSeed(new Uint8Array(32).fill(11))
const bob = Wallet.fromSeed(new Uint8Array(32).fill(12))

/** Blocks 1..n pay `amounts[i]` to alice; then enough empty blocks for all of them to mature. */
async function setup(amounts: bigint[]): Promise<{ chain: Chain; pool: Mempool }> {
  const chain = await Chain.open(new MemoryStore(), PARAMS)
  let parent: ChainEntry = chain.tip()
  for (const amount of amounts) parent = (await chain.addBlock(minedOn(parent, { outputs: [{ amount, recipient: alice.publicKey }] }), { now: NOW })).entry
  for (let i = 1; i < COINBASE_MATURITY; i++) parent = (await chain.addBlock(minedOn(parent, { seed: 9 }), { now: NOW })).entry
  return { chain, pool: new Mempool(chain) }
}

async function mine(chain: Chain, pool: Mempool, txs: TransferTx[]): Promise<void> {
  const fees = pool.selectForBlock(1_000_000).fees
  await pool.update(await chain.addBlock(minedOn(chain.tip(), { seed: 8, txs, outputs: [{ amount: PARAMS.subsidy + fees, recipient: bob.publicKey }] }), { now: NOW }))
}

describe('Wallet', () => {
  it('reads its balance: spendable, immature', async () => {
    const { chain } = await setup([30_000n, 20_000n])
    assert.deepEqual(await alice.balance(chain), { total: 50_000n, spendable: 50_000n, immature: 0n, locked: 0n })
    await chain.addBlock(minedOn(chain.tip(), { outputs: [{ amount: 5_000n, recipient: alice.publicKey }] }), { now: NOW })
    assert.deepEqual(await alice.balance(chain), { total: 55_000n, spendable: 50_000n, immature: 5_000n, locked: 0n })
    assert.equal((await alice.spendable(chain)).length, 2)
  })

  it('builds and signs a transfer with change and fee, that the mempool and a block accept', async () => {
    const { chain, pool } = await setup([30_000n, 20_000n])
    await chain.addBlock(minedOn(chain.tip(), { seed: 9 }), { now: NOW })
    const tx = await alice.send(chain, bob.publicKey, 35_000n, { feeRate: 2n })
    assert.equal(tx.inputs.length, 2)
    assert.deepEqual(tx.outputs[0], payTo(bob.publicKey, 35_000n))
    const fee = 50_000n - tx.outputs.reduce((s, o) => s + o.amount, 0n)
    assert.equal(fee, 2n * BigInt(txSize(tx)))
    assert.equal(transferSize(2, tx.outputs), txSize(tx))
    for (const i of tx.inputs) assert.ok(verifyReference(alice.publicKey, txSigHash(tx), i.signature))
    await pool.add(tx)
    // the mempool's spends are excluded from the next transfer
    await assert.rejects(alice.send(chain, bob.publicKey, 1n, { exclude: (o) => pool.isSpent(o) }), { code: 'LEDGER_INSUFFICIENT_FUNDS' })
    await mine(chain, pool, [tx])
    assert.equal(await chain.balance(bob.publicKey) >= 35_000n, true)
    assert.deepEqual(await alice.balance(chain), { total: 15_000n - fee, spendable: 15_000n - fee, immature: 0n, locked: 0n })
  })

  it('selects coins largest first, leaves no change when the rest would not pay for it', () => {
    const coin = (amount: bigint, n: number): Parameters<typeof selectCoins>[0][number] => ({
      outpoint: { txHash: new Uint8Array(32).fill(n), index: 0 }, coin: { amount, recipient: alice.publicKey, lock: { kind: 'pubkey' }, height: 1, coinbase: false },
    })
    const coins = [coin(100n, 1), coin(5_000n, 2), coin(700n, 3)]
    const out = [payTo(bob.publicKey, 4_000n)]
    const one = selectCoins(coins, out, 1n, alice.publicKey)
    assert.deepEqual(one.inputs.map((c) => c.coin.amount), [5_000n])
    assert.equal(one.outputs.length, 2)
    assert.equal(one.fee, BigInt(transferSize(1, one.outputs)))
    const exact = 5_000n - BigInt(transferSize(1, out)) - 3n
    const noChange = selectCoins(coins, [payTo(bob.publicKey, exact)], 1n, alice.publicKey)
    assert.equal(noChange.outputs.length, 1, 'a change of 3 would not pay for its own output')
    assert.equal(noChange.fee, 5_000n - exact)
    assert.throws(() => selectCoins(coins, [payTo(bob.publicKey, 5_800n)], 1n, alice.publicKey), { code: 'LEDGER_INSUFFICIENT_FUNDS' })
  })

  it('PAY_FOR_TASK, REVOKE_TASK and BUY_TICKETS', async () => {
    const { chain, pool } = await setup([30_000n, 20_000n, 10_000n])
    for (let i = 0; i < 2; i++) await chain.addBlock(minedOn(chain.tip(), { seed: 9 }), { now: NOW })
    const h = chain.tip().height
    const pft = await alice.payForTask(chain, new Uint8Array(32).fill(7), 25_000n, h + 3)
    const tickets = await alice.buyTickets(chain, 10_000n, { role: 1, preferences: [5, 0, 2], expiry: h + 10, vrfPublicKey: new Uint8Array(32).fill(3) }, { exclude: (o) => pft.inputs.some((i) => i.prevout.index === o.index && i.prevout.txHash.every((b, k) => b === o.txHash[k])) })
    await pool.add(pft)
    await pool.add(tickets)
    await mine(chain, pool, [pft, tickets])
    const b = await alice.balance(chain)
    assert.equal(b.locked, 35_000n, 'the stake is locked until its expiry, and a task fee is never spendable by a payment')
    assert.ok((await alice.spendable(chain)).every((c) => c.coin.lock.kind === 'pubkey'), 'neither the task fee nor the stake is spent by send()')
    const fee = (await chain.coinsOf(alice.publicKey)).find((c) => c.coin.lock.kind === 'task-fee')!
    const revoke = await alice.revokeTask(chain, fee.outpoint)
    await pool.add(revoke)
    await mine(chain, pool, [revoke])
    assert.equal((await chain.coinsOf(alice.publicKey)).some((c) => c.coin.lock.kind === 'task-fee'), false)
    await assert.rejects(alice.revokeTask(chain, fee.outpoint), { code: 'LEDGER_MISSING_INPUT' })
  })
})
