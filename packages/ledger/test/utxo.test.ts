import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  TAGS, VRF_PROOF_SIZE, roleIndex, taggedHash, toHex, txFromBytes, txHash, txToBytes, verify, verifyReference, type CoinbaseTx, type OutPoint, type Role, type Tx,
} from '@pouw/protocol'
import {
  COINBASE_MATURITY, MAX_MONEY, approveCharge, chargeSize, chargeTx, chargeTxFee, checkTx, coinFromBytes, coinToBytes, connectBlock, disconnectBlock,
  outpointFromKey, outpointKey, taskFeeReclaimHeight, undoFromBytes, undoToBytes, withApprovals, type ChainParams, type Coin,
} from '../src/index.js'
import { PARAMS, keyPair, pay, transfer } from './fixtures.js'
import { Prng } from '../../protocol/test/helpers.js'

const A = keyPair(1)
const B = keyPair(2)
const C = keyPair(3)
const HEIGHT = 100
const fund = (n: number): OutPoint => ({ txHash: taggedHash(TAGS.tx, new Uint8Array([n])), index: n })
const coin = (amount: bigint, owner = A, extra: Partial<Coin> = {}): Coin =>
  ({ amount, recipient: owner.publicKey, lock: { kind: 'pubkey' }, height: 1, coinbase: false, ...extra })
const cb = (amount: bigint, height = HEIGHT): CoinbaseTx => ({ type: 'coinbase', height, outputs: [{ amount, recipient: C.publicKey }] })

/** A view holding coins fund(0..n-1) of 1000 each, paying A. */
function view(n = 4): Map<string, Coin> {
  const v = new Map<string, Coin>()
  for (let i = 0; i < n; i++) v.set(outpointKey(fund(i)), coin(1_000n))
  return v
}

async function rejects(v: Map<string, Coin>, txs: Tx[], code: string, height = HEIGHT, message?: RegExp, params: ChainParams = PARAMS): Promise<void> {
  const before = [...v]
  await assert.rejects(connectBlock(v, txs, height, params), message === undefined ? { code } : { code, message })
  assert.deepEqual([...v], before, 'the view is untouched')
}

/** A charge refused (LEDGER_BAD_CHARGE) at HEIGHT + 5, its task fee's first chargeable height, for the reason `why`. */
const refused = (v: Map<string, Coin>, charge: Tx, why: RegExp, params: ChainParams = PARAMS): Promise<void> =>
  rejects(v, [cb(0n), charge], 'LEDGER_BAD_CHARGE', HEIGHT + 5, why, params)

describe('UTXO rules', () => {
  it('connects a transfer, counts its fee for the coinbase, and undo restores the view exactly', async () => {
    const v = view()
    const before = new Map(v)
    const t = transfer([{ outpoint: fund(0), key: A }, { outpoint: fund(1), key: A }], [pay(B, 1_500n), pay(A, 490n)])
    const txs = [cb(PARAMS.subsidy + 10n), t]
    const { undo, fees } = await connectBlock(v, txs, HEIGHT, PARAMS)
    assert.equal(fees, 10n)
    assert.equal(v.has(outpointKey(fund(0))), false)
    const h = txHash(t)
    assert.deepEqual(v.get(outpointKey({ txHash: h, index: 0 })), { amount: 1_500n, recipient: B.publicKey, lock: { kind: 'pubkey' }, height: HEIGHT, coinbase: false })
    assert.equal(v.get(outpointKey({ txHash: txHash(txs[0]!), index: 0 }))!.coinbase, true)
    assert.equal(undo.spent.length, 2)
    assert.deepEqual(undoFromBytes(undoToBytes(undo)), undo)
    disconnectBlock(v, txs, undo)
    assert.deepEqual(v, before)
  })

  it('is deterministic: the same block on the same view gives the same view and undo', async () => {
    const t = transfer([{ outpoint: fund(2), key: A }], [pay(B, 900n)])
    const [v1, v2] = [view(), view()]
    const r1 = await connectBlock(v1, [cb(1n), t], HEIGHT, PARAMS)
    const r2 = await connectBlock(v2, [cb(1n), t], HEIGHT, PARAMS, { verify: verifyReference })
    assert.deepEqual(r1, r2)
    assert.deepEqual(v1, v2)
  })

  it('spends an output of an earlier transfer of the same block, never of a later one', async () => {
    const t1 = transfer([{ outpoint: fund(0), key: A }], [pay(B, 990n)])
    const t2 = transfer([{ outpoint: { txHash: txHash(t1), index: 0 }, key: B }], [pay(C, 980n)])
    const v = view()
    const before = new Map(v)
    const { undo } = await connectBlock(v, [cb(0n), t1, t2], HEIGHT, PARAMS)
    assert.equal(v.has(outpointKey({ txHash: txHash(t1), index: 0 })), false)
    assert.equal(undo.spent.length, 1, 'a coin created and spent in the block is not in the undo data')
    disconnectBlock(v, [cb(0n), t1, t2], undo)
    assert.deepEqual(v, before)
    await rejects(view(), [cb(0n), t2, t1], 'LEDGER_MISSING_INPUT')
  })

  it('refuses double spends, in one block or of a spent coin', async () => {
    const t1 = transfer([{ outpoint: fund(0), key: A }], [pay(B, 990n)])
    const t2 = transfer([{ outpoint: fund(0), key: A }], [pay(C, 990n)])
    await rejects(view(), [cb(0n), t1, t2], 'LEDGER_DOUBLE_SPEND')
    await rejects(view(), [cb(0n), t1, t1], 'LEDGER_DOUBLE_SPEND')
    const v = view()
    await connectBlock(v, [cb(0n), t1], HEIGHT, PARAMS)
    await rejects(v, [cb(0n), t2], 'LEDGER_MISSING_INPUT', HEIGHT + 1)
    await rejects(view(), [cb(0n), transfer([{ outpoint: fund(9), key: A }], [pay(B, 1n)])], 'LEDGER_MISSING_INPUT')
  })

  it('refuses a signature by anyone but the coin\'s recipient, or over other bytes', async () => {
    const byB = transfer([{ outpoint: fund(0), key: B }], [pay(B, 990n)])
    await rejects(view(), [cb(0n), byB], 'LEDGER_BAD_SIGNATURE')
    const good = transfer([{ outpoint: fund(0), key: A }, { outpoint: fund(1), key: A }], [pay(B, 990n)])
    const changed = { ...good, outputs: [pay(C, 990n)] }
    await rejects(view(), [cb(0n), changed], 'LEDGER_BAD_SIGNATURE')
    const swapped = { ...good, inputs: [good.inputs[0]!, { ...good.inputs[1]!, signature: byB.inputs[0]!.signature }] }
    await assert.rejects(connectBlock(view(), [cb(0n), swapped], HEIGHT, PARAMS), { code: 'LEDGER_BAD_SIGNATURE', details: { tx: 1, input: 1 } })
    // native WebCrypto and the noble reference agree on every one
    for (const t of [byB, changed, swapped, good]) {
      const c = view().get(outpointKey(fund(0)))!
      const sig = t.inputs[t.inputs.length - 1]!.signature
      const msg = (await import('@pouw/protocol')).txSigHash(t)
      assert.equal(await verify(c.recipient, msg, sig), verifyReference(c.recipient, msg, sig))
    }
    await rejects(view(), [cb(0n), changed], 'LEDGER_BAD_SIGNATURE')
  })

  it('refuses outputs above the inputs, and a coinbase above subsidy + fees', async () => {
    await rejects(view(), [cb(0n), transfer([{ outpoint: fund(0), key: A }], [pay(B, 1_001n)])], 'LEDGER_INSUFFICIENT_INPUTS')
    const t = transfer([{ outpoint: fund(0), key: A }], [pay(B, 900n)])
    await connectBlock(view(), [cb(PARAMS.subsidy + 100n), t], HEIGHT, PARAMS)
    await rejects(view(), [cb(PARAMS.subsidy + 101n), t], 'LEDGER_BAD_COINBASE')
    await rejects(view(), [t], 'LEDGER_BAD_COINBASE')
    await rejects(view(), [cb(0n), t, cb(0n)], 'LEDGER_BAD_COINBASE')
  })

  it('context-free: amounts positive and at most MAX_MONEY, inputs distinct, something in and out', () => {
    const code = (tx: Tx): string => { try { checkTx(tx); return 'ok' } catch (e) { return (e as { code: string }).code } }
    const base = transfer([{ outpoint: fund(0), key: A }], [pay(B, 1n)])
    assert.equal(code(base), 'ok')
    assert.equal(code({ ...base, outputs: [pay(B, 0n)] }), 'LEDGER_BAD_AMOUNT')
    assert.equal(code({ ...base, outputs: [pay(B, -5n)] }), 'LEDGER_BAD_AMOUNT')
    assert.equal(code({ ...base, outputs: [pay(B, MAX_MONEY)] }), 'ok')
    assert.equal(code({ ...base, outputs: [pay(B, MAX_MONEY + 1n)] }), 'LEDGER_AMOUNT_OVERFLOW')
    assert.equal(code({ ...base, outputs: [pay(B, MAX_MONEY), pay(B, 1n)] }), 'LEDGER_AMOUNT_OVERFLOW')
    assert.equal(code({ ...base, inputs: [base.inputs[0]!, base.inputs[0]!] }), 'LEDGER_DUPLICATE_INPUT')
    assert.equal(code({ ...base, inputs: [] }), 'LEDGER_BAD_TX')
    assert.equal(code({ ...base, outputs: [] }), 'LEDGER_BAD_TX')
    assert.equal(code({ ...base, outputs: [{ ...pay(B, 1n), lock: { kind: 'stake', role: 4, preferences: [], expiry: 9, vrfPublicKey: new Uint8Array(32).fill(3) } }] }), 'LEDGER_BAD_LOCK')
    assert.equal(code({ type: 'coinbase', height: 1, outputs: [{ amount: MAX_MONEY + 1n, recipient: A.publicKey }] }), 'LEDGER_AMOUNT_OVERFLOW')
    assert.equal(code({ type: 'coinbase', height: 1, outputs: [{ amount: 0n, recipient: A.publicKey }] }), 'ok')
  })

  it(`a coinbase output matures after ${COINBASE_MATURITY} blocks (params.coinbaseMaturity)`, async () => {
    const v = view(0)
    const reward = cb(1_000n, 5)
    await connectBlock(v, [reward], 5, PARAMS)
    const spend = transfer([{ outpoint: { txHash: txHash(reward), index: 0 }, key: C }], [pay(A, 990n)])
    await rejects(v, [cb(0n, 14), spend], 'LEDGER_IMMATURE_COINBASE', 5 + COINBASE_MATURITY - 1)
    await connectBlock(new Map(v), [cb(0n), spend], 5 + COINBASE_MATURITY, PARAMS)
    await connectBlock(new Map(v), [cb(0n), spend], 7, { ...PARAMS, coinbaseMaturity: 2 })
  })

  it('PAY_FOR_TASK: the client may revoke the fee only below revokeBefore, and take it back uncharged from its reclaim height', async () => {
    const task = taggedHash(TAGS.task, new Uint8Array([1]))
    const payForTask = transfer([{ outpoint: fund(0), key: A }], [{ amount: 900n, recipient: A.publicKey, lock: { kind: 'task-fee', taskHash: task, revokeBefore: HEIGHT + 5 } }])
    const v = view()
    await connectBlock(v, [cb(0n), payForTask], HEIGHT, PARAMS)
    const fee = { txHash: txHash(payForTask), index: 0 }
    assert.equal(v.get(outpointKey(fee))!.lock.kind, 'task-fee')
    const revoke = transfer([{ outpoint: fee, key: A }], [pay(A, 890n)])
    await connectBlock(new Map(v), [cb(0n), revoke], HEIGHT + 4, PARAMS)
    await rejects(v, [cb(0n), revoke], 'LEDGER_LOCKED', HEIGHT + 5)
    await rejects(v, [cb(0n), transfer([{ outpoint: fee, key: B }], [pay(B, 890n)])], 'LEDGER_BAD_SIGNATURE', HEIGHT + 1)
    // the task's until TASK_FEE_RECLAIM_BLOCKS past revokeBefore; then, uncharged, the client's again (and still no one else's)
    const reclaim = taskFeeReclaimHeight(HEIGHT + 5)
    await rejects(v, [cb(0n), revoke], 'LEDGER_LOCKED', reclaim - 1)
    await connectBlock(new Map(v), [cb(0n), revoke], reclaim, PARAMS)
    await rejects(v, [cb(0n), transfer([{ outpoint: fee, key: B }], [pay(B, 890n)])], 'LEDGER_BAD_SIGNATURE', reclaim)
  })

  it('CHARGE_FOR_TASK: ceil(2F/3) of the chain\'s F evaluators approve the split of a committed task fee, each with its evaluator stake spent', async () => {
    const [E1, E2, E3, X] = [keyPair(11), keyPair(12), keyPair(13), keyPair(14)]
    const evaluators = [E1, E2, E3].map((e) => e.publicKey)
    const params = { ...PARAMS, evaluators }
    const task = taggedHash(TAGS.task, new Uint8Array([2]))
    const other = taggedHash(TAGS.task, new Uint8Array([3]))
    const result = taggedHash(TAGS.task, new Uint8Array([4]))
    const lock = (t: Uint8Array) => ({ kind: 'task-fee' as const, taskHash: t, revokeBefore: HEIGHT + 5 })
    const pay1 = transfer([{ outpoint: fund(0), key: A }, { outpoint: fund(2), key: A }],
      [{ amount: 1_900n, recipient: A.publicKey, lock: lock(task) }, { amount: 50n, recipient: A.publicKey, lock: lock(other) }])
    const v = view()
    // the stakes that joined the task: E1, E2, E3 and the outsider X as evaluators, E3 also as a miner
    const joined = (role: Role, t = task) => ({
      kind: 'joined' as const, taskHash: t, role: roleIndex(role), preferences: [], expiry: HEIGHT + 20,
      vrfPublicKey: new Uint8Array(32).fill(3), purchaseHeight: HEIGHT - 20, pi: new Uint8Array(VRF_PROOF_SIZE),
    })
    const STAKE = 500n
    const stakes = [E1, E2, E3].map((_, i) => fund(10 + i))
    for (const [i, e] of [E1, E2, E3].entries()) v.set(outpointKey(stakes[i]!), coin(STAKE, e, { lock: joined('evaluator'), height: HEIGHT - 10 }))
    const minerStake = fund(13)
    v.set(outpointKey(minerStake), coin(STAKE, E3, { lock: joined('miner'), height: HEIGHT - 10 }))
    const otherStake = fund(14)
    v.set(outpointKey(otherStake), coin(STAKE, X, { lock: joined('evaluator', other), height: HEIGHT - 10 }))
    const xStake = fund(15)
    v.set(outpointKey(xStake), coin(STAKE, X, { lock: joined('evaluator'), height: HEIGHT - 10 }))
    const returns = (...owners: typeof E1[]) => owners.map((e) => ({ recipient: e.publicKey, amount: STAKE, reason: 'stake-return' as const }))
    await connectBlock(v, [cb(0n), pay1], HEIGHT, params)
    const fee = { txHash: txHash(pay1), index: 0 }
    const txFee = chargeTxFee(4, 5, 3)
    const split = (fees: bigint = txFee) => [{ recipient: B.publicKey, amount: 100n, reason: 'miner-reward' as const }, { recipient: C.publicKey, amount: 1_900n - 100n - fees, reason: 'evaluator-reward' as const }]
    const unsigned = chargeTx([fee, ...stakes], task, result, [...split(), ...returns(E1, E2, E3)])
    const approvals = await Promise.all([E1, E2, E3, X].map((e) => approveCharge(unsigned, e.secretKey, e.publicKey)))
    assert.equal(withApprovals(unsigned, approvals.slice(0, 1), evaluators), undefined, 'one of three is not enough')
    const charge = withApprovals(unsigned, approvals, evaluators)!
    assert.equal(charge.charge!.approvals.length, 2, 'two of three suffice and the outsider is dropped')
    assert.deepEqual(txFromBytes(txToBytes(charge)), charge, 'a charge round-trips')
    assert.ok(txToBytes(charge).length <= txFee, 'the fee covers its size at one unit per byte')
    assert.equal(chargeSize(4, 5, 2), txToBytes(charge).length, 'chargeSize is the encoded size exactly')

    // a fee its client did not take back may still be charged past its reclaim height: the first mined stands
    await connectBlock(new Map(v), [cb(0n), charge], taskFeeReclaimHeight(HEIGHT + 5) + 1, params)
    const at = new Map(v)
    const { fees } = await connectBlock(at, [cb(0n), charge], HEIGHT + 5, params)
    assert.equal(fees, txFee)
    assert.equal(at.has(outpointKey(fee)), false, 'the fee is spent')
    for (const s of stakes) assert.equal(at.has(outpointKey(s)), false, 'the evaluators\' stakes are spent')
    assert.equal(at.get(outpointKey({ txHash: txHash(charge), index: 0 }))!.amount, 100n)
    await rejects(v, [cb(0n), charge], 'LEDGER_LOCKED', HEIGHT + 4, undefined, params)
    await refused(v, charge, /this chain names no evaluators/)
    const one = { ...charge, charge: { ...charge.charge!, approvals: [approvals[0]!] } }
    await refused(v, one, /1 approvals, a charge needs 2 of the 3 evaluators/, params)
    const forged = { ...charge, charge: { ...charge.charge!, approvals: [approvals[0]!, { ...approvals[1]!, signature: approvals[2]!.signature }] } }
    await rejects(v, [cb(0n), forged], 'LEDGER_BAD_SIGNATURE', HEIGHT + 5, undefined, params)
    const changed = { ...charge, outputs: [charge.outputs[1]!, charge.outputs[0]!, ...charge.outputs.slice(2)] }
    await assert.rejects(connectBlock(new Map(v), [cb(0n), changed], HEIGHT + 5, params), { code: 'LEDGER_BAD_SIGNATURE' }, 'approvals cover the outputs')

    // an outsider is refused even with its own evaluator stake for the task spent by the charge
    const notFederation = (key: Uint8Array) => new RegExp(`approval by ${toHex(key)}, not one of the chain's evaluators`)
    const notSpent = (key: Uint8Array) => new RegExp(`approval by ${toHex(key)}, whose evaluator stake for the task the charge does not spend`)
    const withX = chargeTx([fee, ...stakes, xStake], task, result, [...split(chargeTxFee(5, 6, 3)), ...returns(E1, E2, E3, X)])
    const [w1, , , wx] = await Promise.all([E1, E2, E3, X].map((e) => approveCharge(withX, e.secretKey, e.publicKey)))
    await refused(v, { ...withX, charge: { ...withX.charge!, approvals: [w1!, wx!] } }, notFederation(X.publicKey), params)
    // a member of the federation approves only with its evaluator stake spent: no stake, no approval, however many approve
    const bare = chargeTx([fee], task, result, split(chargeTxFee(1, 2, 3)))
    const bareApproved = withApprovals(bare, await Promise.all([E1, E2, E3].map((e) => approveCharge(bare, e.secretKey, e.publicKey))), evaluators)!
    await refused(v, bareApproved, /whose evaluator stake for the task the charge does not spend/, params)
    // E3's miner-role stake is no evaluator stake: spending it does not let E3 approve
    const withMiner = chargeTx([fee, stakes[0]!, stakes[1]!, minerStake], task, result, [...split(), ...returns(E1, E2, E3)])
    const [m1, m2, m3] = await Promise.all([E1, E2, E3].map((e) => approveCharge(withMiner, e.secretKey, e.publicKey)))
    await refused(v, { ...withMiner, charge: { ...withMiner.charge!, approvals: [m1!, m3!] } }, notSpent(E3.publicKey), params)
    // valid: E1 and E2 are 2 of the federation's 3, each with its evaluator stake spent. The threshold counts the
    // federation, not the stakes the charge spends, so leaving E3's evaluator stake out shrinks nothing: it stays
    // locked to the task until its expiry, still E3's
    await connectBlock(new Map(v), [cb(0n), { ...withMiner, charge: { ...withMiner.charge!, approvals: [m1!, m2!] } }], HEIGHT + 5, params)

    // THE ATTACK the federation bound stops: X holds one evaluator ticket that joined the task and approves, alone, a
    // charge that spends the fee, a miner's stake and only its own evaluator stake (paying itself the fee)
    const attack = chargeTx([fee, minerStake, xStake], task, result, [{ recipient: X.publicKey, amount: 2_900n - chargeTxFee(3, 1, 1), reason: 'evaluator-reward' }])
    const selfApproved = { ...attack, charge: { ...attack.charge!, approvals: [await approveCharge(attack, X.secretKey, X.publicKey)] } }
    await refused(v, selfApproved, notFederation(X.publicKey), params)
    // nor can one member of the federation: E1 alone, spending only its own evaluator stake, is 1 of the 2 needed
    const alone = chargeTx([fee, stakes[0]!, minerStake], task, result, [{ recipient: E1.publicKey, amount: 2_900n - chargeTxFee(3, 1, 1), reason: 'evaluator-reward' }])
    const aloneApproved = { ...alone, charge: { ...alone.charge!, approvals: [await approveCharge(alone, E1.secretKey, E1.publicKey)] } }
    await refused(v, aloneApproved, /1 approvals, a charge needs 2 of the 3 evaluators/, params)

    const approved = async (tx: typeof unsigned) => withApprovals(tx, await Promise.all([E1, E2].map((e) => approveCharge(tx, e.secretKey, e.publicKey))), evaluators)!
    const wrongTask = chargeTx([{ txHash: txHash(pay1), index: 1 }, ...stakes], task, result, [{ recipient: B.publicKey, amount: 10n, reason: 'miner-reward' }, ...returns(E1, E2, E3)])
    await refused(v, await approved(wrongTask), /neither that task's fee nor a stake that joined it/, params)
    const otherEvaluator = chargeTx([fee, ...stakes, otherStake], task, result, [...split(), ...returns(E1, E2, E3, X)])
    await refused(v, await approved(otherEvaluator), /neither that task's fee nor a stake that joined it/, params)
    const plain = chargeTx([fund(1), ...stakes], task, result, [{ recipient: B.publicKey, amount: 10n, reason: 'miner-reward' }, ...returns(E1, E2, E3)])
    await refused(v, await approved(plain), /neither that task's fee nor a stake that joined it/, params)
    const signedInput = { ...charge, inputs: [{ ...charge.inputs[0]!, signature: new Uint8Array(64).fill(1) }] }
    assert.throws(() => checkTx(signedInput), { code: 'LEDGER_BAD_CHARGE' })
    const relock = { ...charge, outputs: [{ ...charge.outputs[0]!, lock: lock(task) }] }
    assert.throws(() => checkTx(relock), { code: 'LEDGER_BAD_CHARGE' })
  })

  it('BUY_TICKETS: a stake cannot be spent before its expiry, and must expire after its block', async () => {
    const stakeLock = { kind: 'stake' as const, role: 0, preferences: [3, 1, 4], expiry: HEIGHT + 10, vrfPublicKey: new Uint8Array(32).fill(3) }
    const buy = transfer([{ outpoint: fund(0), key: A }], [{ amount: 900n, recipient: A.publicKey, lock: stakeLock }, pay(A, 90n)])
    const v = view()
    await connectBlock(v, [cb(0n), buy], HEIGHT, PARAMS)
    const stake = { txHash: txHash(buy), index: 0 }
    const refund = transfer([{ outpoint: stake, key: A }], [pay(A, 890n)])
    await rejects(v, [cb(0n), refund], 'LEDGER_LOCKED', HEIGHT + 9)
    await connectBlock(new Map(v), [cb(0n), refund], HEIGHT + 10, PARAMS)
    await rejects(view(), [cb(0n), buy], 'LEDGER_BAD_LOCK', HEIGHT + 10)
  })

  it('coins and outpoint keys round-trip', () => {
    const c = coin(5n, B, { coinbase: true, height: 77, lock: { kind: 'stake', role: 2, preferences: [1], expiry: 90, vrfPublicKey: new Uint8Array(32).fill(3) } })
    assert.deepEqual(coinFromBytes(coinToBytes(c)), c)
    assert.deepEqual(outpointFromKey(outpointKey(fund(3))), fund(3))
    assert.ok(outpointKey({ txHash: fund(1).txHash, index: 2 }) < outpointKey({ txHash: fund(1).txHash, index: 16 }))
  })

  it('random blocks connected then disconnected in reverse restore every view', async () => {
    const prng = new Prng(7) // not an LCG in doubles: its product passes 2^53 and the low bits go
    const rnd = (n: number): number => prng.int(n)
    const keys = [A, B, C]
    const v = new Map<string, Coin>()
    for (let i = 0; i < 12; i++) v.set(outpointKey(fund(i)), coin(1_000n + BigInt(i), keys[i % 3]!))
    const history: { snapshot: Map<string, Coin>; txs: Tx[]; undo: Awaited<ReturnType<typeof connectBlock>>['undo'] }[] = []
    for (let h = HEIGHT; h < HEIGHT + 8; h++) {
      const snapshot = new Map(v)
      const owned = [...v].filter(([, c]) => !c.coinbase)
      const txs: Tx[] = [cb(0n, h)]
      const used = new Set<string>()
      for (let t = 0; t < 3 && owned.length > 0; t++) {
        const [key, c] = owned[rnd(owned.length)]!
        if (used.has(key)) continue
        used.add(key)
        const owner = keys.find((k) => k.publicKey.every((b, i) => b === c.recipient[i]))!
        txs.push(transfer([{ outpoint: outpointFromKey(key), key: owner }], [pay(keys[rnd(3)]!, c.amount / 2n), pay(keys[rnd(3)]!, c.amount / 2n - 1n)]))
      }
      history.push({ snapshot, txs, undo: (await connectBlock(v, txs, h, PARAMS)).undo })
    }
    for (const { snapshot, txs, undo } of history.reverse()) {
      disconnectBlock(v, txs, undo)
      assert.deepEqual(v, snapshot)
    }
  })
})
