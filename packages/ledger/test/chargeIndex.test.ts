import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { TAGS, roleIndex, deriveVrfSecretKey, proveSelection, taggedHash, toHex, txHash, vrfPublicKey, type KeyPair } from '@pouw/protocol'
import {
  CHAIN_KEYS, COINBASE_MATURITY, Chain, MemoryStore, Wallet, approveCharge, chargeTx, chargeTxFee, withApprovals, type ChainEntry, type ChainParams,
} from '../src/index.js'
import { NOW, PARAMS, keyPair, minedOn, transfer } from './fixtures.js'

/**
 * Chain.chargeOf: the main chain's CHARGE_FOR_TASK per task, written and
 * undone with the UTXO set, rebuilt for a store written before the index.
 */
const A = keyPair(1)
const B = keyPair(2)
const [E1, E2] = [keyPair(11), keyPair(12)]
const PARAMS_E: ChainParams = { ...PARAMS, networkName: 'pouw-test-charges', evaluators: [E1.publicKey, E2.publicKey] }
const TASK = taggedHash(TAGS.task, new Uint8Array([7]))
const RESULT = taggedHash(TAGS.task, new Uint8Array([8]))
const TDB = taggedHash(TAGS.task, new Uint8Array([9]))
/** each evaluator's ticket: a member of the chain's evaluators approves a charge only with its evaluator stake that joined the task spent */
const STAKE = 10_000n
const evaluatorStake = (e: KeyPair) => ({
  kind: 'stake' as const, role: roleIndex('evaluator'), preferences: [], expiry: 1_000, vrfPublicKey: vrfPublicKey(deriveVrfSecretKey(e.secretKey)),
})

async function extend(chain: Chain, parent: ChainEntry, n: number, seed = 9): Promise<ChainEntry> {
  for (let i = 0; i < n; i++) parent = (await chain.addBlock(minedOn(parent, { seed }), { now: NOW })).entry
  return parent
}

describe('Chain.chargeOf', () => {
  it('indexes a mined charge, drops it when a reorg disconnects it, and rebuilds it for an older store', async () => {
    const store = new MemoryStore()
    const chain = await Chain.open(store, PARAMS_E)
    const first = minedOn(chain.tip(), { outputs: [{ amount: PARAMS_E.subsidy, recipient: A.publicKey }] })
    let tip = await extend(chain, (await chain.addBlock(first, { now: NOW })).entry, COINBASE_MATURITY - 1)
    // PAY_FOR_TASK, revocable below the next height + 1, and the evaluators' tickets (A pays for them)
    const revokeBefore = tip.height + 2
    const fee = PARAMS_E.subsidy - 1_000n - 2n * STAKE
    const pay = transfer([{ outpoint: { txHash: txHash(first.txs[0]!), index: 0 }, key: A }],
      [{ amount: fee, recipient: A.publicKey, lock: { kind: 'task-fee', taskHash: TASK, revokeBefore } },
        ...[E1, E2].map((e) => ({ amount: STAKE, recipient: e.publicKey, lock: evaluatorStake(e) }))])
    tip = (await chain.addBlock(minedOn(tip, { txs: [pay], outputs: [{ amount: PARAMS_E.subsidy + 1_000n, recipient: B.publicKey }] }), { now: NOW })).entry
    const fork = tip
    // JOIN_TASK: the evaluators join the task (the block leaves their fees unclaimed)
    const joins = await Promise.all([E1, E2].map((e, i) =>
      new Wallet(e).joinTask(chain, { txHash: txHash(pay), index: 1 + i }, TASK, proveSelection(deriveVrfSecretKey(e.secretKey), TDB, 'evaluator', e.publicKey).pi)))
    tip = (await chain.addBlock(minedOn(tip, { txs: joins }), { now: NOW })).entry
    // the charge pays the fee out and returns the evaluators' stakes
    const unsigned = chargeTx([{ txHash: txHash(pay), index: 0 }, ...joins.map((j) => ({ txHash: txHash(j), index: 0 }))], TASK, RESULT, [
      { recipient: B.publicKey, amount: fee - chargeTxFee(3, 3, 2), reason: 'miner-reward' },
      ...joins.map((j, i) => ({ recipient: [E1, E2][i]!.publicKey, amount: j.outputs[0]!.amount, reason: 'stake-return' as const })),
    ])
    const charge = withApprovals(unsigned, await Promise.all([E1, E2].map((e) => approveCharge(unsigned, e.secretKey, e.publicKey))), PARAMS_E.evaluators!)!
    assert.equal(await chain.chargeOf(toHex(TASK)), undefined)
    const fees = fee - charge.outputs[0]!.amount
    const charged = (await chain.addBlock(minedOn(tip, { txs: [charge], outputs: [{ amount: PARAMS_E.subsidy + fees, recipient: B.publicKey }] }), { now: NOW })).entry
    const record = { tx: toHex(txHash(charge)), height: charged.height, paid: charge.outputs[0]!.amount }
    assert.deepEqual(await chain.chargeOf(toHex(TASK)), record)

    // an older store: no index and no marker; opening rebuilds both
    const older = new MemoryStore()
    for await (const [key, value] of store.iterate('')) {
      if (!key.startsWith(CHAIN_KEYS.chargePrefix) && key !== CHAIN_KEYS.chargeIndex) await older.batch([{ type: 'put', key, value }])
    }
    assert.deepEqual(await (await Chain.open(older, PARAMS_E)).chargeOf(toHex(TASK)), record)

    // a longer branch from before the charge: the charge is disconnected, and so is its record
    await extend(chain, fork, 3, 5)
    assert.notEqual(chain.tip().hashHex, charged.hashHex)
    assert.equal(await chain.chargeOf(toHex(TASK)), undefined)
  })
})
