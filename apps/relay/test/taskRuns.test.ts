// Run: node --import ./scripts/node-polyfills.mjs --import tsx --test --test-force-exit apps/relay/test/taskRuns.test.ts
// Three relays' task runs (the chain's three evaluators) on one chain, talking through an in-process
// bus in place of gossip and HTTP: what they decide when their evaluations start from different
// models. A model handed to one relay only makes the first round decide nothing; the next round,
// with the models handed on, does. A miner that signs two different models is named a cheat by
// every evaluator, and its whole stake goes to the honest miner.
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import {
  deriveVrfSecretKey, roleIndex, proveSelection, taskHash, taskToBytes, toHex, txHash, vrfPublicKey, type KeyPair, type OutPoint, type Role, type TransferTx,
} from '@pouw/protocol'
import { COINBASE_MATURITY, Chain, MemoryStore, Mempool, Wallet, taskFeeReclaimHeight, type ChainEntry, type ChainParams } from '@pouw/ledger'
import {
  TaskData, createClientTask, parseLayers, equivocationToBytes, signTaskProgress, signTaskReport, taskProgressToBytes, taskReportToBytes, finalModelFromBytes, finalModelToBytes, signFinalModel, taskSeed, trainTask,
} from '@pouw/trainer'
import { createNodeEngine } from '@pouw/trainer/node'
import { HttpError } from '../src/http.js'
import { JOIN_BLOCKS, MAX_ROUNDS, MODEL_SYNC_MS, PROGRESS_MIN_MS, REPORT_BLOCKS, REVEAL_WAIT_MS, ROUND_WAIT_MS, SELECT_DEPTH, TASK_RUNS_TOPIC, TRAIN_BLOCKS, createTaskRuns, type TaskRuns } from '../src/taskRuns.js'
import { NOW, PARAMS, keyPair, minedOn } from '../../../packages/ledger/test/fixtures.js'

const COIN = 100_000_000n
const STAKE = 10_000_000n
const FEE = COIN
const [CLIENT, M1, M2] = [keyPair(1), keyPair(2), keyPair(3)]
const EVALUATORS = [keyPair(11), keyPair(12), keyPair(13)]
const SILENT = keyPair(14)
const PARAMS_T: ChainParams = {
  ...PARAMS, networkName: 'pouw-test-task-runs', subsidy: 10n * COIN, evaluators: EVALUATORS.map((k) => k.publicKey),
  tickets: { price: 1_000_000n, maxPerBlock: 50, maturity: 1 },
}

// a learnable data set: the class is the quadrant of features 0 and 1
const count = 400
const images = new Uint8Array(count * 4).map((_, i) => (i * 7919 + (i >> 2) * 104729) % 256)
const labels = Uint8Array.from({ length: count }, (_, i) => (images[i * 4]! >= 128 ? 1 : 0) + (images[i * 4 + 1]! >= 128 ? 2 : 0))
const dataset = { count, features: 4, images, labels }
const { spec, fragments } = createClientTask(dataset, { taskId: new Uint8Array(16).fill(7), hidden: parseLayers('8'), epochs: 3, classes: 4 })
const TASK = taskHash(spec)
/** a second task every relay holds the definition of, that no one paid for */
const unpaid = createClientTask(dataset, { taskId: new Uint8Array(16).fill(8), hidden: parseLayers('8'), epochs: 3, classes: 4 }).spec
const UNPAID = taskHash(unpaid)

interface Net {
  chain: Chain
  mempool: Mempool
  relays: TaskRuns[]
  /** hand-ons between relays are dropped while this holds */
  lose: { on: boolean }
  /** relays that hear no gossip (they still send theirs) */
  deaf: Set<number>
  /** added to every relay's clock, to pass the evaluators' waits without waiting */
  clock: { skew: number }
  logs: string[]
  tdb: ChainEntry
  extend(n: number, txs?: TransferTx[]): Promise<void>
  /** stops relay i and starts it again on the same store (a restart) */
  restart(i: number): Promise<void>
}

const nets: Net[] = []
after(async () => { for (const n of nets) for (const r of n.relays) await r.stop() })

/**
 * A chain where the client paid the task's fee and M1 and M2 joined it with a ticket each, mined up
 * to the selection; three relays' task runs on it, each its own store and evaluator key.
 */
/**
 * `held`: the relays hold the task's definition and data; `twoTickets`: M1 joins with two tickets (one VRF key);
 * `evaluatorJoins`: how many of the three relays' evaluator tickets join (all); `settledRunsKept`: the relays' (SETTLED_RUNS_KEPT);
 * `splitFee`: the client pays the fee as two coins of half each, in one transaction; `noTimer`: the relays tick only when the test says
 */
async function setup(opts: { held?: boolean; twoTickets?: boolean; evaluatorJoins?: number; silentRelay?: boolean; settledRunsKept?: number; splitFee?: boolean; noTimer?: boolean } = {}): Promise<Net> {
  const held = opts.held ?? true
  // `silentRelay`: a fourth relay in the federation that runs nothing (it is down): ceil(2 × 4 / 3) = 3 approvals
  const federation = opts.silentRelay === true ? [...EVALUATORS, SILENT] : EVALUATORS
  const params: ChainParams = { ...PARAMS_T, ...(opts.silentRelay === true ? { networkName: 'pouw-test-task-runs-4', evaluators: federation.map((k) => k.publicKey) } : {}) }
  const chain = await Chain.open(new MemoryStore(), params)
  const extend = async (n: number, txs: TransferTx[] = []): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const block = minedOn(chain.tip(), { seed: 9, txs: i === 0 ? txs : [], outputs: [{ amount: PARAMS_T.subsidy, recipient: new Uint8Array(32).fill(9) }] })
      await chain.addBlock(block, { now: NOW })
    }
  }
  const funded = [CLIENT, M1, M2, ...EVALUATORS]
  const share = PARAMS_T.subsidy / BigInt(funded.length)
  await chain.addBlock(minedOn(chain.tip(), { outputs: funded.map((k) => ({ amount: share, recipient: k.publicKey })) }), { now: NOW })
  await extend(COINBASE_MATURITY)
  const ticket = (k: KeyPair, n = 1, role: Role = 'miner'): Promise<TransferTx> => {
    const lock = { kind: 'stake' as const, role: roleIndex(role), preferences: [1], expiry: chain.tip().height + 2_000, vrfPublicKey: vrfPublicKey(deriveVrfSecretKey(k.secretKey)) }
    return new Wallet(k).createTransfer(chain, { outputs: Array.from({ length: n }, () => ({ amount: STAKE, recipient: k.publicKey, lock })) })
  }
  const tickets = [await ticket(M1, opts.twoTickets === true ? 2 : 1), await ticket(M2)]
  // the three relays' evaluator tickets (a relay buys its own from its verifier rewards: evaluatorTickets.ts)
  const evaluatorTickets = await Promise.all(EVALUATORS.map((k) => ticket(k, 1, 'evaluator')))
  const revokeBefore = chain.tip().height + 3
  const feeLock = { kind: 'task-fee' as const, taskHash: TASK, revokeBefore }
  const pay = opts.splitFee === true
    ? new Wallet(CLIENT).createTransfer(chain, { outputs: [FEE / 2n, FEE / 2n].map((amount) => ({ amount, recipient: CLIENT.publicKey, lock: feeLock })) })
    : new Wallet(CLIENT).payForTask(chain, TASK, FEE, revokeBefore)
  await extend(1, [...tickets, ...evaluatorTickets, await pay])
  await extend(revokeBefore - chain.tip().height)
  const tdb = chain.tip()
  const join = (k: KeyPair, t: TransferTx, index = 0, role: Role = 'miner'): Promise<TransferTx> => {
    const outpoint: OutPoint = { txHash: txHash(t), index }
    return new Wallet(k).joinTask(chain, outpoint, TASK, proveSelection(deriveVrfSecretKey(k.secretKey), tdb.hash, role, k.publicKey).pi)
  }
  await extend(1, [
    await join(M1, tickets[0]!), await join(M2, tickets[1]!), ...(opts.twoTickets === true ? [await join(M1, tickets[0]!, 1)] : []),
    ...await Promise.all(EVALUATORS.slice(0, opts.evaluatorJoins ?? EVALUATORS.length).map((k, i) => join(k, evaluatorTickets[i]!, 0, 'evaluator'))),
  ])
  await extend(tdb.height + JOIN_BLOCKS + SELECT_DEPTH - chain.tip().height)

  const mempool = new Mempool(chain)
  const relays: TaskRuns[] = []
  const lose = { on: false }
  const deaf = new Set<number>()
  const clock = { skew: 0 }
  const logs: string[] = []
  const deliver = async (from: number, f: (r: TaskRuns) => Promise<unknown>, gossip = false): Promise<void> => {
    for (const [i, r] of relays.entries()) {
      if (gossip && deaf.has(i)) continue
      if (i !== from) await f(r).catch((e: unknown) => { if (e instanceof HttpError) logs.push(`relay${i} refused from relay${from}: ${e.code} ${e.message}`); else throw e })
    }
  }
  const stores = EVALUATORS.map(() => new MemoryStore())
  const start = (keys: KeyPair, i: number): TaskRuns => createTaskRuns({
    store: stores[i]!, chain, keys, otherRelays: () => [], relays: federation.map((k) => toHex(k.publicKey)),
    network: { publish: async (topic, data) => { assert.equal(topic, TASK_RUNS_TOPIC); void deliver(i, (r) => r.onMessage(data, `relay${i}`), true) } },
    handOn: (route, body) => {
      if (lose.on) return
      const url = new URL(route, 'http://relay/')
      void deliver(i, (r) => r.post[url.pathname]!(url, body))
    },
    loadSpec: async (task) => (held && task === toHex(TASK) ? taskToBytes(spec) : task === toHex(UNPAID) ? taskToBytes(unpaid) : undefined),
    loadFragment: async (task, n) => (held && task === toHex(TASK) ? fragments[n] : undefined),
    submit: (tx) => mempool.add(tx),
    engineFor: (net) => createNodeEngine(net),
    log: (msg, ctx) => logs.push(`relay${i} ${msg} ${JSON.stringify(ctx ?? {})}`),
    now: () => Date.now() + clock.skew,
    ...(opts.settledRunsKept !== undefined ? { settledRunsKept: opts.settledRunsKept } : {}),
    ...(opts.noTimer === true ? { tickMs: 0 } : {}),
  })
  EVALUATORS.forEach((keys, i) => relays.push(start(keys, i)))
  const restart = async (i: number): Promise<void> => {
    await relays[i]!.stop()
    relays[i] = start(EVALUATORS[i]!, i)
  }
  const net = { chain, mempool, relays, lose, deaf, clock, logs, tdb, extend, restart }
  nets.push(net)
  for (const r of relays) await r.tick()
  return net
}

type Run = Record<string, any>
const runOf = async (r: TaskRuns): Promise<Run> => r.get['/api/task/run']!(new URL(`http://relay/api/task/run?hash=${toHex(TASK)}`)) as Promise<Run>
const postModel = (r: TaskRuns, bytes: Uint8Array): Promise<unknown> => r.post['/api/task/model']!(new URL(`http://relay/api/task/model?task=${toHex(TASK)}`), bytes)

/** Ticks every relay until each has decided (bounded: MAX_MS), then mines the charge the mempool holds. */
async function decideAndCharge(net: Net, maxMs = 60_000): Promise<{ runs: Run[]; charge: TransferTx }> {
  const deadline = Date.now() + maxMs
  for (;;) {
    for (const r of net.relays) await r.tick()
    const runs = await Promise.all(net.relays.map(runOf))
    const charge = net.mempool.all().map((e) => e.tx).find((tx) => tx.type === 'transfer' && tx.charge !== undefined) as TransferTx | undefined
    if (charge !== undefined && runs.every((x) => x.result !== null)) {
      await net.extend(1, [charge])
      return { runs: await Promise.all(net.relays.map(runOf)), charge }
    }
    assert.ok(Date.now() < deadline, `no charge in ${maxMs} ms:\n${net.logs.slice(-20).join('\n')}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

/** the models the two miners trained: M1 on every epoch, M2 on one */
async function trainModels(tdb: ChainEntry): Promise<{ full: Float32Array; lazy: Float32Array }> {
  const data = new TaskData(spec, dataset, taskSeed(tdb.hash, spec))
  const engine = await createNodeEngine(spec.net)
  const full = await trainTask(engine, data)
  const lazy = await trainTask(engine, data, { shouldStop: (() => { let n = 0; return () => n++ >= data.plan.batchCount })() })
  return { full, lazy }
}

/** both miners train (trainModels) and post their models to relay 0, which hands them on; then the training window closes */
async function trainAndPost(net: Net): Promise<void> {
  const { full, lazy } = await trainModels(net.tdb)
  await postModel(net.relays[0]!, finalModelToBytes(await signFinalModel(TASK, M1, full)))
  await postModel(net.relays[0]!, finalModelToBytes(await signFinalModel(TASK, M2, lazy)))
  await net.extend(net.tdb.height + JOIN_BLOCKS + TRAIN_BLOCKS - net.chain.tip().height)
}

/** polls `probe` every 100 ms until it gives a value (bounded: 30 s) */
async function waitUntil<T>(probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 30_000
  for (;;) {
    const v = await probe()
    if (v !== undefined) return v
    assert.ok(Date.now() < deadline, 'timed out')
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

const paidTo = (charge: TransferTx, k: KeyPair): bigint => charge.outputs.filter((o) => toHex(o.recipient) === toHex(k.publicKey)).reduce((a, o) => a + o.amount, 0n)
/** the stakes of a run's selection: its miners' joins, or its evaluators' (chosen by ticket) */
const stakesOf = (list: { key: string; stake: string }[]): bigint => list.reduce((a, j) => a + BigInt(j.stake), 0n)
const evaluatorStake = (run: Run, k: KeyPair): bigint => BigInt((run.selection.evaluators as { key: string; stake: string }[]).find((e) => e.key === toHex(k.publicKey))!.stake)

describe('task runs: evaluation rounds and equivocation', () => {
  it('a model that reached one relay only: the first round decides nothing, the next, with the models handed on, decides for both miners', { timeout: 120_000 }, async () => {
    const net = await setup({ twoTickets: true })
    const { full, lazy } = await trainModels(net.tdb)
    for (const x of await Promise.all(net.relays.map(runOf))) {
      assert.deepEqual(x.selection.miners.map((m: { key: string }) => m.key).sort(), [M1, M2].map((k) => toHex(k.publicKey)).sort())
      // M1's second ticket shares its VRF key: one seat per owner, but the charge returns that stake too
      assert.equal(x.selection.joined.length, 3)
    }
    // each model reaches one relay, and the hand-on is lost: relay 0 holds M1's, relay 1 M2's, relay 2 none
    net.lose.on = true
    await postModel(net.relays[0]!, finalModelToBytes(await signFinalModel(TASK, M1, full)))
    await postModel(net.relays[1]!, finalModelToBytes(await signFinalModel(TASK, M2, lazy)))
    net.lose.on = false
    // the training window closes: each relay scores what it holds
    await net.extend(net.tdb.height + JOIN_BLOCKS + TRAIN_BLOCKS - net.chain.tip().height)
    const { runs, charge } = await decideAndCharge(net)
    assert.ok(net.logs.some((l) => l.includes('evaluation round decided nothing')), 'the first round decided nothing')
    for (const x of runs) {
      assert.equal(x.round, 1, 'every relay decided in the second round')
      assert.deepEqual(x.models, [M1, M2].map((k) => toHex(k.publicKey)).sort(), 'and holds both models')
      assert.equal(x.phase, 'charged')
      assert.deepEqual(x.cheats, [])
    }
    assert.equal(new Set(runs.map((x) => x.result.charge)).size, 1, 'the three relays decided one charge')
    // both miners honest: each stake back whole, and a reward
    for (const [k, n] of [[M1, 2n], [M2, 1n]] as const) assert.ok(paidTo(charge, k) > n * STAKE, `${toHex(k.publicKey).slice(0, 8)} is paid its stakes and a reward`)
    for (const e of EVALUATORS) assert.ok(paidTo(charge, e) > 0n, 'every evaluator agreed, and is paid')
    // the three relays' evaluator tickets joined and were all seated; their stakes come back through the charge too
    assert.deepEqual(runs[0]!.selection.evaluators.map((e: { key: string }) => e.key), EVALUATORS.map((k) => toHex(k.publicKey)).sort())
    const stakes = stakesOf(runs[0]!.selection.joined) + stakesOf(runs[0]!.selection.evaluators)
    for (const e of EVALUATORS) assert.ok(paidTo(charge, e) > evaluatorStake(runs[0]!, e), 'each evaluator\'s stake comes back with its share')
    const out = charge.outputs.reduce((a, o) => a + o.amount, 0n)
    assert.ok(out > FEE + stakes - 10_000n && out < FEE + stakes, 'the fee and the stakes are paid out, less the charge\'s transaction fee')
  })

  it('a settled run beyond the one kept leaves memory after a tick, least recently asked about first, and is read back whole from the store', { timeout: 120_000 }, async () => {
    const net = await setup({ settledRunsKept: 1, noTimer: true })
    const [task, other] = [toHex(TASK), toHex(UNPAID)]
    const askOther = (r: TaskRuns): Promise<unknown> => r.get['/api/task/run']!(new URL(`http://relay/api/task/run?hash=${other}`))
    await trainAndPost(net)
    for (const r of net.relays) {
      await askOther(r) // a definition no one paid for: settled, the most recently asked about
      await r.tick()
      assert.deepEqual(r.loaded(), [task, other].sort(), 'a run whose fee is committed stays, beside the one settled run kept')
    }
    const { runs } = await decideAndCharge(net)
    // all but `result.submitted`: the charge this relay handed to the mempool since it started (a restart forgets it too)
    const stored = (x: Run): Run => ({ ...x, result: { ...x.result, submitted: undefined } })
    for (const [i, r] of net.relays.entries()) {
      net.clock.skew += 1_000
      await askOther(r)
      await r.tick()
      assert.deepEqual(r.loaded(), [other], `relay ${i} dropped the charged run, asked about before the other`)
      net.clock.skew += 1_000
      const again = await runOf(r)
      assert.deepEqual([again.phase, again.models.length, typeof again.chargeTx, again.result.bestMiner], ['charged', 2, 'string', toHex(M1.publicKey)])
      assert.deepEqual(stored(again), stored(runs[i]!), `relay ${i} reads the run back as it was: phase, models, evaluation, result, the mined charge`)
      assert.deepEqual(r.loaded(), [task, other].sort(), 'asked about, it is held again')
      await r.tick()
      assert.deepEqual(r.loaded(), [task], 'and the other, now the less recent, leaves')
    }
  })

  it('an evaluator cut off while the others decided moves on alone, and decides their round once it hears them again', { timeout: 120_000 }, async () => {
    const net = await setup()
    const { full, lazy } = await trainModels(net.tdb)
    // relays 1 and 2 hold both models; relay 0 only M1's (M2's came to the others, and its hand-on to relay 0 was lost)
    await postModel(net.relays[0]!, finalModelToBytes(await signFinalModel(TASK, M1, full)))
    const fromRelay = (r: TaskRuns, bytes: Uint8Array): Promise<unknown> => r.post['/api/task/model']!(new URL(`http://relay/api/task/model?task=${toHex(TASK)}&from=relay`), bytes)
    for (const r of net.relays.slice(1)) await fromRelay(r, finalModelToBytes(await signFinalModel(TASK, M2, lazy)))
    // relay 0 hears nothing from here on; the training window closes, and every relay scores what it holds
    net.deaf.add(0)
    await net.extend(net.tdb.height + JOIN_BLOCKS + TRAIN_BLOCKS - net.chain.tip().height)
    const decided = async (i: number): Promise<Run> => waitUntil(async () => { await net.relays[i]!.tick(); const x = await runOf(net.relays[i]!); return x.result !== null ? x : undefined })
    for (const r of net.relays) await r.tick()
    // relay 0 heard no commit but its own: it reveals once REVEAL_WAIT_MS passed; the others, with every reveal, decide
    net.clock.skew = REVEAL_WAIT_MS + 1_000
    await net.relays[0]!.tick()
    const [d1, d2] = [await decided(1), await decided(2)]
    assert.equal(d1.result.charge, d2.result.charge, 'relays 1 and 2 agree without relay 0')
    // relay 0, alone, decides nothing and moves on once ROUND_WAIT_MS passed
    for (const skew of [2 * REVEAL_WAIT_MS + 2_000, REVEAL_WAIT_MS + ROUND_WAIT_MS + 3_000]) {
      net.clock.skew = skew
      await net.relays[0]!.tick()
    }
    const alone = await runOf(net.relays[0]!)
    assert.deepEqual([alone.round, alone.result], [1, null], 'relay 0 is in the next round, undecided')
    // it hears the others again (they send their messages again every 10 s): it decides their round, as they did
    net.deaf.delete(0)
    net.clock.skew += 11_000
    for (const r of net.relays.slice(1)) await r.tick()
    const d0 = await decided(0)
    assert.equal(d0.result.charge, d1.result.charge, 'relay 0 decides the charge the others decided')
    assert.ok(net.logs.some((l) => l.startsWith('relay0 evaluators agree') && l.includes('"round":0')), 'on the first round\'s reveals')
  })

  it('a model that came late to every relay is kept but not scored in the next round: only one some evaluator scored in time is', { timeout: 120_000 }, async () => {
    const net = await setup()
    const { full, lazy } = await trainModels(net.tdb)
    // relay 2 is down; M1's model reaches relay 0 only; M2 posts nothing before the training window closes
    await net.relays[2]!.stop()
    net.lose.on = true
    await postModel(net.relays[0]!, finalModelToBytes(await signFinalModel(TASK, M1, full)))
    net.lose.on = false
    await net.extend(net.tdb.height + JOIN_BLOCKS + TRAIN_BLOCKS - net.chain.tip().height)
    const live = net.relays.slice(0, 2)
    const tickAt = async (skew: number): Promise<void> => { net.clock.skew = skew; for (const r of live) await r.tick() }
    // round 0: relay 0 scores M1, relay 1 no one; they reveal without relay 2's commit, decide nothing, and move on
    await tickAt(0)
    await tickAt(REVEAL_WAIT_MS + 1_000)
    await tickAt(REVEAL_WAIT_MS + ROUND_WAIT_MS + 2_000)
    for (const r of live) assert.equal((await runOf(r)).round, 1)
    // M2's model comes now, to both: too late, and scored by no one in round 0
    for (const r of live) {
      await assert.rejects(postModel(r, finalModelToBytes(await signFinalModel(TASK, M2, lazy))), (e: HttpError) => e.status === 409 && e.code === 'RELAY_TASK_CLOSED')
    }
    // round 1, once the models handed on had time to arrive: M1's counts on both (relay 0 scored it in time), M2's on neither
    let skew = REVEAL_WAIT_MS + ROUND_WAIT_MS + 2_000 + MODEL_SYNC_MS + 1_000
    for (let i = 0; i < 3 && (await Promise.all(live.map(runOf))).some((x) => x.result === null); i++) await tickAt(skew += REVEAL_WAIT_MS + 1_000)
    const runs = await Promise.all(live.map(runOf))
    for (const x of runs) {
      assert.deepEqual(x.myScores.map((m: { miner: string }) => m.miner), [toHex(M1.publicKey)], 'round 1 scores M1 alone')
      assert.equal(x.result.bestMiner, toHex(M1.publicKey), net.logs.join("\n"))
    }
    assert.equal(runs[0]!.result.charge, runs[1]!.result.charge)
    // M2 is offline: 10% of its stake is captured, for M1
    const payouts = runs[0]!.result.payouts as { recipient: string; amount: string }[]
    const stake2 = BigInt(runs[0]!.selection.joined.find((j: { key: string }) => j.key === toHex(M2.publicKey)).stake)
    const to2 = payouts.filter((p) => p.recipient === toHex(M2.publicKey)).reduce((a, p) => a + BigInt(p.amount), 0n)
    assert.equal(to2, stake2 - stake2 / 10n)
  })

  it('a miner that signs two different models is a cheat on every relay: not scored, its stake captured for the honest miner', { timeout: 120_000 }, async () => {
    const net = await setup()
    const { full, lazy } = await trainModels(net.tdb)
    const first = finalModelToBytes(await signFinalModel(TASK, M1, full))
    const second = finalModelToBytes(await signFinalModel(TASK, M1, lazy))
    await postModel(net.relays[0]!, first)
    await assert.rejects(postModel(net.relays[0]!, second), (e: HttpError) => e.status === 409 && e.code === 'RELAY_EQUIVOCATION')
    assert.deepEqual(await postModel(net.relays[1]!, first), { status: 'known' }, 'the first model was handed on')
    await postModel(net.relays[2]!, finalModelToBytes(await signFinalModel(TASK, M2, full)))
    const { runs, charge } = await decideAndCharge(net)
    for (const x of runs) {
      assert.deepEqual(x.cheats, [toHex(M1.publicKey)], 'every relay holds the evidence')
      assert.equal(x.result.bestMiner, toHex(M2.publicKey))
    }
    assert.equal(new Set(runs.map((x) => x.result.charge)).size, 1)
    assert.equal(paidTo(charge, M1), 0n, 'the cheat gets nothing back')
    // the honest miner: its stake back, the cheat's whole stake (supervisors stake nothing), and the miners' 70% of the fee
    const stakes = stakesOf(runs[0]!.selection.joined)
    const feeOut = charge.outputs.reduce((a, o) => a + o.amount, 0n) - stakes - stakesOf(runs[0]!.selection.evaluators)
    assert.ok(FEE - feeOut > 0n && FEE - feeOut < 10_000n, 'the fee is paid out but the charge\'s transaction fee')
    const pool = (feeOut * 7n) / 10n // apportioned to the unit: the pool may get one unit of the remainder
    assert.ok(paidTo(charge, M2) - stakes - pool >= 0n && paidTo(charge, M2) - stakes - pool <= 1n, 'the honest miner gets both stakes and the miners\' pool')
    // evidence against the honest miner that it did not sign, or that is not two models, is refused
    const postEvidence = (bytes: Uint8Array): Promise<unknown> => net.relays[0]!.post['/api/task/equivocation']!(new URL(`http://relay/api/task/equivocation?task=${toHex(TASK)}`), bytes)
    const honest = finalModelFromBytes(finalModelToBytes(await signFinalModel(TASK, M2, full)), spec)
    const unsigned = { ...honest, theta: lazy }
    await assert.rejects(postEvidence(equivocationToBytes({ first: honest, second: unsigned })), (e: HttpError) => e.status === 400 && e.code === 'RELAY_BAD_EVIDENCE')
    await assert.rejects(postEvidence(equivocationToBytes({ first: honest, second: honest }).subarray(1)), (e: HttpError) => e.status === 400 && e.code === 'RELAY_BAD_EVIDENCE')
    assert.deepEqual((await runOf(net.relays[0]!)).cheats, [toHex(M1.publicKey)])
  })

  const postReport = async (r: TaskRuns, k: KeyPair): Promise<unknown> =>
    r.post['/api/task/report']!(new URL(`http://relay/api/task/report?task=${toHex(TASK)}`), taskReportToBytes(await signTaskReport(TASK, k)))

  it('a paid task whose data never came is malformed: no one is seated, the workers that report it share the fee, every stake comes back', { timeout: 120_000 }, async () => {
    const net = await setup({ held: false })
    const runs0 = await Promise.all(net.relays.map(runOf))
    for (const x of runs0) {
      assert.deepEqual([x.phase, x.held, x.selection.outcome, x.selection.miners], ['reporting', false, 'unavailable', []])
      assert.equal(x.selection.joined.length, 2)
    }
    // M1 reports to one relay, which hands it on; an outsider and a forged report are refused
    assert.deepEqual(await postReport(net.relays[0]!, M1), { status: 'accepted' })
    assert.deepEqual(await postReport(net.relays[1]!, M1), { status: 'known' }, 'handed on')
    await assert.rejects(postReport(net.relays[0]!, CLIENT), (e: HttpError) => e.status === 403 && e.code === 'RELAY_NOT_JOINED')
    const forged = taskReportToBytes({ ...(await signTaskReport(TASK, M2)), signature: (await signTaskReport(TASK, M1)).signature })
    await assert.rejects(net.relays[2]!.post['/api/task/report']!(new URL(`http://relay/api/task/report?task=${toHex(TASK)}`), forged), (e: HttpError) => e.code === 'RELAY_BAD_REPORT')
    await assert.rejects(postModel(net.relays[0]!, finalModelToBytes(await signFinalModel(TASK, M1, new Float32Array(1)))), (e: HttpError) => e.code === 'RELAY_TASK_UNAVAILABLE')
    // M2 stays silent: the evaluators conclude once REPORT_BLOCKS passed
    await net.extend(net.tdb.height + JOIN_BLOCKS + SELECT_DEPTH + REPORT_BLOCKS - net.chain.tip().height)
    const { runs, charge } = await decideAndCharge(net)
    assert.equal(new Set(runs.map((x) => x.result.charge)).size, 1)
    for (const x of runs) assert.deepEqual(x.reports, [toHex(M1.publicKey)])
    const evaluatorsPaid = EVALUATORS.reduce((a, e) => a + paidTo(charge, e) - evaluatorStake(runs[0]!, e), 0n)
    const stakeOf = (k: KeyPair): bigint => BigInt(runs[0]!.selection.joined.find((j: { key: string }) => j.key === toHex(k.publicKey)).stake)
    const toM1 = paidTo(charge, M1) - stakeOf(M1)
    assert.ok(evaluatorsPaid > 0n && evaluatorsPaid <= FEE / 10n, `the evaluators' share, 10% at most: ${evaluatorsPaid}`)
    assert.ok(toM1 > (FEE * 89n) / 100n, `the reporter gets the rest of the fee: ${toM1}`)
    assert.equal(paidTo(charge, M2), stakeOf(M2), 'the silent worker gets its stake back, no more')
    assert.equal(paidTo(charge, CLIENT), 0n, 'the client gets nothing back')
  })

  it('a paid task whose data never came and that no one reports: the fee goes back to the client, the stakes to their owners', { timeout: 120_000 }, async () => {
    const net = await setup({ held: false })
    await net.extend(net.tdb.height + JOIN_BLOCKS + SELECT_DEPTH + REPORT_BLOCKS - net.chain.tip().height)
    const { charge } = await decideAndCharge(net)
    assert.ok(paidTo(charge, CLIENT) > FEE - 10_000n, 'the fee back, less the charge\'s transaction fee')
    const run = await runOf(net.relays[0]!)
    const joined = run.selection.joined as { key: string; stake: string }[]
    for (const k of [M1, M2]) assert.equal(paidTo(charge, k), BigInt(joined.find((j) => j.key === toHex(k.publicKey))!.stake), 'its joined stake back, no more')
    for (const e of EVALUATORS) assert.equal(paidTo(charge, e), evaluatorStake(run, e), 'an evaluator\'s stake back, no share of a refunded fee')
  })

  it('a selected miner\'s signed training progress: the latest is kept and handed on, one a second; an outsider\'s, a forged or a malformed one is refused', async () => {
    const net = await setup()
    const post = (r: TaskRuns, bytes: Uint8Array): Promise<unknown> => r.post['/api/task/progress']!(new URL(`http://relay/api/task/progress?task=${toHex(TASK)}`), bytes)
    const progress = async (k: KeyPair, batch: number): Promise<Uint8Array> =>
      taskProgressToBytes(await signTaskProgress({ taskHash: TASK, epoch: 1, batch, batches: 10, loss: 0.7, accuracy: 0.55 }, k))
    assert.deepEqual(await post(net.relays[0]!, await progress(M1, 3)), { status: 'accepted' })
    assert.deepEqual(await post(net.relays[0]!, await progress(M1, 4)), { status: 'known' }, 'a second one within PROGRESS_MIN_MS is not taken')
    await waitUntil(async () => ((await runOf(net.relays[2]!)).progress.length === 1 ? true : undefined))
    for (const x of await Promise.all(net.relays.map(runOf))) {
      const { at, ...p } = x.progress[0]
      assert.deepEqual(p, { miner: toHex(M1.publicKey), epoch: 1, batch: 3, batches: 10, loss: Math.fround(0.7), accuracy: Math.fround(0.55) })
      assert.ok(at > 0)
    }
    await assert.rejects(post(net.relays[0]!, await progress(CLIENT, 4)), (e: HttpError) => e.status === 403 && e.code === 'RELAY_NOT_SELECTED')
    const forged = await progress(M2, 4)
    forged[forged.length - 1]! ^= 1
    await assert.rejects(post(net.relays[0]!, forged), (e: HttpError) => e.status === 400 && e.code === 'RELAY_BAD_PROGRESS')
    await assert.rejects(post(net.relays[0]!, new Uint8Array(7)), (e: HttpError) => e.status === 400 && e.code === 'RELAY_BAD_PROGRESS')
    const beyond = await signTaskProgress({ taskHash: TASK, epoch: 0, batch: 10, batches: 10, loss: 1, accuracy: 0.5 }, M2)
    await assert.rejects(post(net.relays[0]!, taskProgressToBytes(beyond)), (e: HttpError) => e.code === 'RELAY_BAD_PROGRESS', 'a batch past its epoch\'s last')
    const late = await signTaskProgress({ taskHash: TASK, epoch: spec.epochs, batch: 0, batches: 10, loss: 1, accuracy: 0.5 }, M2)
    await assert.rejects(post(net.relays[0]!, taskProgressToBytes(late)), (e: HttpError) => e.code === 'RELAY_BAD_PROGRESS', 'an epoch past the task\'s')
    // the next one, a second later, is taken
    net.clock.skew += PROGRESS_MIN_MS
    assert.deepEqual(await post(net.relays[0]!, await progress(M1, 5)), { status: 'accepted' })
    assert.equal((await runOf(net.relays[0]!)).progress[0].batch, 5)
    assert.equal((await runOf(net.relays[0]!)).progress.length, 1)
  })

  it('a decided charge one of whose fee coins the client took back can no longer be mined: the run is reclaimed, with a fee coin still committed', { timeout: 120_000 }, async () => {
    const net = await setup({ splitFee: true })
    await trainAndPost(net)
    // the evaluators decide and approve a charge that spends both fee coins; no block takes it up to the reclaim height
    const charge = await waitUntil(async () => {
      for (const r of net.relays) await r.tick()
      const runs = await Promise.all(net.relays.map(runOf))
      const tx = net.mempool.all().map((e) => e.tx).find((t) => t.type === 'transfer' && t.charge !== undefined) as TransferTx | undefined
      return tx !== undefined && runs.every((x) => x.result !== null) ? tx : undefined
    })
    const feeCoins = (await net.chain.coinsOf(CLIENT.publicKey)).filter((c) => c.coin.lock.kind === 'task-fee')
    assert.equal(feeCoins.length, 2)
    for (const c of feeCoins) assert.ok(charge.inputs.some((i) => i.prevout.index === c.outpoint.index && toHex(i.prevout.txHash) === toHex(c.outpoint.txHash)), 'the charge spends both fee coins')
    await net.extend(taskFeeReclaimHeight(net.tdb.height) - 1 - net.chain.tip().height)
    for (const x of await Promise.all(net.relays.map(runOf))) assert.equal(x.phase, 'charging')
    // the client takes one half back: the other stays committed to the task, but the decided charge lost an input
    const client = new Wallet(CLIENT)
    await net.extend(1, [await client.revokeTask(net.chain, feeCoins[0]!.outpoint)])
    for (const r of net.relays) await r.tick()
    for (const x of await Promise.all(net.relays.map(runOf))) {
      assert.equal(x.phase, 'reclaimed', 'no charge can be mined any more')
      assert.equal(x.charged, false)
    }
    assert.ok((await net.chain.taskFees()).get(toHex(TASK))!.some((c) => c.coin.lock.kind === 'task-fee'), 'the other half is still the task\'s')
    // and the client takes that one back too
    await net.extend(1, [await client.revokeTask(net.chain, feeCoins[1]!.outpoint)])
    assert.equal((await net.chain.coinsOf(CLIENT.publicKey)).some((c) => c.coin.lock.kind === 'task-fee'), false)
  })

  it('with a fourth relay down, the three seated decide only when 3 of the 4 relays agree: a 2-1 split is no decision', { timeout: 120_000 }, async () => {
    const net = await setup({ silentRelay: true })
    const { full, lazy } = await trainModels(net.tdb)
    // relays 0 and 1 hold both models, relay 2 only M1's: two identical conclusions of the three seated, not the 3 of 4
    // relays a charge needs (deciding on them would make a charge the chain refuses)
    net.lose.on = true
    for (const r of net.relays.slice(0, 2)) {
      await postModel(r, finalModelToBytes(await signFinalModel(TASK, M1, full)))
      await postModel(r, finalModelToBytes(await signFinalModel(TASK, M2, lazy)))
    }
    await postModel(net.relays[2]!, finalModelToBytes(await signFinalModel(TASK, M1, full)))
    net.lose.on = false
    await net.extend(net.tdb.height + JOIN_BLOCKS + TRAIN_BLOCKS - net.chain.tip().height)
    const { runs, charge } = await decideAndCharge(net)
    assert.ok(net.logs.some((l) => l.includes('evaluation round decided nothing')), 'the first round decided nothing')
    for (const x of runs) {
      assert.deepEqual(x.evaluators, EVALUATORS.map((k) => toHex(k.publicKey)).sort())
      assert.equal(x.round, 1, 'every relay decided in the second round, once the models were handed on')
    }
    assert.equal(charge.charge!.approvals.length, 3, 'ceil(2 × 4 / 3) approvals, by the three seated')
  })

  it('a relay whose evaluator ticket did not join is not seated: it does not evaluate, and the two seated decide and are paid', { timeout: 120_000 }, async () => {
    const net = await setup({ evaluatorJoins: 2 })
    await trainAndPost(net)
    const seated = EVALUATORS.slice(0, 2).map((k) => toHex(k.publicKey)).sort()
    const charge = await waitUntil(async () => {
      for (const r of net.relays) await r.tick()
      return net.mempool.all().map((e) => e.tx).find((tx) => tx.type === 'transfer' && tx.charge !== undefined) as TransferTx | undefined
    })
    await net.extend(1, [charge])
    const runs = await Promise.all(net.relays.map(runOf))
    for (const x of runs) {
      assert.deepEqual([x.evaluators, x.phase], [seated, 'charged'])
      assert.deepEqual(x.reveals, seated, 'the relay that is not seated never committed nor revealed')
    }
    assert.deepEqual(charge.charge!.approvals.map((a) => toHex(a.evaluator)).sort(), seated, '2 of the 3 relays approve, each with its stake in the charge')
    for (const e of EVALUATORS.slice(0, 2)) assert.ok(paidTo(charge, e) > evaluatorStake(runs[0]!, e), 'a seated evaluator: its stake back and its share')
    assert.equal(paidTo(charge, EVALUATORS[2]!) > 0n, true, 'the third relay supervised: its supervisor share')
    assert.equal(runs[2]!.result, null, 'and decided nothing itself')
  })

  it('fewer evaluator tickets joined than the committee\'s minimum: no one is seated, no one evaluates, the run is unresolved', { timeout: 120_000 }, async () => {
    const net = await setup({ evaluatorJoins: 1 })
    const { full } = await trainModels(net.tdb)
    await postModel(net.relays[0]!, finalModelToBytes(await signFinalModel(TASK, M1, full)))
    await net.extend(net.tdb.height + JOIN_BLOCKS + TRAIN_BLOCKS - net.chain.tip().height)
    for (const r of net.relays) await r.tick()
    for (const x of await Promise.all(net.relays.map(runOf))) {
      // the miners were selected as usual; the one evaluator that joined is fewer than the 2 of 3 relays a charge needs
      assert.equal(x.selection.outcome, 'completed')
      assert.deepEqual([x.selection.evaluators, x.evaluators, x.phase, x.commits], [[], [], 'unresolved', []])
    }
    assert.ok(net.logs.some((l) => l.includes('task evaluators selected') && l.includes('"joined":1')))
    assert.equal(net.mempool.count, 0, 'no charge')
  })

  it('evaluators that agree in no round leave the task unresolved: no charge, and the client takes its fee back from the reclaim height', { timeout: 120_000 }, async () => {
    const net = await setup()
    const { full, lazy } = await trainModels(net.tdb)
    // every hand-on is lost for good: relay 0 holds M1's model, relay 1 M2's, relay 2 none, in every round
    net.lose.on = true
    await postModel(net.relays[0]!, finalModelToBytes(await signFinalModel(TASK, M1, full)))
    await postModel(net.relays[1]!, finalModelToBytes(await signFinalModel(TASK, M2, lazy)))
    await net.extend(net.tdb.height + JOIN_BLOCKS + TRAIN_BLOCKS - net.chain.tip().height)
    await waitUntil(async () => {
      net.clock.skew += MODEL_SYNC_MS + 1_000 // past each round's wait for the models handed on
      for (const r of net.relays) await r.tick()
      const runs = await Promise.all(net.relays.map(runOf))
      return runs.every((x) => x.phase === 'unresolved') ? runs : undefined
    })
    for (const x of await Promise.all(net.relays.map(runOf))) {
      assert.deepEqual([x.round, x.result, x.reclaimFrom], [MAX_ROUNDS - 1, null, taskFeeReclaimHeight(net.tdb.height)])
    }
    // a restarted relay reads that it gave up from its store: still unresolved, no new round, nothing said again
    await net.restart(0)
    const said = net.logs.length
    assert.deepEqual(((({ phase, round }) => [phase, round])(await runOf(net.relays[0]!))), ['unresolved', MAX_ROUNDS - 1], 'before any step')
    net.clock.skew += ROUND_WAIT_MS + MODEL_SYNC_MS
    for (const r of net.relays) await r.tick()
    assert.deepEqual(((({ phase, round }) => [phase, round])(await runOf(net.relays[0]!))), ['unresolved', MAX_ROUNDS - 1])
    assert.ok(!net.logs.slice(said).some((l) => l.startsWith('relay0') && (l.includes('task evaluated') || l.includes('next round'))), net.logs.slice(said).join('\n'))
    assert.equal(net.mempool.count, 0, 'no charge')
    // the fee is the task's until the reclaim height, then the client's again
    const client = new Wallet(CLIENT)
    const feeCoin = (await net.chain.coinsOf(CLIENT.publicKey)).find((c) => c.coin.lock.kind === 'task-fee')!
    await net.extend(taskFeeReclaimHeight(net.tdb.height) - 2 - net.chain.tip().height) // the next block is the last before it
    await assert.rejects(client.revokeTask(net.chain, feeCoin.outpoint), { code: 'LEDGER_LOCKED' })
    await net.extend(1)
    const before = await net.chain.balance(CLIENT.publicKey)
    const reclaim = await client.revokeTask(net.chain, feeCoin.outpoint)
    await net.mempool.add(reclaim)
    await net.extend(1, [reclaim])
    assert.equal(await net.chain.balance(CLIENT.publicKey), before - (FEE - reclaim.outputs[0]!.amount), 'the fee back, less the reclaim\'s own fee')
    assert.equal((await net.chain.coinsOf(CLIENT.publicKey)).some((c) => c.coin.lock.kind === 'task-fee'), false)
    for (const r of net.relays) await r.tick()
    for (const x of await Promise.all(net.relays.map(runOf))) assert.equal(x.phase, 'reclaimed', 'nothing left to run for')
  })
})
