// Run: node --import ./scripts/node-polyfills.mjs --import tsx --test packages/trainer/test/verify.test.ts
// Two real miners (tfjs wasm in Node, real MNIST) train together, each applying the other's updates,
// and mine blocks; a verifier re-runs each lucky iteration on wasm (bit-identical) and on cpu (another
// backend: the cross-backend false-reject check). Faulty miners and hand-planted cheats must be refused
// with the code of the rule they break.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import {
  TAGS, applyMessageMap, bitsFromTarget, bytesEqual, blockFromBytes, evidenceFromBytes, evidenceToBytes, generateKeyPair,
  hashMeetsTarget, headerHash, isPouwError, itResFromBytes, itResHash, itResToBytes, mapEntry, merkleRoot,
  noncesPerIteration, signItRes, submissionFromBytes, taggedHash, targetFromBits, toHex, entryIndex,
  type Block, type ItRes, type KeyPair, type PouwError, type TaskSpec, type UnsignedItRes,
} from '@pouw/protocol'
import {
  FAULTS, METRICS_WINDOW, Miner, POUW_ERRORS, TaskData, VERIFY_UNKNOWN_EPOCH, accumulateResidual, computeNonce, createMnistTask,
  loadBatch, metricsImproved, mineWithNonces, splitMix32, taskSeed, verifyProofOfUsefulWork, type ChainTip, type Fault,
  type GradientEngine, type VerifyContext, type VerifyReport,
} from '../src/index.js'
import { loadMnistAll } from '../src/node.js'
import { pinnedEngine } from './pinnedEngine.js'

/** About 200 header hashes per block: with ~118 nonces per iteration, a block every few iterations. */
const EASY_BITS = bitsFromTarget((1n << 256n) / 200n)
const HONEST_BLOCKS = 8
const MAX_ITERATIONS = 120
const T0 = 1_800_000_000

interface Mined { block: Block; evidence: Uint8Array; iteration: number }

let data: TaskData
let task: TaskSpec
let wasm: GradientEngine
let cpu: GradientEngine
const honestKeys: KeyPair = generateKeyPair(new Uint8Array(32).fill(11))
const partnerKeys: KeyPair = generateKeyPair(new Uint8Array(32).fill(12))
const honest: Mined[] = []
/** supervisors' record of every IT_RES hash, by miner and iteration */
const record = new Map<string, Uint8Array>()
const recorded: VerifyContext['recorded'] = async (miner, iteration) => record.get(`${toHex(miner)}:${iteration}`)
/** epoch 0's members in each scenario: the honest pair, or a faulty miner with its partner */
let members: Uint8Array[] = []

const tally = { honestChecks: 0, falseRejects: 0, maxInBandWasm: 0, maxInBandCpu: 0, maxLossDeltaCpu: 0, cheats: 0, falseAccepts: 0 }

function tipFor(seed: string): ChainTip {
  return { hash: taggedHash(TAGS.blockHeader, new TextEncoder().encode(seed)), height: 7, nextBits: EASY_BITS, subsidy: 50_0000_0000n }
}

function ctxFor(engine: GradientEngine, opts: { recorded?: VerifyContext['recorded']; members?: Uint8Array[] } = {}): VerifyContext {
  const epoch0 = opts.members ?? members
  return { data, engine, recorded: opts.recorded, members: (epoch) => (epoch === 0 ? epoch0 : undefined) }
}

/**
 * Steps `miner` and its partner in turns until `miner` has mined `want` blocks; every IT_RES is
 * recorded (the supervisors' history) and handed to the other miner (gossip).
 */
async function mine(miner: Miner, partner: Miner, want: number): Promise<Mined[]> {
  const out: Mined[] = []
  for (let n = 0; out.length < want; n++) {
    assert.ok(n < MAX_ITERATIONS, `only ${out.length} of ${want} blocks after ${MAX_ITERATIONS} iterations`)
    const p = await partner.step()
    record.set(`${toHex(partner.publicKey)}:${p.iteration}`, itResHash(p.itres))
    assert.equal(await miner.receivePeerMessage(p.itres), true)
    const r = await miner.step()
    record.set(`${toHex(miner.publicKey)}:${r.iteration}`, itResHash(r.itres))
    assert.equal(await partner.receivePeerMessage(r.itres), true)
    if (n > 0) assert.equal(r.peersApplied, 1, 'each iteration applies the partner\'s message of the last round')
    if (r.block) {
      const sub = submissionFromBytes(r.block.submission)
      const block = blockFromBytes(sub.block)
      assert.equal(toHex(headerHash(block.header)), toHex(r.block.hash))
      assert.ok(hashMeetsTarget(r.block.hash, targetFromBits(EASY_BITS)), 'the mined header meets the target')
      out.push({ block, evidence: sub.evidence, iteration: r.iteration })
    }
  }
  return out
}

/** A miner and its honest partner, both in epoch 0 with `members` = the two of them. */
function newPair(keys: KeyPair, fault: Fault = 'none', seed = 1): [Miner, Miner] {
  let clock = T0
  const rand = splitMix32(seed)
  const miner = new Miner(data, wasm, keys, { now: () => clock++, fault, random: () => rand() / 0x1_0000_0000 })
  const partner = new Miner(data, wasm, partnerKeys, { now: () => clock++ })
  miner.setTip(tipFor(`parent of ${fault}`))
  members = [keys.publicKey, partnerKeys.publicKey]
  for (const m of [miner, partner]) m.startEpoch(0, members)
  return [miner, partner]
}

/** theta' of the lucky iteration: the evidence model with the peer updates applied in order. */
function thetaPrimeOf(ev: ReturnType<typeof evidenceFromBytes>): Float32Array {
  const t = new Float32Array(ev.model)
  for (const p of ev.peerUpdates) applyMessageMap(t, itResFromBytes(p).map, task.tau)
  return t
}

async function expectRefused(what: string, block: Block, evidence: Uint8Array, code: string, ctx = ctxFor(wasm)): Promise<PouwError> {
  tally.cheats++
  let report: VerifyReport
  try {
    report = await verifyProofOfUsefulWork(ctx, block, evidence)
  } catch (e) {
    assert.ok(isPouwError(e), `${what}: expected a PouwError, got ${String(e)}`)
    assert.equal(e.code, code, `${what}: ${e.message}`)
    return e
  }
  tally.falseAccepts++
  assert.fail(`${what}: accepted, expected ${code} (${JSON.stringify(report)})`)
}

function unsignedOf(m: ItRes): UnsignedItRes {
  const { signature: _s, version: _v, ...rest } = m
  return rest
}

/**
 * Rebuild a block around a modified lucky IT_RES, as a cheating miner who owns the key would:
 * re-sign it, recompute hashMsg and hashMsgHist, derive the nonce from the (claimed) map and mine
 * the header again. tFinish (which no rule checks) is varied until a nonce in range meets the target.
 */
async function forge(m: Mined, mutate: (lucky: UnsignedItRes) => UnsignedItRes, keys = honestKeys): Promise<{ block: Block; evidence: Uint8Array; lucky: ItRes }> {
  const k = task.commitLead
  const ev = evidenceFromBytes(m.evidence)
  const base = mutate(unsignedOf(itResFromBytes(ev.slot[k]!)))
  for (let attempt = 0; attempt < 64; attempt++) {
    const lucky = signItRes({ ...base, tFinish: base.tFinish + attempt }, keys.secretKey)
    const slot = [...ev.slot]
    slot[k] = itResToBytes(lucky)
    const hashes = slot.map(itResHash)
    const header = { ...m.block.header, hashMsg: hashes[k]!, hashMsgHist: merkleRoot(hashes) }
    const thetaAfter = thetaPrimeOf(ev)
    applyMessageMap(thetaAfter, lucky.map, task.tau)
    const { nonce } = await computeNonce(thetaAfter, lucky.map)
    const found = mineWithNonces(header, nonce, noncesPerIteration(task))
    if (found === null) continue
    assert.ok(hashMeetsTarget(headerHash(found.header), targetFromBits(found.header.bits)))
    return { block: { header: found.header, txs: m.block.txs }, evidence: evidenceToBytes({ ...ev, slot }), lucky }
  }
  throw new Error('could not re-mine the forged block in 64 attempts')
}

/** r' = r + lr * g for the lucky iteration of `m`, recomputed on wasm. */
async function recomputeResidual(m: Mined): Promise<{ rPrime: Float32Array; lucky: ItRes }> {
  const ev = evidenceFromBytes(m.evidence)
  const lucky = itResFromBytes(ev.slot[task.commitLead]!)
  const records = data.plan.batchRecords(lucky.batchIndex)
  const { x, labels } = loadBatch(data.data, records)
  const g = await wasm.gradients(thetaPrimeOf(ev), x, labels, records.length)
  return { rPrime: accumulateResidual(ev.residual, g.grad, task.learningRate), lucky }
}

describe('verifyProofOfUsefulWork on real MNIST training', () => {
  before(async () => {
    const d = loadMnistAll()
    task = createMnistTask(d)
    data = new TaskData(task, d, taskSeed(taggedHash(TAGS.blockHeader, new TextEncoder().encode('task definition block')), task))
    cpu = await pinnedEngine(task.net, 'cpu')
    wasm = await pinnedEngine(task.net, 'wasm') // last: the global backend stays wasm
    const [miner, partner] = newPair(honestKeys)
    honest.push(...await mine(miner, partner, HONEST_BLOCKS))
  })

  after(() => {
    console.log(
      `pouw verify: ${honest.length} honest blocks, ${tally.honestChecks} honest verifications (wasm + cpu), ` +
      `false rejects ${tally.falseRejects}; ${tally.cheats} faulty or planted blocks, false accepts ${tally.falseAccepts}; ` +
      `max in-band disagreements wasm ${tally.maxInBandWasm}, cpu ${tally.maxInBandCpu} (cap ${task?.maxBandDisagreements}); ` +
      `max |loss delta| cpu ${tally.maxLossDeltaCpu.toExponential(2)}`,
    )
  })

  const honestMembers = (): Uint8Array[] => [honestKeys.publicKey, partnerKeys.publicKey]

  it(`an honest wasm miner's blocks, with its partner's updates, pass a wasm verifier bit for bit, with the supervisors' record`, async () => {
    assert.ok(honest.length >= 3)
    for (const m of honest) {
      tally.honestChecks++
      let report: VerifyReport
      try {
        report = await verifyProofOfUsefulWork(ctxFor(wasm, { recorded, members: honestMembers() }), m.block, m.evidence)
      } catch (e) {
        tally.falseRejects++
        throw e
      }
      assert.equal(report.miner, toHex(honestKeys.publicKey))
      assert.equal(report.iteration, m.iteration)
      assert.equal(report.backend, 'wasm')
      assert.equal(report.peerUpdates, 1, 'the lucky iteration applied the partner\'s update')
      assert.equal(report.inBandDisagreements, 0, 'same backend: no disagreement at all')
      assert.equal(report.lossDelta, 0, 'same backend: the same loss')
      assert.ok(report.mapSize > 0)
      assert.ok(report.nonceIndex >= 0 && report.nonceIndex < noncesPerIteration(task))
      tally.maxInBandWasm = Math.max(tally.maxInBandWasm, report.inBandDisagreements)
    }
  })

  it('the same blocks pass a verifier on the cpu backend (cross-backend false rejects)', async () => {
    for (const m of honest) {
      tally.honestChecks++
      let report: VerifyReport
      try {
        report = await verifyProofOfUsefulWork(ctxFor(cpu, { members: honestMembers() }), m.block, m.evidence)
      } catch (e) {
        tally.falseRejects++
        throw e
      }
      assert.equal(cpu.backend, 'cpu')
      tally.maxInBandCpu = Math.max(tally.maxInBandCpu, report.inBandDisagreements)
      tally.maxLossDeltaCpu = Math.max(tally.maxLossDeltaCpu, report.lossDelta)
      assert.ok(report.inBandDisagreements <= task.maxBandDisagreements)
    }
  })

  const expectedByFault: Record<Exclude<Fault, 'none'>, string> = {
    nonce: POUW_ERRORS.NONCE_MISMATCH,
    model: POUW_ERRORS.MODEL_HASH_MISMATCH,
    batch: POUW_ERRORS.BATCH_HASH_MISMATCH, // trains a batch other than the one it names
    map: POUW_ERRORS.MAP_MISMATCH,
    signature: POUW_ERRORS.BAD_SIGNATURE,
    peers: POUW_ERRORS.NONCE_MISMATCH, // skips its peers' updates: its theta'' is not the one verifiers rebuild
  }
  it('FAULTS lists exactly none and the faults tested here', () => {
    assert.deepEqual([...FAULTS].sort(), ['none', ...Object.keys(expectedByFault)].sort())
  })
  for (const [fault, code] of Object.entries(expectedByFault) as Array<[Exclude<Fault, 'none'>, string]>) {
    it(`a miner with fault '${fault}' mines a block that is refused with ${code}`, async () => {
      const keys = generateKeyPair(taggedHash(TAGS.seed, new TextEncoder().encode(fault)))
      const [miner, partner] = newPair(keys, fault, fault.length)
      const [m] = await mine(miner, partner, 1)
      await expectRefused(`fault ${fault}`, m!.block, m!.evidence, code, ctxFor(wasm, { members }))
    })
  }

  it('control: a block forged without changes still verifies (the forging below is sound)', async () => {
    members = honestMembers()
    const f = await forge(honest[0]!, (l) => l)
    const report = await verifyProofOfUsefulWork(ctxFor(wasm), f.block, f.evidence)
    assert.equal(report.inBandDisagreements, 0)
  })

  it('a map with one extra entry far from tau, re-signed and re-mined, is refused with POUW_MAP_MISMATCH', async () => {
    const m = honest[1]!
    const { rPrime, lucky } = await recomputeResidual(m)
    const claimed = new Set([...lucky.map].map(entryIndex))
    // a parameter nowhere near the threshold, deep inside the model
    let extra = -1
    for (let i = 5_000; i < rPrime.length && extra < 0; i++) if (!claimed.has(i) && Math.abs(rPrime[i]!) < task.tau / 4) extra = i
    assert.ok(extra >= 0)
    const map = Uint32Array.from([...lucky.map, mapEntry(true, extra)].sort((a, b) => entryIndex(a) - entryIndex(b)))
    const f = await forge(m, (l) => ({ ...l, map }))
    const e = await expectRefused('extra map entry', f.block, f.evidence, POUW_ERRORS.MAP_MISMATCH)
    assert.deepEqual({ outside: e.details.outside, inBand: e.details.inBand, firstOutside: e.details.firstOutside }, { outside: 1, inBand: 0, firstOutside: extra })
  })

  it('a map missing its largest entry, re-signed and re-mined, is refused with POUW_MAP_MISMATCH', async () => {
    const m = honest[2]!
    const { rPrime, lucky } = await recomputeResidual(m)
    let drop = 0
    lucky.map.forEach((e, j) => { if (Math.abs(rPrime[entryIndex(e)]!) > Math.abs(rPrime[entryIndex(lucky.map[drop]!)]!)) drop = j })
    assert.ok(Math.abs(rPrime[entryIndex(lucky.map[drop]!)]!) > 1.5 * task.tau)
    const f = await forge(m, (l) => ({ ...l, map: l.map.filter((_e, j) => j !== drop) }))
    const e = await expectRefused('dropped map entry', f.block, f.evidence, POUW_ERRORS.MAP_MISMATCH)
    assert.equal(e.details.outside, 1)
  })

  it('a claimed loss 10% off, re-signed and re-mined, is refused with POUW_METRICS_MISMATCH', async () => {
    const f = await forge(honest[0]!, (l) => ({ ...l, metrics: [Math.fround(l.metrics[0]! * 1.1), l.metrics[1]!] }))
    await expectRefused('loss +10%', f.block, f.evidence, POUW_ERRORS.METRICS_MISMATCH)
    const g = await forge(honest[0]!, (l) => ({ ...l, metrics: [Math.fround(l.metrics[0]! * 0.9), l.metrics[1]!] }))
    await expectRefused('loss -10%', g.block, g.evidence, POUW_ERRORS.METRICS_MISMATCH)
  })

  it('a slot of the wrong length is refused with POUW_BAD_SLOT', async () => {
    const m = honest[0]!
    const ev = evidenceFromBytes(m.evidence)
    await expectRefused('slot too short', m.block, evidenceToBytes({ ...ev, slot: ev.slot.slice(1) }), POUW_ERRORS.BAD_SLOT)
    await expectRefused('slot too long', m.block, evidenceToBytes({ ...ev, slot: [ev.slot[0]!, ...ev.slot] }), POUW_ERRORS.BAD_SLOT)
  })

  it('a block that is not the committed zero-nonce block is refused with POUW_COMMITMENT_MISMATCH', async () => {
    const m = honest[1]!
    const ev = evidenceFromBytes(m.evidence)
    const { nonce } = await (async () => {
      const lucky = itResFromBytes(ev.slot[task.commitLead]!)
      const thetaAfter = thetaPrimeOf(ev)
      applyMessageMap(thetaAfter, lucky.map, task.tau)
      return computeNonce(thetaAfter, lucky.map)
    })()
    // the same work mined on another parent than the one committed k iterations earlier
    let block: Block | undefined
    for (let attempt = 0; attempt < 64 && block === undefined; attempt++) {
      const prevHash = taggedHash(TAGS.blockHeader, new TextEncoder().encode(`another parent ${attempt}`))
      const found = mineWithNonces({ ...m.block.header, prevHash }, nonce, noncesPerIteration(task))
      if (found) block = { header: found.header, txs: m.block.txs }
    }
    assert.ok(block)
    await expectRefused('other parent', block, m.evidence, POUW_ERRORS.COMMITMENT_MISMATCH)
  })

  it('a slot that differs from the supervisor\'s record is refused with POUW_EQUIVOCATION', async () => {
    const m = honest[0]!
    const lying: VerifyContext['recorded'] = async (miner, iteration) =>
      iteration === m.iteration && bytesEqual(miner, honestKeys.publicKey) ? taggedHash(TAGS.itres, new Uint8Array([1])) : recorded(miner, iteration)
    await expectRefused('equivocation', m.block, m.evidence, POUW_ERRORS.EQUIVOCATION, ctxFor(wasm, { recorded: lying }))
  })

  it('peer updates left out, repeated, reordered or from a non-member are refused with POUW_PEER_UPDATES_MISMATCH', async () => {
    const m = honest[1]!
    const ev = evidenceFromBytes(m.evidence)
    assert.equal(ev.peerUpdates.length, 1)
    const peer = ev.peerUpdates[0]!
    await expectRefused('peer update left out', m.block, evidenceToBytes({ ...ev, peerUpdates: [] }), POUW_ERRORS.PEER_UPDATES_MISMATCH)
    await expectRefused('peer update repeated', m.block, evidenceToBytes({ ...ev, peerUpdates: [peer, peer] }), POUW_ERRORS.PEER_UPDATES_MISMATCH)
    // a second, validly signed message from a key outside the epoch's members
    const outsider = generateKeyPair(new Uint8Array(32).fill(99))
    const forged = itResToBytes(signItRes({ ...unsignedOf(itResFromBytes(peer)), miner: outsider.publicKey }, outsider.secretKey))
    await expectRefused('peer update from a non-member', m.block, evidenceToBytes({ ...ev, peerUpdates: [peer, forged] }), POUW_ERRORS.PEER_UPDATES_MISMATCH)
    // the partner's message with one map entry flipped: its signature no longer holds
    const tampered = peer.slice()
    tampered[70] = tampered[70]! ^ 0x80
    await expectRefused('tampered peer update', m.block, evidenceToBytes({ ...ev, peerUpdates: [tampered] }), POUW_ERRORS.PEER_UPDATES_MISMATCH)
    // and one that differs from what the supervisors recorded
    const lying: VerifyContext['recorded'] = async (miner, iteration) =>
      bytesEqual(miner, partnerKeys.publicKey) ? taggedHash(TAGS.itres, new Uint8Array([2])) : recorded(miner, iteration)
    await expectRefused('peer update not the recorded one', m.block, m.evidence, POUW_ERRORS.EQUIVOCATION, ctxFor(wasm, { recorded: lying }))
  })

  it('a miner outside the epoch is refused with POUW_NOT_MEMBER; an unknown epoch is the verifier\'s gap, not a rule broken', async () => {
    const m = honest[0]!
    await expectRefused('not a member', m.block, m.evidence, POUW_ERRORS.NOT_MEMBER, ctxFor(wasm, { members: [partnerKeys.publicKey] }))
    tally.cheats-- // not a cheat: the verifier lacks the epoch record
    await assert.rejects(
      verifyProofOfUsefulWork({ data, engine: wasm, members: () => undefined }, m.block, m.evidence),
      (e: unknown) => isPouwError(e) && e.code === VERIFY_UNKNOWN_EPOCH,
    )
  })

  it('a miner refuses peer messages from non-members, forged ones and a second one for an iteration', async () => {
    const [a, b] = newPair(generateKeyPair(new Uint8Array(32).fill(21)))
    const r = await b.step()
    const outsider = generateKeyPair(new Uint8Array(32).fill(22))
    const fromOutsider = itResToBytes(signItRes({ ...unsignedOf(itResFromBytes(r.itres)), miner: outsider.publicKey }, outsider.secretKey))
    const codeOf = async (bytes: Uint8Array): Promise<string> => {
      try { await a.receivePeerMessage(bytes); return 'accepted' } catch (e) { return isPouwError(e) ? e.code : String(e) }
    }
    assert.equal(await codeOf(fromOutsider), POUW_ERRORS.NOT_MEMBER)
    const bad = r.itres.slice()
    bad[bad.length - 1] = bad[bad.length - 1]! ^ 1
    assert.equal(await codeOf(bad), POUW_ERRORS.BAD_SIGNATURE)
    assert.equal(await codeOf(r.itres.subarray(0, 40)), 'PROTOCOL_TRUNCATED')
    assert.equal(await codeOf(r.itres), 'accepted')
    assert.equal(await a.receivePeerMessage(r.itres), false, 'a replay is ignored')
    const second = itResToBytes(signItRes({ ...unsignedOf(itResFromBytes(r.itres)), tFinish: 1 }, partnerKeys.secretKey))
    assert.equal(await codeOf(second), POUW_ERRORS.EQUIVOCATION)
    assert.equal(a.pendingPeerMessages, 1, 'only the good message waits to be applied')
  })

  it('a miner whose reported loss did not fall over its training is refused with POUW_METRICS_NOT_IMPROVED', async () => {
    const m = honest[0]!
    const window = (from: number, loss: (i: number) => number) => Array.from({ length: METRICS_WINDOW }, (_x, j) => ({ iteration: from + j, loss: loss(from + j) }))
    const flat: VerifyContext['metricsWindow'] = async () => ({ first: window(0, () => 2.3), recent: window(500, () => 2.3) })
    await expectRefused('flat loss', m.block, m.evidence, POUW_ERRORS.METRICS_NOT_IMPROVED, { ...ctxFor(wasm, { members: honestMembers() }), metricsWindow: flat })
    // the honest shape passes: falling from ~2 to ~0.3
    const learning: VerifyContext['metricsWindow'] = async () => ({ first: window(0, (i) => 2.3 - i * 0.02), recent: window(500, () => 0.3) })
    const report = await verifyProofOfUsefulWork({ ...ctxFor(wasm, { members: honestMembers() }), metricsWindow: learning }, m.block, m.evidence)
    assert.equal(report.iteration, m.iteration)
  })

  it('no false accepts and no false rejects', () => {
    assert.equal(tally.falseAccepts, 0)
    assert.equal(tally.falseRejects, 0)
    assert.ok(tally.cheats >= 17, `${tally.cheats} cheats checked`)
  })
})

describe('metricsImproved: the metrics-window rule', () => {
  const w = (from: number, loss: number, n = METRICS_WINDOW) => Array.from({ length: n }, (_x, j) => ({ iteration: from + j, loss }))
  it('the last window must be below the first', () => {
    assert.equal(metricsImproved(w(0, 2), w(100, 0.5)), true)
    assert.equal(metricsImproved(w(0, 2), w(100, 2)), false)
    assert.equal(metricsImproved(w(0, 0.5), w(100, 2)), false)
  })
  it('is not judged before both windows are full and apart', () => {
    assert.equal(metricsImproved(w(0, 2, METRICS_WINDOW - 1), w(100, 3)), true)
    assert.equal(metricsImproved(w(0, 2), w(100, 3, 5)), true)
    assert.equal(metricsImproved(w(0, 2), w(METRICS_WINDOW - 1, 3)), true, 'overlapping windows')
    assert.equal(metricsImproved(w(0, 2), w(METRICS_WINDOW, 3)), false, 'adjacent windows are judged')
  })
})
