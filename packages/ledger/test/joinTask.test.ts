import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  TAGS, deriveVrfSecretKey, roleIndex, proveSelection, taggedHash, toHex, txFromBytes, txHash, txToBytes, vrfPublicKey, type KeyPair, type OutPoint, type TransferTx,
} from '@pouw/protocol'
import {
  COINBASE_MATURITY, Chain, Mempool, MemoryStore, Wallet, approveCharge, chargeTx, chargeTxFee, outpointKey, signTransfer, withApprovals,
  type ChainEntry, type ChainParams,
} from '../src/index.js'
import { NOW, PARAMS, keyPair, minedOn, pay, transfer } from './fixtures.js'

/**
 * JOIN_TASK on chain (utxo.ts checkJoin): a live ticket's stake moves to a
 * task with the ticket's VRF proof; only a charge of that task, or its owner
 * from the ticket's expiry on, spends it.
 */
const A = keyPair(1)
const B = keyPair(2)
const [E1, E2] = [keyPair(11), keyPair(12)]
const MATURITY = 2
const PARAMS_J: ChainParams = {
  ...PARAMS, networkName: 'pouw-test-joins', subsidy: 5_000_000n, evaluators: [E1.publicKey, E2.publicKey], tickets: { price: 1_000n, maxPerBlock: 10, maturity: MATURITY },
}
const TASK = taggedHash(TAGS.task, new Uint8Array([7]))
const OTHER = taggedHash(TAGS.task, new Uint8Array([9]))
const TDB = taggedHash(TAGS.task, new Uint8Array([8]))
const STAKE = 100_000n
const EVALUATOR = roleIndex('evaluator')

async function extend(chain: Chain, parent: ChainEntry, n: number, txs: TransferTx[] = []): Promise<ChainEntry> {
  for (let i = 0; i < n; i++) {
    // the coinbase leaves the fees unclaimed: a block may pay less than it could
    const block = minedOn(parent, { seed: 9, txs: i === 0 ? txs : [], outputs: [{ amount: PARAMS_J.subsidy, recipient: B.publicKey }] })
    parent = (await chain.addBlock(block, { now: NOW })).entry
  }
  return parent
}

/**
 * A chain where A holds two miner tickets, and E1 and E2 (the chain's evaluators) one evaluator
 * ticket each (a member approves a charge only with its joined evaluator stake spent: utxo.ts
 * approvalChecks), all bought in its tip (height `bought`) and expiring at `expiry`.
 */
async function setup(expiry = 1_000): Promise<{ chain: Chain; tickets: OutPoint[]; evaluatorTickets: OutPoint[]; bought: number }> {
  const chain = await Chain.open(new MemoryStore(), PARAMS_J)
  const first = minedOn(chain.tip(), { outputs: [{ amount: PARAMS_J.subsidy, recipient: A.publicKey }] })
  let tip = (await chain.addBlock(first, { now: NOW })).entry
  tip = await extend(chain, tip, COINBASE_MATURITY - 1)
  const stake = { kind: 'stake' as const, role: 0, preferences: [1, 2], expiry, vrfPublicKey: vrfPublicKey(deriveVrfSecretKey(A.secretKey)) }
  const evaluatorStake = (e: KeyPair) => ({ ...stake, role: EVALUATOR, vrfPublicKey: vrfPublicKey(deriveVrfSecretKey(e.secretKey)) })
  // A pays for E1's and E2's tickets too (they have no coins of their own): the tickets are theirs
  const buy = transfer([{ outpoint: { txHash: txHash(first.txs[0]!), index: 0 }, key: A }],
    [{ amount: STAKE, recipient: A.publicKey, lock: stake }, { amount: STAKE, recipient: A.publicKey, lock: stake },
      ...[E1, E2].map((e) => ({ amount: STAKE, recipient: e.publicKey, lock: evaluatorStake(e) })), pay(A, PARAMS_J.subsidy - 4n * STAKE - 100_000n)])
  tip = await extend(chain, tip, 1, [buy])
  return {
    chain, tickets: [0, 1].map((index) => ({ txHash: txHash(buy), index })), evaluatorTickets: [2, 3].map((index) => ({ txHash: txHash(buy), index })), bought: tip.height,
  }
}

/** A's ticket's VRF proof over (TDB || miner) */
const vrf = (): Uint8Array => proveSelection(deriveVrfSecretKey(A.secretKey), TDB, 'miner', A.publicKey).pi
/** `e`'s evaluator ticket's VRF proof over (TDB || evaluator) */
const evaluatorVrf = (e: KeyPair): Uint8Array => proveSelection(deriveVrfSecretKey(e.secretKey), TDB, 'evaluator', e.publicKey).pi

/** `join` with its one output changed, signed again */
const altered = (join: TransferTx, change: (o: TransferTx['outputs'][number]) => TransferTx['outputs'][number]): Promise<TransferTx> =>
  signTransfer({ ...join, outputs: [change(join.outputs[0]!)] }, [A.secretKey])

describe('JOIN_TASK', () => {
  it('a live ticket joins a task: the joined stake carries the ticket, round-trips, and is listed with the task', async () => {
    const { chain, tickets, bought } = await setup()
    const wallet = new Wallet(A)
    const pool = new Mempool(chain)
    // the next block is at bought + 1: the ticket is not live before bought + MATURITY
    const early = await wallet.joinTask(chain, tickets[0]!, TASK, vrf())
    await assert.rejects(pool.add(early), { code: 'LEDGER_BAD_JOIN' })
    await assert.rejects(chain.addBlock(minedOn(chain.tip(), { txs: [early], outputs: [pay(B, PARAMS_J.subsidy)] }), { now: NOW }), { code: 'LEDGER_BAD_JOIN' })
    await extend(chain, chain.tip(), MATURITY - 1)

    const join = await wallet.joinTask(chain, tickets[0]!, TASK, vrf())
    assert.deepEqual(txFromBytes(txToBytes(join)), join)
    const lock = join.outputs[0]!.lock
    assert.equal(lock.kind, 'joined')
    assert.deepEqual(lock, {
      kind: 'joined', taskHash: TASK, role: 0, preferences: [1, 2], expiry: 1_000, vrfPublicKey: vrfPublicKey(deriveVrfSecretKey(A.secretKey)), purchaseHeight: bought, pi: vrf(),
    })
    const entry = await pool.add(join)
    assert.ok(entry.fee > 0n && join.outputs[0]!.amount === STAKE - entry.fee, 'the transaction fee comes off the stake')
    assert.equal(entry.tickets, 0, 'a join buys no ticket')
    await extend(chain, chain.tip(), 1, [join])
    const joins = (await chain.taskJoins()).get(toHex(TASK))
    assert.deepEqual(joins?.map((j) => outpointKey(j.outpoint)), [outpointKey({ txHash: txHash(join), index: 0 })])
    assert.equal(joins![0]!.coin.height, chain.tip().height)
    assert.equal((await chain.taskFees()).get(toHex(TASK)), undefined, 'a joined stake is not a fee')
    await assert.rejects(wallet.joinTask(chain, tickets[0]!, TASK, vrf()), { code: 'LEDGER_MISSING_INPUT' })
  })

  it('refuses a join that is not one ticket into one output carrying it, and a ticket spent but to join', async () => {
    const { chain, tickets } = await setup()
    await extend(chain, chain.tip(), MATURITY)
    const wallet = new Wallet(A)
    const pool = new Mempool(chain)
    const join = await wallet.joinTask(chain, tickets[0]!, TASK, vrf())
    const cases: [string, Promise<TransferTx>][] = [
      ['pays someone else', altered(join, (o) => ({ ...o, recipient: B.publicKey }))],
      ['other preferences', altered(join, (o) => ({ ...o, lock: { ...o.lock, preferences: [1, 3] } as typeof o.lock }))],
      ['another expiry', altered(join, (o) => ({ ...o, lock: { ...o.lock, expiry: 2_000 } as typeof o.lock }))],
      ['another purchase height', altered(join, (o) => ({ ...o, lock: { ...o.lock, purchaseHeight: 1 } as typeof o.lock }))],
      ['another role', altered(join, (o) => ({ ...o, lock: { ...o.lock, role: 1 } as typeof o.lock }))],
      ['another VRF key (tried once the task is known)', altered(join, (o) => ({ ...o, lock: { ...o.lock, vrfPublicKey: B.publicKey } as typeof o.lock }))],
      ['two tickets', signTransfer({ ...join, inputs: [...join.inputs, { ...join.inputs[0]!, prevout: tickets[1]! }] }, [A.secretKey, A.secretKey])],
      ['change on the side', signTransfer({ ...join, outputs: [...join.outputs, pay(A, 1n)] }, [A.secretKey])],
    ]
    for (const [what, tx] of cases) await assert.rejects(pool.add(await tx), { code: 'LEDGER_BAD_JOIN' }, what)
    // a plain coin is no ticket
    const coin = (await chain.coinsOf(A.publicKey)).find((c) => c.coin.lock.kind === 'pubkey')!
    const fromCoin = await signTransfer({ ...join, inputs: [{ ...join.inputs[0]!, prevout: coin.outpoint }] }, [A.secretKey])
    await assert.rejects(pool.add(fromCoin), { code: 'LEDGER_BAD_JOIN' })
    // a ticket is spent before its expiry only to join
    const spend = transfer([{ outpoint: tickets[0]!, key: A }], [pay(A, STAKE - 1_000n)])
    await assert.rejects(pool.add(spend), { code: 'LEDGER_LOCKED' })
  })

  it('a joined stake is spent by its task\'s charge, not another task\'s, and by its owner only from the ticket\'s expiry', async () => {
    const expiry = COINBASE_MATURITY + 1 + MATURITY + 4
    const s = await setup(expiry)
    await extend(s.chain, s.chain.tip(), MATURITY)
    const wallet = new Wallet(A)
    const joins = [await wallet.joinTask(s.chain, s.tickets[0]!, TASK, vrf()), await wallet.joinTask(s.chain, s.tickets[1]!, TASK, vrf())]
    // the evaluators join the task too: the charge spends their joined stakes, without which they cannot approve it
    const evaluatorJoins = await Promise.all([E1, E2].map((e, i) => new Wallet(e).joinTask(s.chain, s.evaluatorTickets[i]!, TASK, evaluatorVrf(e))))
    await extend(s.chain, s.chain.tip(), 1, [...joins, ...evaluatorJoins])
    const joined = joins.map((j) => ({ txHash: txHash(j), index: 0 }))
    const evaluatorsJoined = evaluatorJoins.map((j) => ({ txHash: txHash(j), index: 0 }))
    const evaluatorsBack = evaluatorJoins.map((j, i) => ({ recipient: [E1, E2][i]!.publicKey, amount: j.outputs[0]!.amount, reason: 'stake-return' as const }))
    const pool = new Mempool(s.chain)
    await assert.rejects(pool.add(transfer([{ outpoint: joined[0]!, key: A }], [pay(A, 50_000n)])), { code: 'LEDGER_LOCKED' })

    // the charge returns A's stake (less its transaction fee) and the evaluators' stakes, which it spends too
    const charge = async (task: Uint8Array, spends: OutPoint[], amount: bigint): Promise<TransferTx> => {
      const unsigned = chargeTx([...spends, ...evaluatorsJoined], task, TDB, [{ recipient: A.publicKey, amount, reason: 'stake-return' }, ...evaluatorsBack])
      return withApprovals(unsigned, await Promise.all([E1, E2].map((e) => approveCharge(unsigned, e.secretKey, e.publicKey))), PARAMS_J.evaluators!)!
    }
    const back = joins[0]!.outputs[0]!.amount - chargeTxFee(3, 3, 2)
    await assert.rejects(pool.add(await charge(OTHER, [joined[0]!], back)), { code: 'LEDGER_BAD_CHARGE' })
    // without the evaluators' joined stakes spent, E1's and E2's approvals count for nothing, though they are the chain's evaluators
    const alone = chargeTx([joined[0]!], TASK, TDB, [{ recipient: A.publicKey, amount: joins[0]!.outputs[0]!.amount - chargeTxFee(1, 1, 2), reason: 'stake-return' }])
    const aloneApproved = withApprovals(alone, await Promise.all([E1, E2].map((e) => approveCharge(alone, e.secretKey, e.publicKey))), PARAMS_J.evaluators!)!
    await assert.rejects(pool.add(aloneApproved), { code: 'LEDGER_BAD_CHARGE', message: /whose evaluator stake for the task the charge does not spend/ })
    const returned = await charge(TASK, [joined[0]!], back)
    await pool.add(returned)
    await extend(s.chain, s.chain.tip(), 1, [returned])
    assert.deepEqual(await s.chain.chargeOf(toHex(TASK)), { tx: toHex(txHash(returned)), height: s.chain.tip().height, paid: 0n }, 'the fee paid out excludes the stake returned')

    // the other one: its owner's again at the ticket's expiry
    const reclaim = transfer([{ outpoint: joined[1]!, key: A }], [pay(A, 50_000n)])
    while (s.chain.tip().height + 1 < expiry) {
      await assert.rejects(new Mempool(s.chain).add(reclaim), { code: 'LEDGER_LOCKED' })
      await extend(s.chain, s.chain.tip(), 1)
    }
    await new Mempool(s.chain).add(reclaim)
  })
})
