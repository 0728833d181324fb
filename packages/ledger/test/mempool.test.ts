import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { headerHash, toHex, txHash, txSize, type Block, type OutPoint, type TransferTx } from '@pouw/protocol'
import { COINBASE_MATURITY, Chain, DEFAULT_MEMPOOL_POLICY, Mempool, MemoryStore, taskFeeReclaimHeight, type ChainEntry } from '../src/index.js'
import { NOW, PARAMS, keyPair, minedOn, pay, transfer } from './fixtures.js'

const A = keyPair(1)
const B = keyPair(2)
const C = keyPair(3)
const COINS = 8
const EACH = PARAMS.subsidy / BigInt(COINS)

/** A chain whose block 1 pays COINS coins of EACH to A, matured. */
async function setup(policy = DEFAULT_MEMPOOL_POLICY): Promise<{ chain: Chain; pool: Mempool; coins: OutPoint[]; fork: ChainEntry }> {
  const chain = await Chain.open(new MemoryStore(), PARAMS)
  const first = minedOn(chain.tip(), { outputs: Array.from({ length: COINS }, () => ({ amount: EACH, recipient: A.publicKey })) })
  let parent = (await chain.addBlock(first, { now: NOW })).entry
  for (let i = 1; i < COINBASE_MATURITY; i++) parent = (await chain.addBlock(minedOn(parent, { seed: 9 }), { now: NOW })).entry
  const coins = Array.from({ length: COINS }, (_, index) => ({ txHash: txHash(first.txs[0]!), index }))
  return { chain, pool: new Mempool(chain, policy), coins, fork: parent }
}

/** Spends coin `i` of A to B, paying `fee`. */
const spend = (coin: OutPoint, fee: bigint, to = B): TransferTx => transfer([{ outpoint: coin, key: A }], [pay(to, EACH - fee)])

async function connect(chain: Chain, pool: Mempool, block: Block): Promise<void> {
  await pool.update(await chain.addBlock(block, { now: NOW }))
}

describe('Mempool', () => {
  it('admits valid transfers and refuses each broken rule with its code', async () => {
    const { chain, pool, coins } = await setup()
    const t = spend(coins[0]!, 500n)
    const e = await pool.add(t)
    assert.equal(e.fee, 500n)
    assert.equal(e.size, txSize(t))
    assert.ok(pool.isSpent(coins[0]!))
    const refused: [Parameters<Mempool['add']>[0], string][] = [
      [t, 'LEDGER_MEMPOOL_DUPLICATE'],
      [spend(coins[0]!, 600n, C), 'LEDGER_MEMPOOL_CONFLICT'],
      [transfer([{ outpoint: coins[1]!, key: B }], [pay(B, 1n)]), 'LEDGER_BAD_SIGNATURE'],
      [spend(coins[1]!, BigInt(txSize(spend(coins[1]!, 0n))) - 1n), 'LEDGER_MEMPOOL_FEE_TOO_LOW'],
      [spend(coins[1]!, -1n), 'LEDGER_INSUFFICIENT_INPUTS'],
      [transfer([{ outpoint: { ...coins[0]!, index: COINS }, key: A }], [pay(B, 1n)]), 'LEDGER_MISSING_INPUT'],
      [{ type: 'coinbase', height: 1, outputs: [] }, 'LEDGER_BAD_TX'],
      [transfer(coins.slice(1).map((outpoint) => ({ outpoint, key: A })), Array.from({ length: 256 }, () =>
        ({ amount: 1n, recipient: B.publicKey, lock: { kind: 'stake' as const, role: 0, preferences: new Array<number>(32).fill(1), expiry: 1_000, vrfPublicKey: new Uint8Array(32).fill(3) } }))),
      'LEDGER_MEMPOOL_TOO_LARGE'],
    ]
    for (const [tx, code] of refused) await assert.rejects(pool.add(tx), { code }, code)
    // exactly the minimum fee rate passes
    await pool.add(spend(coins[1]!, BigInt(txSize(spend(coins[1]!, 0n)))))
    assert.equal(pool.count, 2)
    assert.equal(chain.tip().height, COINBASE_MATURITY)
  })

  it('selects by fee rate, parents before children, within the byte budget', async () => {
    const { pool, coins } = await setup()
    const low = spend(coins[0]!, 200n)
    const mid = spend(coins[1]!, 400n)
    const high = spend(coins[2]!, 800n)
    const child = transfer([{ outpoint: { txHash: txHash(low), index: 0 }, key: B }], [pay(C, EACH - 200n - 5_000n)])
    for (const t of [low, mid, high, child]) await pool.add(t)
    const all = pool.selectForBlock(1_000_000)
    assert.deepEqual(all.txs.map((t) => toHex(txHash(t))), [high, mid, low, child].map((t) => toHex(txHash(t))), 'the rich child waits for its parent')
    assert.equal(all.fees, 200n + 400n + 800n + 5_000n)
    assert.equal(all.bytes, [low, mid, high, child].reduce((n, t) => n + 4 + txSize(t), 0))
    const two = pool.selectForBlock(2 * (4 + txSize(high)))
    assert.deepEqual(two.txs, [high, mid])
  })

  it('evicts the lowest fee rate when full, and refuses what pays no more', async () => {
    const one = txSize(spend(setupCoin(), 0n))
    const { pool, coins } = await setup({ ...DEFAULT_MEMPOOL_POLICY, maxBytes: 3 * one })
    const [a, b, c] = [spend(coins[0]!, 300n), spend(coins[1]!, 200n), spend(coins[2]!, 400n)]
    for (const t of [a, b, c]) await pool.add(t)
    await assert.rejects(pool.add(spend(coins[3]!, 200n)), { code: 'LEDGER_MEMPOOL_FULL' })
    await pool.add(spend(coins[3]!, 250n))
    assert.equal(pool.has(toHex(txHash(b))), false, 'the lowest rate went')
    assert.equal(pool.count, 3)
    assert.ok(pool.totalBytes <= 3 * one)
  })

  it('drops what a block confirms or conflicts with; takes back what a reorg disconnects', async () => {
    const { chain, pool, coins, fork } = await setup()
    const [t1, t2, t3] = [spend(coins[0]!, 300n), spend(coins[1]!, 300n), spend(coins[2]!, 300n)]
    for (const t of [t1, t2, t3]) await pool.add(t)
    const child = transfer([{ outpoint: { txHash: txHash(t2), index: 0 }, key: B }], [pay(C, EACH - 1_000n)])
    await pool.add(child)
    // a block confirms t1 and spends coin 1 otherwise: t2 and its child conflict
    const rival2 = spend(coins[1]!, 900n, C)
    const block = minedOn(fork, { seed: 1, txs: [t1, rival2], outputs: [{ amount: PARAMS.subsidy, recipient: C.publicKey }] })
    await connect(chain, pool, block)
    assert.deepEqual(pool.all().map((e) => e.tx), [t3])

    // a heavier rival branch without that block: t1 and rival2 come back, t3 stays
    let parent = fork
    const rivals: Block[] = []
    for (let i = 0; i < 2; i++) {
      const b = minedOn(parent, { seed: 7 })
      rivals.push(b)
      parent = { ...parent, hash: headerHash(b.header), hashHex: toHex(headerHash(b.header)), header: b.header, height: parent.height + 1 }
    }
    await connect(chain, pool, rivals[0]!)
    await connect(chain, pool, rivals[1]!)
    assert.equal(chain.tip().hashHex, toHex(headerHash(rivals[1]!.header)))
    const back = pool.all().map((e) => toHex(e.hash))
    assert.deepEqual(new Set(back), new Set([t1, rival2, t3].map((t) => toHex(txHash(t)))))
  })

  it('says which block its entries were checked against: the chain\'s tip moves before update() dropped the block\'s transfers', async () => {
    const { chain, pool, coins } = await setup()
    assert.equal(pool.syncedTo, chain.tip().hashHex)
    const t = spend(coins[0]!, 500n)
    await pool.add(t)
    const result = await chain.addBlock(minedOn(chain.tip(), { seed: 4, txs: [t], outputs: [{ amount: PARAMS.subsidy + 500n, recipient: B.publicKey }] }), { now: NOW })
    assert.notEqual(pool.syncedTo, chain.tip().hashHex, 'not yet: a template now would offer the confirmed transfer again')
    assert.ok(pool.has(toHex(txHash(t))))
    await pool.update(result)
    assert.deepEqual([pool.syncedTo, pool.count], [chain.tip().hashHex, 0])
  })

  it('drops a task-fee revocation once the revoke height is reached; keeps a reclaim of the uncharged fee from its reclaim height', async () => {
    const { chain, pool, coins, fork } = await setup()
    const revokeBefore = fork.height + 3
    const payForTask = transfer([{ outpoint: coins[0]!, key: A }], [{ amount: EACH - 500n, recipient: A.publicKey, lock: { kind: 'task-fee', taskHash: new Uint8Array(32).fill(4), revokeBefore } }])
    await connect(chain, pool, minedOn(fork, { txs: [payForTask], outputs: [] }))
    const revoke = transfer([{ outpoint: { txHash: txHash(payForTask), index: 0 }, key: A }], [pay(A, EACH - 1_000n)])
    await pool.add(revoke)
    await connect(chain, pool, minedOn(chain.tip(), { seed: 3 }))
    assert.equal(pool.count, 0, 'the next block is at revokeBefore: no longer valid')
    await assert.rejects(pool.add(revoke), { code: 'LEDGER_LOCKED' })
    // no charge spent it: the same spend takes the fee back from the reclaim height on, and stays
    while (chain.tip().height + 1 < taskFeeReclaimHeight(revokeBefore)) await connect(chain, pool, minedOn(chain.tip(), { seed: 3 }))
    await pool.add(revoke)
    await connect(chain, pool, minedOn(chain.tip(), { seed: 5 }))
    assert.equal(pool.count, 1, 'a reclaim has no height it must be mined below')
    await connect(chain, pool, minedOn(chain.tip(), { seed: 6, txs: [revoke], outputs: [{ amount: PARAMS.subsidy + 500n, recipient: B.publicKey }] }))
    assert.equal(pool.count, 0)
    assert.equal(await chain.balance(A.publicKey), BigInt(COINS - 1) * EACH + EACH - 1_000n, 'the other coins and the fee back, less the reclaim\'s fee')
  })
})

function setupCoin(): OutPoint {
  return { txHash: new Uint8Array(32), index: 0 }
}
