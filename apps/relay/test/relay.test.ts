// Run: node --import ./scripts/node-polyfills.mjs --import tsx --test apps/relay/test/relay.test.ts
// A real relay in-process (libp2p, LevelDB, wasm verifier, HTTP API) and a Node libp2p client:
// malformed gossip is refused and counted while the relay keeps serving; a real miner's blocks are
// verified and accepted; the chain survives a restart on the same data directory. A lone relay is a
// committee of one supervisor: its DKG, epoch records and message-history slots run for real (t = 1).
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  TOPICS, ZERO_HASH, blockToBytes, targetFromBits, computeMerkleRoot, epochMessageFromBytes, epochMessageToBytes, evidenceToBytes,
  fromHex, generateKeyPair, mlpNet, itResBatchToBytes, itResFromBytes, itResHash, itResToBytes, signItRes, signTaskJoin, submissionToBytes, taskFromBytes, taskHash, taskToBytes,
  deriveVrfSecretKey, proveSelection, vrfPublicKey, signVerdict, toHex, txFromBytes, txHash, txToBytes, verdictFromBytes, verdictToBytes, verifyEpochRecord, verifyVerdictSignature, historyAnchorFromBytes, revealFromBytes, revealToBytes, slotHash, verdictSeal, type Block, type BlockHeader, type BlockTiming, type TransferTx, type Tx, type Verdict,
} from '@pouw/protocol'
import * as tf from '@tensorflow/tfjs'
import {
  Miner, TaskData, createClientTask, parseLayers, datasetFromFragments, finalModelToBytes, loadBatch, signFinalModel,
  taskPackageToBytes, taskSeed, trainTask, type ChainTip,
} from '@pouw/trainer'
import { createNodeEngine, loadMnistAll } from '@pouw/trainer/node'
import { ItResDelivery } from '@pouw/network'
import { LevelStore, TASK_FEE_RECLAIM_BLOCKS, Wallet, computeNextBits, payTo, signTransfer, walletSourceFromJson, type ChainParams, type DifficultyParams, type WalletJson } from '@pouw/ledger'
import { createNodeClientNetwork, type PubSubNetwork } from '@pouw/network/node'
import { createRelay, type BlockInfo, type Rejection, type Relay } from '../src/relay.js'
import type { TaskListing } from '../src/clientTasks.js'
import type { TemplateJson } from '../src/ledgerApi.js'
import { JOIN_BLOCKS, SELECT_DEPTH } from '../src/taskRuns.js'

const WAIT_MS = 15_000
/** heights of block evidence the test's relay keeps */
const EVIDENCE_KEPT = 4
const BLOCKS_WANTED = 2
const MINING_MS = 40_000

interface Status {
  height: number
  hash: string
  peers: number
  relay: { peerId: string; addrs: string[]; verifier: string }
  chain: {
    network: string; genesis: string; tipTime: number; nextBits: number; subsidy: string; genesisTime: number; bits: number; maxFutureSeconds: number; coinbaseMaturity: number
    window: { hash: string; time: number; bits: number }[]; difficulty: DifficultyParams
  }
  task: { id: string; hash: string; spec: string; topic: string; model: string; noncesPerIteration: number; seed: string; topics: { itres: string; epochs: string } }
  supervisors: { committee: string[]; t: number; groupPublicKey: string | null; dkg: string; history: { slots: number; lastSlotHash: string | null } }
  epoch: { current: number | null; miners: string[] }
  mempool: { count: number; bytes: number; txAccepted: number; txRefused: number }
  stats: { itres: number; itresRedelivered: number; itresFromEvidence: number; itresRejected: number; malformed: number; verdicts: number; verdictsFetched: number; verdictsRefused: number; orphans: number }
}

/**
 * The relay's tip as a miner needs it: with the timing window its own blocks' bits follow from, and
 * without a template (no approvals collected: the whole subsidy on genesis, none after).
 */
function tipOf(st: Status): ChainTip {
  const subsidy = st.height === 0 ? BigInt(st.chain.subsidy) : 0n
  return { hash: fromHex(st.hash), height: st.height, nextBits: st.chain.nextBits, subsidy, window: st.chain.window.map(({ time, bits }) => ({ time, bits })) }
}

function chainParams(s: Status): ChainParams {
  return {
    networkName: s.chain.network, genesisTime: s.chain.genesisTime, bits: s.chain.bits, subsidy: BigInt(s.chain.subsidy),
    maxFutureSeconds: s.chain.maxFutureSeconds, coinbaseMaturity: s.chain.coinbaseMaturity,
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address()
      s.close(() => (addr !== null && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))))
    })
  })
}

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, ms = WAIT_MS): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await probe()
    if (v !== undefined && v !== false) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

async function getJson<T>(relay: Relay, route: string): Promise<T> {
  const res = await fetch(new URL(route, relay.url), { signal: AbortSignal.timeout(5_000) })
  assert.equal(res.status, 200, `GET ${route}: ${res.status}`)
  return (await res.json()) as T
}

const dataDir = mkdtempSync(path.join(tmpdir(), 'pouw-relay-test-'))
const webDir = mkdtempSync(path.join(tmpdir(), 'pouw-relay-web-'))
const logs: string[] = []
const log = (msg: string, ctx?: Record<string, unknown>): void => {
  logs.push(JSON.stringify({ msg, ...ctx }))
  if (logs.length > 200) logs.shift()
}
const recentLogs = (): string => `\nrelay log (last 15):\n${logs.slice(-15).join('\n')}`

async function startRelay(): Promise<Relay> {
  const [httpPort, p2pPort] = [await freePort(), await freePort()]
  // coinbase maturity 1: the money test spends a block reward in the next block; evidence of the last EVIDENCE_KEPT heights
  return createRelay({ host: '127.0.0.1', httpPort, p2pPort, dataDir, difficulty: 1500n, webDir, log, coinbaseMaturity: 1, evidenceKeep: EVIDENCE_KEPT })
}

describe('relay: gossip, verification, persistence', () => {
  let relay: Relay | undefined
  let client: PubSubNetwork | undefined
  let status0: Status
  const verdicts: Verdict[] = []
  let badVerdictSignatures = 0
  const accepted: Array<{ hash: string; height: number }> = []
  let mining: { miner: Miner; keys: ReturnType<typeof generateKeyPair>; lastBlock?: Uint8Array } | undefined
  /** the client task charged by the task-run test, and its run as the relay reported it then */
  let charged: { task: string; run: Record<string, unknown>; testFragment: number } | undefined

  /**
   * The miner of the mining test builds on the relay's tip with the relay's block template (as a tab
   * does), re-delivering its IT_RES over HTTP and posting its blocks, until `done` holds for an
   * accepted block; returns that block's hash.
   */
  async function mineWithTemplates(done: (block: Block) => Promise<boolean>): Promise<string> {
    assert.ok(mining, 'needs the miner of the mining test')
    const r = relay!
    const { miner, keys } = mining
    const delivery = new ItResDelivery({ miner: toHex(keys.publicKey), supervisors: () => [r.url], now: () => Date.now(), graceMs: 0 })
    const deadline = Date.now() + MINING_MS * 2
    let tipSet = ''
    for (;;) {
      assert.ok(Date.now() < deadline, `no block wanted in ${MINING_MS * 2} ms${recentLogs()}`)
      const st = await getJson<Status>(r, '/api/status')
      if (st.hash !== tipSet) {
        // like a miner after the whole subsidy, wait until the template collects the tip's approval (the relay is its one verifier)
        const t = await waitFor('a template with the tip\'s approval', async () => {
          const res = await fetch(new URL(`/api/template?parent=${st.hash}`, r.url), { signal: AbortSignal.timeout(5_000) })
          if (res.status === 503) return undefined // the mempool catching up with the tip: ask again
          assert.equal(res.status, 200)
          const tpl = (await res.json()) as TemplateJson
          return st.height === 0 || tpl.approvals.length === 1 ? tpl : undefined
        }).catch((e: Error) => { throw new Error(`${e.message} (tip ${st.height} ${st.hash.slice(0, 16)})${recentLogs()}`) })
        const reveals = t.approvals.map((h) => revealFromBytes(fromHex(h)))
        const collect = reveals.length === 0 ? undefined : { block: reveals[0]!.blockHash, approvals: reveals.map((x) => x.approval) }
        assert.equal(BigInt(t.subsidy), BigInt(st.chain.subsidy), 'one approval of one verifier proves the whole subsidy')
        const history = t.history === null ? undefined : historyAnchorFromBytes(fromHex(t.history))
        miner.setTip({ ...tipOf(st), txs: t.txs.map((h) => txFromBytes(fromHex(h)) as TransferTx), fees: BigInt(t.fees), subsidy: BigInt(t.subsidy), collect, history })
        tipSet = st.hash
      }
      const res = await miner.step()
      delivery.add(res.iteration, res.itres)
      await delivery.sync()
      if (!res.block) continue
      const hashHex = toHex(res.block.hash)
      await fetch(new URL('/api/block', r.url), { method: 'POST', body: res.block.submission as BodyInit })
      await waitFor(`block ${hashHex.slice(0, 16)} accepted`, async () => (await getJson<Status>(r, '/api/status')).hash === hashHex || undefined, WAIT_MS * 2)
      accepted.push({ hash: hashHex, height: res.block.height })
      if (await done((await r.chain.getBlock(hashHex))!)) return hashHex
    }
  }

  before(async () => {
    relay = await startRelay()
    status0 = await getJson<Status>(relay, '/api/status')
    const relayAddr = status0.relay.addrs.find((a) => a.startsWith('/ip4/127.0.0.1/tcp/') && a.includes('/ws/p2p/'))
    assert.ok(relayAddr, `no ws address among ${status0.relay.addrs.join(' ')}`)
    client = await createNodeClientNetwork({ relayAddr, topics: [TOPICS.blocks, status0.task.topic, TOPICS.verdicts, status0.task.topics.epochs], timeoutMs: WAIT_MS })
    client.onMessage((topic, data) => {
      if (topic !== TOPICS.verdicts) return
      const v = verdictFromBytes(data)
      void verifyVerdictSignature(v).then((ok) => {
        if (ok) verdicts.push(v)
        else badVerdictSignatures++
      })
    })
  })

  after(async () => {
    await client?.stop()
    await relay?.stop()
    rmSync(dataDir, { recursive: true, force: true })
    rmSync(webDir, { recursive: true, force: true })
  })

  it('serves its status: genesis tip, the task, the ITRES topic', async () => {
    assert.equal(status0.height, 0)
    assert.equal(status0.hash, status0.chain.genesis)
    assert.equal(status0.task.topic, TOPICS.itres(status0.task.id))
    assert.equal(toHex(taskHash(taskFromBytes(fromHex(status0.task.spec)))), status0.task.hash)
    assert.deepEqual(status0.stats, { itres: 0, itresRedelivered: 0, itresFromEvidence: 0, itresRejected: 0, malformed: 0, verdicts: 0, verdictsFetched: 0, verdictsRefused: 0, orphans: 0 })
    await waitFor('the client among the relay\'s peers', async () => (await getJson<Status>(relay!, '/api/status')).peers >= 1)
  })

  it('refuses malformed blocks and IT_RES messages, counts them, and keeps serving', async () => {
    const r = relay!
    const c = client!
    const garbage = Uint8Array.from([0x00, 0x07, 0xde, 0xad, 0xbe, 0xef]) // submission version 7

    // a valid-looking submission (a real block header on the tip, a signed IT_RES in the evidence), cut short
    const keys = generateKeyPair()
    const task = taskFromBytes(fromHex(status0.task.spec))
    const coinbase: Tx = { type: 'coinbase', height: 1, outputs: [{ amount: 1n, recipient: keys.publicKey }] }
    const header: BlockHeader = {
      version: 1, prevHash: fromHex(status0.hash), merkleRoot: computeMerkleRoot([coinbase]), time: Math.floor(Date.now() / 1000),
      bits: status0.chain.nextBits, nonce: ZERO_HASH, hashMsg: ZERO_HASH, hashMsgHist: ZERO_HASH,
    }
    const itres = itResToBytes(signItRes({
      taskId: task.taskId, backend: 'wasm', miner: keys.publicKey, iteration: 0, epoch: 0, batchIndex: 0, map: Uint32Array.from([1, 5, 9]),
      metrics: [2.3, 0.1], tStart: header.time, tFinish: header.time, batchHash: ZERO_HASH, peerUpdatesHash: ZERO_HASH,
      modelHash: ZERO_HASH, residualHash: ZERO_HASH, znbHash: ZERO_HASH, nextPeerMessagesHash: ZERO_HASH,
    }, keys.secretKey))
    const submission = submissionToBytes({
      block: blockToBytes({ header, txs: [coinbase] }),
      evidence: evidenceToBytes({ slot: [itres], model: new Float32Array(16), residual: new Float32Array(16), peerUpdates: [] }),
    })
    const truncated = submission.subarray(0, submission.length - 20)

    // an IT_RES with a bad signature, and IT_RES bytes that are not an IT_RES
    const badSig = itres.slice()
    badSig[badSig.length - 40]! ^= 0x01
    const itresGarbage = new TextEncoder().encode('not an IT_RES message at all')

    await c.publish(TOPICS.blocks, garbage)
    await c.publish(TOPICS.blocks, truncated)
    await c.publish(status0.task.topic, itresGarbage)
    await c.publish(status0.task.topic, badSig)
    // a verdict signed by a key outside the supervisor committee, and bytes that are no verdict
    const outsider = signVerdict({
      blockHash: ZERO_HASH, accepted: true, code: '', detail: '', height: 1, tipHash: ZERO_HASH, tipHeight: 1, tipWindow: [{ time: header.time, bits: header.bits }],
      nextBits: status0.chain.nextBits, seal: ZERO_HASH, verifier: keys.publicKey,
    }, keys.secretKey)
    await c.publish(TOPICS.verdicts, verdictToBytes(outsider))
    // (other bytes than the blocks' garbage: gossip ids are hashes of the data alone, so the same bytes would be a duplicate)
    await c.publish(TOPICS.verdicts, Uint8Array.from([0x00, 0x09, 0xba, 0xad]))

    const status = await waitFor('the relay to count 2 malformed blocks, 2 refused IT_RES and 2 refused verdicts', async () => {
      const s = await getJson<Status>(r, '/api/status')
      return s.stats.malformed >= 2 && s.stats.itresRejected >= 2 && s.stats.verdictsRefused >= 2 ? s : undefined
    })
    assert.deepEqual(status.stats, { itres: 0, itresRedelivered: 0, itresFromEvidence: 0, itresRejected: 2, malformed: 2, verdicts: 0, verdictsFetched: 0, verdictsRefused: 2, orphans: 0 }, recentLogs())
    assert.ok(logs.some((l) => l.includes('RELAY_NOT_SUPERVISOR')), recentLogs())
    assert.equal(status.height, 0)

    const rejections = await getJson<Rejection[]>(r, '/api/rejections')
    const codes = rejections.map((x) => x.code).sort()
    assert.deepEqual(codes, ['PROTOCOL_BAD_VERSION', 'PROTOCOL_TRUNCATED'], JSON.stringify(rejections))
    for (const x of rejections) {
      assert.match(x.code, /^PROTOCOL_/)
      assert.equal(x.from, c.peerId)
      assert.equal(x.blockHash, toHex(ZERO_HASH))
      assert.equal(x.peerAtFault, true)
    }
    // each malformed block also gets a signed verdict
    const refusals = await waitFor('two rejection verdicts', () => {
      const v = verdicts.filter((x) => !x.accepted)
      return v.length >= 2 ? v : undefined
    })
    assert.deepEqual(refusals.map((v) => v.code).sort(), ['PROTOCOL_BAD_VERSION', 'PROTOCOL_TRUNCATED'])
    assert.ok(refusals.every((v) => toHex(v.verifier) === status0.relay.verifier && v.tipHash.length === 32 && toHex(v.tipHash) === status0.hash))
    assert.ok(logs.some((l) => l.includes('POUW_BAD_SIGNATURE')), recentLogs())

    // still serving: the page fallback answers too (503, the page is not built in an empty webDir)
    const page = await fetch(new URL('/', r.url), { signal: AbortSignal.timeout(5_000) })
    assert.equal(page.status, 503)
    await page.body?.cancel()
  })

  it('a lone relay is a committee of one: its DKG completes', async () => {
    const s = await waitFor('the DKG', async () => {
      const st = await getJson<Status>(relay!, '/api/status')
      return st.supervisors.groupPublicKey !== null ? st : undefined
    })
    assert.deepEqual(s.supervisors.committee, [s.relay.verifier])
    assert.equal(s.supervisors.t, 1)
  })

  it(`a real miner joins, gets an epoch record, and its blocks are verified against the message history and accepted`, { timeout: MINING_MS + WAIT_MS * 3 }, async () => {
    const r = relay!
    const c = client!
    const status = await getJson<Status>(r, '/api/status')
    const task = taskFromBytes(fromHex(status.task.spec))
    const data = new TaskData(task, loadMnistAll(), fromHex(status.task.seed))
    const engine = await createNodeEngine(task.net, 'wasm') // the relay's verifier uses wasm too: one global backend
    const keys = generateKeyPair()
    // the network's difficulty rule: the miner computes the bits after its own blocks
    const nextBits = (w: readonly BlockTiming[]): number => computeNextBits(w, status.chain.difficulty)
    const miner = new Miner(data, engine, keys, { now: () => Math.floor(Date.now() / 1000), nextBits })
    mining = { miner, keys }

    // TASK_JOIN until the supervisors start epoch 0 with us in it (a threshold-signed EPOCH record)
    const join = (): Promise<void> => c.publish(status.task.topics.epochs, epochMessageToBytes({
      kind: 'join', ...signTaskJoin({ taskId: task.taskId, miner: keys.publicKey, time: Math.floor(Date.now() / 1000) }, keys.secretKey),
    }))
    const record = await waitFor('the epoch 0 record', async () => {
      await join()
      const epochs = await getJson<Array<{ epoch: number; miners: string[]; record: string }>>(r, '/api/epochs')
      return epochs[0]
    }, WAIT_MS * 2)
    const decoded = epochMessageFromBytes(fromHex(record.record))
    assert.equal(decoded.kind, 'record')
    assert.ok(decoded.kind === 'record' && verifyEpochRecord(decoded, fromHex((await getJson<Status>(r, '/api/status')).supervisors.groupPublicKey!)))
    assert.deepEqual(record.miners, [toHex(keys.publicKey)])
    miner.startEpoch(0, [keys.publicKey])
    miner.setTip(tipOf(status))

    const deadline = Date.now() + MINING_MS
    let iterations = 0
    const sent: Uint8Array[] = []
    while (accepted.length < BLOCKS_WANTED) {
      assert.ok(Date.now() < deadline, `${accepted.length} blocks accepted after ${iterations} iterations in ${MINING_MS} ms${recentLogs()}`)
      const res = await miner.step()
      iterations++
      await c.publish(status.task.topic, res.itres)
      sent.push(itResHash(res.itres))
      if (!res.block) continue
      const hashHex = toHex(res.block.hash)
      await c.publish(TOPICS.blocks, res.block.submission)
      mining.lastBlock = res.block.submission
      const v = await waitFor(`a verdict on block ${hashHex.slice(0, 16)}`, () => verdicts.find((x) => toHex(x.blockHash) === hashHex))
      assert.ok(v.accepted, `block ${hashHex} refused: ${v.code} ${v.detail}`)
      assert.equal(v.code, '')
      assert.equal(v.height, res.block.height)
      assert.equal(toHex(v.tipHash), hashHex)
      assert.equal(v.tipHeight, res.block.height)
      accepted.push({ hash: hashHex, height: res.block.height })
    }
    assert.equal(badVerdictSignatures, 0)

    const final = await getJson<Status>(r, '/api/status')
    assert.equal(final.height, status.height + BLOCKS_WANTED)
    assert.equal(final.hash, accepted.at(-1)!.hash)
    assert.equal(final.stats.malformed, 2)
    assert.equal(final.stats.itresRejected, 2)
    assert.ok(final.stats.itres >= iterations - 1, `${final.stats.itres} IT_RES recorded of ${iterations}`)
    const blocks = await getJson<BlockInfo[]>(r, '/api/blocks')
    for (const a of accepted) {
      const info = blocks.find((b) => b.hash === a.hash)
      assert.ok(info, `block ${a.hash} listed`)
      assert.equal(info.height, a.height)
      assert.equal(info.miner, toHex(keys.publicKey))
      assert.equal(info.backend, 'wasm')
      assert.equal(info.verify.inBandDisagreements, 0)
      assert.ok(info.verify.mapSize > 0)
      // its own signed verdict is the block's one confirmation (a committee of one)
      assert.deepEqual(info.confirmations, [{ verifier: status.relay.verifier, accepted: true, code: '' }])
    }
    // the relay agreed every IT_RES into message-history slots (a committee of one still runs the protocol)
    const history = await waitFor('every IT_RES in a history slot', async () => {
      const h = await getJson<Array<{ slot: number; hash: string; messages: number }>>(r, '/api/history')
      return h.reduce((a, x) => a + x.messages, 0) >= sent.length ? h : undefined
    })
    assert.deepEqual(history.map((h) => h.slot), history.map((_h, i) => i), 'slots are numbered from 0 without gaps')
    assert.ok(sent.every((h) => r.supervisor.isSlotted(h)))
    console.log(`relay: ${BLOCKS_WANTED} blocks accepted after ${iterations} iterations; ${history.length} history slots`)
  })

  it('a miner re-delivers over HTTP the IT_RES gossip lost; bad ones are refused one by one', { timeout: WAIT_MS * 2 }, async () => {
    assert.ok(mining, 'needs the miner of the previous test')
    const r = relay!
    const minerHex = toHex(mining.keys.publicKey)
    const before = await getJson<Status>(r, '/api/status')
    // six iterations that never go out on gossip
    const delivery = new ItResDelivery({ miner: minerHex, supervisors: () => [r.url], now: () => Date.now(), graceMs: 0 })
    const lost: number[] = []
    for (let i = 0; i < 6; i++) {
      const res = await mining.miner.step()
      delivery.add(res.iteration, res.itres)
      lost.push(res.iteration)
    }
    const recorded = async (): Promise<number[]> => (await getJson<{ iterations: number[] }>(r, `/api/recorded?miner=${minerHex}&from=${lost[0]}`)).iterations
    assert.deepEqual(await recorded(), [])
    await delivery.sync()
    assert.deepEqual(await recorded(), lost)
    assert.equal(delivery.pending(), 0)
    assert.deepEqual(delivery.stats, { redelivered: 6, refused: {}, failures: 0, lastError: null })
    const after = await getJson<Status>(r, '/api/status')
    assert.equal(after.stats.itresRedelivered - before.stats.itresRedelivered, 6)
    assert.equal(after.stats.itres - before.stats.itres, 6)

    // a batch mixing a good message, a forged one and a second IT_RES for a recorded iteration
    const good = await mining.miner.step()
    const forged = (await mining.miner.step()).itres.slice()
    forged[forged.length - 1]! ^= 1
    const other = itResToBytes(signItRes({ ...itResFromBytes(good.itres), tStart: 1 }, mining.keys.secretKey))
    const post = (body: Uint8Array): Promise<Response> => fetch(new URL('/api/itres', r.url), { method: 'POST', body: body as BodyInit, signal: AbortSignal.timeout(5_000) })
    const res = await post(itResBatchToBytes([good.itres, forged, other, good.itres]))
    assert.equal(res.status, 200)
    assert.deepEqual(await res.json(), { results: ['recorded', 'POUW_BAD_SIGNATURE', 'POUW_EQUIVOCATION', 'duplicate'] })
    // two different IT_RES for one iteration at once (as by gossip and by HTTP): one is recorded, the other refused
    const next = await mining.miner.step()
    const rival = itResToBytes(signItRes({ ...itResFromBytes(next.itres), tStart: 1 }, mining.keys.secretKey))
    const both = await Promise.all([next.itres, rival].map(async (m) => ((await (await post(itResBatchToBytes([m]))).json()) as { results: string[] }).results[0]))
    assert.deepEqual(both.sort(), ['POUW_EQUIVOCATION', 'recorded'])
    // malformed bodies and queries: a clear 400, nothing recorded
    const junk = await post(new Uint8Array([0, 1, 0, 0]))
    assert.equal(junk.status, 400)
    assert.equal(((await junk.json()) as { code: string }).code, 'PROTOCOL_TRUNCATED')
    const badMiner = await fetch(new URL('/api/recorded?miner=zz', r.url))
    assert.equal(badMiner.status, 400)
    // a block handed over HTTP: one it holds is 'known'; a malformed one a 400 with its code
    const known = await fetch(new URL('/api/block', r.url), { method: 'POST', body: mining.lastBlock as BodyInit })
    assert.deepEqual(await known.json(), { block: accepted.at(-1)!.hash, status: 'known' })
    const badBlock = await fetch(new URL('/api/block', r.url), { method: 'POST', body: new Uint8Array([0, 7, 1]) })
    assert.equal(badBlock.status, 400)
    assert.match(((await badBlock.json()) as { code: string }).code, /^PROTOCOL_/)
    // a TASK_JOIN handed over HTTP is taken like a gossiped one; junk is a 400
    const joined = await fetch(new URL('/api/epochs', r.url), { method: 'POST', body: epochMessageToBytes({
      kind: 'join', ...signTaskJoin({ taskId: fromHex(before.task.id), miner: mining.keys.publicKey, time: Math.floor(Date.now() / 1000) }, mining.keys.secretKey),
    }) as BodyInit })
    assert.deepEqual(await joined.json(), { status: 'received' })
    assert.equal((await fetch(new URL('/api/epochs', r.url), { method: 'POST', body: new Uint8Array([9]) })).status, 400)
    // the API is open to the other relays' pages (CORS preflight)
    const pre = await fetch(new URL('/api/itres', r.url), { method: 'OPTIONS' })
    assert.equal(pre.status, 204)
    assert.equal(pre.headers.get('access-control-allow-origin'), '*')
  })

  it('holds a block whose parent has not arrived, verifies it once the parent is accepted, and serves its verdicts', { timeout: MINING_MS + WAIT_MS * 2 }, async () => {
    assert.ok(mining, 'needs the miner of the previous tests')
    const r = relay!
    const { miner, keys } = mining
    const delivery = new ItResDelivery({ miner: toHex(keys.publicKey), supervisors: () => [r.url], now: () => Date.now(), graceMs: 0 })
    const step = async (): Promise<Awaited<ReturnType<Miner['step']>>> => {
      const res = await miner.step()
      delivery.add(res.iteration, res.itres)
      await delivery.sync()
      return res
    }
    // the previous test left one iteration unrecorded (the forged one): mine past its slot, on the relay's tip
    for (let i = 0; i < 3; i++) await step()
    const status = await getJson<Status>(r, '/api/status')
    miner.setTip(tipOf(status))
    const found: Array<{ hash: string; height: number; submission: Uint8Array }> = []
    const deadline = Date.now() + MINING_MS
    while (found.length < 2) {
      assert.ok(Date.now() < deadline, `${found.length} blocks found in ${MINING_MS} ms`)
      const res = await step()
      if (res.block) found.push({ hash: toHex(res.block.hash), height: res.block.height, submission: res.block.submission })
    }
    const [parent, child] = found as [typeof found[0], typeof found[0]]
    const postBlock = async (b: Uint8Array): Promise<unknown> => (await fetch(new URL('/api/block', r.url), { method: 'POST', body: b as BodyInit })).json()
    const ownVerdicts = async (): Promise<Verdict[]> => {
      const list = await getJson<Array<{ block: string; verdict: string }>>(r, `/api/verdicts?blocks=${parent.hash},${child.hash}`)
      return list.map((x) => verdictFromBytes(fromHex(x.verdict)))
    }
    // the child first: kept, not refused as LEDGER_PARENT_UNKNOWN
    assert.deepEqual(await postBlock(child.submission), { block: child.hash, status: 'queued' })
    await waitFor('the child held as an orphan', async () => (await getJson<Status>(r, '/api/status')).stats.orphans === 1 || undefined)
    assert.deepEqual(await ownVerdicts(), [])
    // then its parent: both verified, in order, and their signed verdicts are served
    assert.deepEqual(await postBlock(parent.submission), { block: parent.hash, status: 'queued' })
    const both = await waitFor('verdicts on parent and child', async () => {
      const v = await ownVerdicts()
      return v.length === 2 ? v : undefined
    }, WAIT_MS * 2)
    for (const [v, b] of [[both[0]!, parent], [both[1]!, child]] as const) {
      assert.equal(toHex(v.blockHash), b.hash)
      assert.ok(v.accepted, `${b.hash}: ${v.code} ${v.detail}`)
      assert.equal(v.height, b.height)
      assert.equal(toHex(v.verifier), status.relay.verifier)
      assert.ok(await verifyVerdictSignature(v))
    }
    assert.equal((await getJson<Status>(r, '/api/status')).hash, child.hash)
    accepted.push({ hash: parent.hash, height: parent.height }, { hash: child.hash, height: child.height })
    const junk = await fetch(new URL('/api/verdicts?blocks=zz', r.url))
    assert.equal(junk.status, 400)
  })

  it('a transfer of a block reward goes through the mempool into a mined block; bad ones are refused; the money reconciles', { timeout: MINING_MS * 2 + WAIT_MS * 2 }, async () => {
    assert.ok(mining, 'needs the miner of the previous tests')
    const r = relay!
    const { keys } = mining
    const status = await getJson<Status>(r, '/api/status')
    const params = chainParams(status)
    assert.equal(status.chain.coinbaseMaturity, 1)
    assert.equal(status.chain.network, 'pouw-local-m1')
    const subsidy = BigInt(status.chain.subsidy)
    const wallet = async (key: Uint8Array): Promise<WalletJson> => getJson<WalletJson>(r, `/api/wallet?key=${toHex(key)}`)
    const post = async (tx: Uint8Array): Promise<{ status: number; body: { tx?: string; fee?: string; code?: string; error?: string } }> => {
      const res = await fetch(new URL('/api/tx', r.url), { method: 'POST', body: tx as BodyInit, signal: AbortSignal.timeout(5_000) })
      return { status: res.status, body: (await res.json()) as { tx?: string; code?: string } }
    }

    // every block so far paid the miner: the whole subsidy on genesis or with its parent's approval collected, nothing
    // on a parent no verifier had approved yet (the miner built on its own block at once); with maturity 1 all of it is
    // spendable at the next height
    const w0 = await wallet(keys.publicKey)
    assert.equal(w0.height, status.height)
    assert.ok(w0.coins.length >= 1 && w0.coins.length <= status.height, `${w0.coins.length} coins at height ${status.height}`) // a zero reward makes no coin
    assert.ok(w0.coins.every((c) => c.coinbase && BigInt(c.amount) === subsidy && !c.pending))
    const rewards = w0.coins.reduce((a, c) => a + BigInt(c.amount), 0n)
    assert.ok(rewards >= subsidy, 'at least the block on genesis paid the subsidy')
    assert.deepEqual(w0.balance, { total: String(rewards), spendable: String(rewards), immature: '0', locked: '0' })

    const payee = generateKeyPair()
    const amount = 12_3456_7890n
    const source = walletSourceFromJson(w0, params)
    const tx = await new Wallet(keys).send(source, payee.publicKey, amount, { feeRate: 2n })
    assert.equal(tx.inputs.length, 1)
    const fee = subsidy - tx.outputs.reduce((a, o) => a + o.amount, 0n)

    // refused, each with its reason, and nothing kept: a forged signature, junk, too low a fee
    const forged: TransferTx = { ...tx, inputs: tx.inputs.map((i) => ({ ...i, signature: i.signature.map((b, n) => (n === 0 ? b ^ 1 : b)) })) }
    const refusal = await post(txToBytes(forged))
    assert.deepEqual([refusal.status, refusal.body.code], [400, 'LEDGER_BAD_SIGNATURE'])
    assert.match((await post(Uint8Array.from([0, 1, 9, 9]))).body.code ?? '', /^PROTOCOL_/)
    const free: TransferTx = await signTransfer({ type: 'transfer', inputs: tx.inputs, outputs: [payTo(payee.publicKey, subsidy)] }, [keys.secretKey])
    assert.equal((await post(txToBytes(free))).body.code, 'LEDGER_MEMPOOL_FEE_TOO_LOW')
    const mempoolHashes = async (): Promise<string[]> => (await getJson<Array<{ tx: string }>>(r, '/api/mempool')).map((m) => m.tx)

    // accepted; then a second spend of the same coin is a conflict, and the coin shows as pending
    const ok = await post(txToBytes(tx))
    assert.equal(ok.status, 200, JSON.stringify(ok.body))
    assert.deepEqual(ok.body, { tx: toHex(txHash(tx)), fee: fee.toString(), size: txToBytes(tx).length, status: 'accepted' })
    assert.equal((await post(txToBytes(tx))).body.code, 'LEDGER_MEMPOOL_DUPLICATE')
    const twice = await new Wallet(keys).send(source, generateKeyPair().publicKey, amount, { feeRate: 3n })
    assert.deepEqual(twice.inputs.map((i) => toHex(i.prevout.txHash)), tx.inputs.map((i) => toHex(i.prevout.txHash)))
    assert.equal((await post(txToBytes(twice))).body.code, 'LEDGER_MEMPOOL_CONFLICT')
    const w1 = await wallet(keys.publicKey)
    assert.equal(w1.coins.filter((c) => c.pending).length, 1)
    assert.equal(w1.balance.locked, String(subsidy))
    const mp = await getJson<Array<{ tx: string; fee: string }>>(r, '/api/mempool')
    // (besides any evaluator ticket purchase of the relay's own: evaluatorTickets.ts)
    assert.deepEqual(mp.filter((m) => m.tx === toHex(txHash(tx))).map((m) => [m.tx, m.fee]), [[toHex(txHash(tx)), fee.toString()]])

    // the template: the transfer and its fee on our tip, nothing on any other parent
    // (the supervisors' MESSAGE_HISTORY anchor comes with any template; checked below, in a mined block)
    const templateFor = async (hash: string): Promise<Omit<TemplateJson, 'history'>> => {
      const { history: _anchor, ...t } = await getJson<TemplateJson>(r, `/api/template?parent=${hash}`)
      return t
    }
    assert.deepEqual(await templateFor(status.chain.genesis), { parent: status.chain.genesis, txs: [], fees: '0', approvals: [], subsidy: status.chain.subsidy })
    assert.deepEqual(await templateFor('ab'.repeat(32)), { parent: 'ab'.repeat(32), txs: [], fees: '0', approvals: [], subsidy: '0' })
    assert.equal((await fetch(new URL('/api/template?parent=xyz', r.url))).status, 400)

    // mine on the relay's tip with its template until a block carries the transfer
    const carried = await mineWithTemplates(async (b) => b.txs.some((t) => toHex(txHash(t)) === toHex(txHash(tx))))
    const block = (await r.chain.getBlock(carried))!
    assert.ok(block.txs.slice(1).some((t) => toHex(txHash(t)) === toHex(txHash(tx))))
    // the whole subsidy, with its parent's approval by the relay (the one verifier): the precursor it sealed and revealed;
    // the relay is paid 10% of it, the miner the rest and the fee
    const cb = block.txs[0]!
    assert.ok(cb.type === 'coinbase' && cb.collect !== undefined)
    assert.equal(toHex(cb.collect.block), toHex(block.header.prevHash))
    assert.deepEqual(cb.collect.approvals.map((a) => toHex(a.verifier)), [status.relay.verifier])
    assert.deepEqual(cb.outputs.map((o) => [toHex(o.recipient), o.amount]), [[toHex(cb.outputs[0]!.recipient), subsidy - subsidy / 10n + fee], [status.relay.verifier, subsidy / 10n]])
    const parentVerdict = (await getJson<Array<{ verifier: string; verdict: string; reveal?: string }>>(r, `/api/verdicts?blocks=${toHex(block.header.prevHash)}`))[0]!
    assert.equal(toHex(verdictFromBytes(fromHex(parentVerdict.verdict)).seal), toHex(verdictSeal(block.header.prevHash, fromHex(status.relay.verifier), cb.collect.approvals[0]!.precursor)))
    assert.equal(parentVerdict.reveal, toHex(revealToBytes({ blockHash: block.header.prevHash, approval: cb.collect.approvals[0]! })))
    // and the supervisors' MESSAGE_HISTORY: an agreed slot, the one the relay serves, threshold-signed (the chain checked it)
    assert.ok(cb.history !== undefined, 'the coinbase anchors the message history')
    const slots = await getJson<Array<{ slot: number; hash: string }>>(r, '/api/history')
    assert.equal(slots.find((x) => x.slot === cb.history!.record.slot)?.hash, toHex(slotHash(cb.history.record)))
    const info = (await getJson<BlockInfo[]>(r, '/api/blocks')).find((b) => b.hash === carried)!
    assert.deepEqual(info.anchored, { slot: cb.history.record.slot, hash: toHex(slotHash(cb.history.record)) })
    assert.equal(info.collected?.length, 1)

    // the payee holds the amount, the miner the change; the mempool is empty; supply reconciles to the unit
    const paid = await wallet(payee.publicKey)
    assert.deepEqual(paid.coins.map((c) => [c.txHash, c.amount, c.coinbase]), [[toHex(txHash(tx)), amount.toString(), false]])
    assert.equal(paid.balance.spendable, amount.toString())
    const after = await getJson<Status>(r, '/api/status')
    assert.ok(!(await mempoolHashes()).includes(toHex(txHash(tx))), 'the mined transfer left the mempool')
    assert.ok(after.mempool.txAccepted >= 1 && after.mempool.txRefused >= 4, JSON.stringify(after.mempool))
    const supply = await getJson<{ height: number; coinbases: string; fees: string; utxo: string }>(r, '/api/supply')
    assert.equal(supply.height, after.height)
    // the blocks' coinbases claimed the transfer's fee and those of any ticket the relay bought meanwhile
    const fees = BigInt(supply.fees)
    assert.ok(fees >= fee)
    assert.equal(BigInt(supply.coinbases), rewards + subsidy * BigInt(after.height - status.height) + fees)
    assert.equal(BigInt(supply.utxo), BigInt(supply.coinbases) - BigInt(supply.fees))
    const mine = await wallet(keys.publicKey)
    const verifier = await wallet(fromHex(status.relay.verifier))
    assert.ok(BigInt(verifier.balance.total) > 0n, 'the relay, the verifier of every block, is paid its 10%')
    assert.equal(BigInt(mine.balance.total) + amount + BigInt(verifier.balance.total), BigInt(supply.utxo), 'the miner, the payee and the verifier hold every coin')
  })

  it('a client stores a task package (checked against its fragment hashes), pays its fee on chain, and revokes it', { timeout: MINING_MS * 4 + WAIT_MS * 2 }, async () => {
    assert.ok(mining, 'needs the miner of the previous tests')
    const r = relay!
    const client = new Wallet(mining.keys) // the miner pays for a task with its rewards
    // a small data set: 300 records of 6 features, 3 classes
    const count = 300
    const features = 6
    const images = Uint8Array.from({ length: count * features }, (_, i) => (i * 37) % 251)
    const labels = Uint8Array.from({ length: count }, (_, i) => i % 3)
    const { spec, fragments } = createClientTask({ count, features, images, labels }, { taskId: Uint8Array.from({ length: 16 }, (_, i) => i + 1), hidden: parseLayers('16'), epochs: 3, classes: 3 })
    const task = toHex(taskHash(spec))
    const postTask = async (body: Uint8Array): Promise<{ status: number; body: Record<string, unknown> }> => {
      const res = await fetch(new URL('/api/tasks', r.url), { method: 'POST', body: body as BodyInit, signal: AbortSignal.timeout(10_000) })
      return { status: res.status, body: (await res.json()) as Record<string, unknown> }
    }
    const listed = async (): Promise<TaskListing | undefined> => (await getJson<TaskListing[]>(r, '/api/tasks')).find((t) => t.task === task)

    // refused, with the rule, and nothing kept: a fragment that is not the one listed, junk, labels beyond the classes
    const tampered = fragments.map((f, i) => (i === 3 ? f.map((b, j) => (j === 1 ? b ^ 1 : b)) : f))
    const bad = await postTask(taskPackageToBytes(spec, tampered))
    assert.deepEqual([bad.status, bad.body.code], [400, 'DATA_FRAGMENT_HASH_MISMATCH'])
    assert.match(String((await postTask(Uint8Array.from([0, 1, 0]))).body.code), /^PROTOCOL_/)
    const twoClasses = { ...spec, net: mlpNet([features, 16, 2]) }
    assert.equal((await postTask(taskPackageToBytes(twoClasses, fragments))).body.code, 'DATA_BAD_PARAMS')
    assert.deepEqual(await getJson<unknown[]>(r, '/api/tasks'), [])

    // stored once; no fragment is served before the task-definition block (its hash decides the test split)
    assert.deepEqual((await postTask(taskPackageToBytes(spec, fragments))).body, { task, status: 'stored', records: count, fragments: 10 })
    assert.equal((await postTask(taskPackageToBytes(spec, fragments))).body.status, 'known')
    assert.equal((await fetch(new URL(`/data/tasks/${task}/7`, r.url))).status, 403)
    assert.deepEqual((await listed())?.fee, { state: 'unpaid', amount: '0', client: null, revokeBefore: null, reclaimFrom: null, outpoints: [] })
    const one = await getJson<{ spec: string; model: string; parameters: number }>(r, `/api/task?hash=${task}`)
    assert.equal(one.spec, toHex(taskToBytes(spec)))
    assert.deepEqual([one.model, one.parameters], [`[${features}] → dense 16 relu → dense 3`, features * 16 + 16 + 16 * 3 + 3])

    // PAY_FOR_TASK: pending in the mempool, then revocable on chain
    const fee = 5n * 100_000_000n
    const st = await getJson<Status>(r, '/api/status')
    const revokeBefore = st.height + 50
    const pay = await client.payForTask(walletSourceFromJson(await getJson<WalletJson>(r, `/api/wallet?key=${toHex(mining.keys.publicKey)}`), chainParams(st)), taskHash(spec), fee, revokeBefore)
    const posted = await fetch(new URL('/api/tx', r.url), { method: 'POST', body: txToBytes(pay) as BodyInit })
    assert.equal(posted.status, 200, await posted.clone().text())
    assert.equal((await listed())?.fee.state, 'pending')
    await mineWithTemplates(async (b) => b.txs.some((t) => toHex(txHash(t)) === toHex(txHash(pay))))
    const paid = (await listed())!.fee
    assert.deepEqual({ ...paid, outpoints: paid.outpoints.length }, { state: 'revocable', amount: fee.toString(), client: toHex(mining.keys.publicKey), revokeBefore, reclaimFrom: revokeBefore + TASK_FEE_RECLAIM_BLOCKS, outpoints: 1 })

    // REVOKE_TASK: the fee goes back to the client, minus the transfer's fee
    const outpoint = { txHash: fromHex(paid.outpoints[0]!.split(':')[0]!), index: Number(paid.outpoints[0]!.split(':')[1]) }
    const s2 = await getJson<Status>(r, '/api/status')
    const revoke = await client.revokeTask(walletSourceFromJson(await getJson<WalletJson>(r, `/api/wallet?key=${toHex(mining.keys.publicKey)}`), chainParams(s2)), outpoint)
    assert.equal((await fetch(new URL('/api/tx', r.url), { method: 'POST', body: txToBytes(revoke) as BodyInit })).status, 200)
    await mineWithTemplates(async (b) => b.txs.some((t) => toHex(txHash(t)) === toHex(txHash(revoke))))
    assert.equal((await listed())?.fee.state, 'unpaid')
    const supply = await getJson<{ coinbases: string; fees: string; utxo: string }>(r, '/api/supply')
    assert.equal(BigInt(supply.utxo), BigInt(supply.coinbases) - BigInt(supply.fees))
  })

  it('a paid task runs to CHARGE_FOR_TASK: miner tickets join on chain, are selected and train; the evaluator scores and splits the fee on chain; the best model downloads', { timeout: MINING_MS * 10 + WAIT_MS * 4 }, async () => {
    assert.ok(mining, 'needs the miner of the previous tests')
    const r = relay!
    const payer = new Wallet(mining.keys)
    const [w1, w2, outsider] = [new Wallet(), new Wallet(), new Wallet()]
    const source = async (key: Uint8Array) => walletSourceFromJson(await getJson<WalletJson>(r, `/api/wallet?key=${toHex(key)}`), chainParams(await getJson<Status>(r, '/api/status')))
    const postTx = async (tx: TransferTx): Promise<void> => {
      const res = await fetch(new URL('/api/tx', r.url), { method: 'POST', body: txToBytes(tx) as BodyInit })
      assert.equal(res.status, 200, await res.text())
    }
    const mined = (tx: TransferTx) => async (b: Block): Promise<boolean> => b.txs.some((t) => toHex(txHash(t)) === toHex(txHash(tx)))
    const COIN = 100_000_000n
    const fund = await payer.createTransfer(await source(mining.keys.publicKey), { outputs: [payTo(w1.keys.publicKey, COIN), payTo(w2.keys.publicKey, COIN)] })
    await postTx(fund)
    await mineWithTemplates(mined(fund))

    // a learnable data set: the class is the quadrant of features 0 and 1
    const count = 400
    const images = new Uint8Array(count * 4).map((_, i) => (i * 7919 + (i >> 2) * 104729) % 256)
    const labels = Uint8Array.from({ length: count }, (_, i) => (images[i * 4]! >= 128 ? 1 : 0) + (images[i * 4 + 1]! >= 128 ? 2 : 0))
    const dataset = { count, features: 4, images, labels }
    const { spec, fragments } = createClientTask(dataset, { taskId: new Uint8Array(16).fill(42), hidden: parseLayers('16'), epochs: 6, classes: 4 })
    const task = toHex(taskHash(spec))
    assert.equal((await fetch(new URL('/api/tasks', r.url), { method: 'POST', body: taskPackageToBytes(spec, fragments) as BodyInit })).status, 200)

    // BUY_TICKETS (a miner stake each) and PAY_FOR_TASK, mined together
    const h0 = (await getJson<Status>(r, '/api/status')).height
    const stake = (w: Wallet) => ({
      amount: 10_000_000n, recipient: w.keys.publicKey,
      lock: { kind: 'stake' as const, role: 0, preferences: [1], expiry: h0 + 1000, vrfPublicKey: vrfPublicKey(deriveVrfSecretKey(w.keys.secretKey)) },
    })
    const tickets = [await w1.createTransfer(await source(w1.keys.publicKey), { outputs: [stake(w1)] }), await w2.createTransfer(await source(w2.keys.publicKey), { outputs: [stake(w2)] })]
    const fee = 3n * COIN
    const revokeBefore = h0 + 4
    const pay = await payer.payForTask(await source(mining.keys.publicKey), taskHash(spec), fee, revokeBefore)
    for (const t of [...tickets, pay]) await postTx(t)
    await mineWithTemplates(mined(pay))
    const run = (): Promise<Record<string, any>> => getJson<Record<string, any>>(r, `/api/task/run?hash=${task}`)
    assert.equal((await run()).phase, 'waiting')

    // the task-definition block: JOIN_TASK transactions move the tickets' stakes to the task, with their VRF proofs
    await mineWithTemplates(async () => (await getJson<Status>(r, '/api/status')).height >= revokeBefore)
    const tdb = (await waitFor('the task-definition block', async () => (await run()).definitionBlock ?? undefined)) as { height: number; hash: string }
    assert.equal(tdb.height, revokeBefore)
    const join = async (w: Wallet, ticket: TransferTx): Promise<TransferTx> => {
      const pi = proveSelection(deriveVrfSecretKey(w.keys.secretKey), fromHex(tdb.hash), 'miner', w.keys.publicKey).pi
      return w.joinTask(await source(w.keys.publicKey), { txHash: txHash(ticket), index: 0 }, taskHash(spec), pi)
    }
    const joins = [await join(w1, tickets[0]!), await join(w2, tickets[1]!)]
    const forged = await fetch(new URL('/api/tx', r.url), { method: 'POST', body: txToBytes(await signTransfer(joins[1]!, [w1.keys.secretKey])) as BodyInit })
    assert.deepEqual([forged.status, ((await forged.json()) as { code: string }).code], [400, 'LEDGER_BAD_SIGNATURE'], 'a ticket joins under its owner\'s signature only')
    const spend = await fetch(new URL('/api/tx', r.url), {
      method: 'POST', body: txToBytes(await signTransfer({ type: 'transfer', inputs: joins[0]!.inputs, outputs: [payTo(w1.keys.publicKey, 9_000_000n)] }, [w1.keys.secretKey])) as BodyInit,
    })
    assert.deepEqual([spend.status, ((await spend.json()) as { code: string }).code], [400, 'LEDGER_LOCKED'], 'a ticket is not spent before its expiry but to join')
    for (const j of joins) await postTx(j)
    await mineWithTemplates(async () => (await run()).joins.length === 2)
    const joined = (await run()).joins as { outpoint: string; key: string; stake: string; height: number }[]
    assert.deepEqual(joined.map((j) => j.key).sort(), [w1, w2].map((w) => toHex(w.keys.publicKey)).sort())
    for (const j of joined) assert.ok(j.height > tdb.height && j.height <= tdb.height + JOIN_BLOCKS, 'joined in the window')

    // the block JOIN_BLOCKS after the TDB, SELECT_DEPTH deep: the committee is selected from the chain; the miners fetch the training fragments (not the test ones) and train
    await mineWithTemplates(async () => (await getJson<Status>(r, '/api/status')).height >= tdb.height + JOIN_BLOCKS + SELECT_DEPTH)
    const selection = (await waitFor('the selection', async () => (await run()).selection ?? undefined)) as { miners: { key: string; ticket: string; stake: string }[]; outcome: string; joined: unknown[] }
    assert.equal(selection.outcome, 'completed')
    assert.deepEqual(selection.miners.map((m) => m.key).sort(), [w1, w2].map((w) => toHex(w.keys.publicKey)).sort())
    assert.deepEqual(selection.joined, joined)
    const stakeOf = (w: Wallet): bigint => BigInt(joined.find((j) => j.key === toHex(w.keys.publicKey))!.stake)
    const plan = new TaskData(spec, dataset, taskSeed(fromHex(tdb.hash), spec)).plan
    const got: Uint8Array[] = []
    for (let i = 0; i < fragments.length; i++) {
      const res = await fetch(new URL(`/data/tasks/${task}/${i}`, r.url))
      if (plan.trainFragments.includes(i)) got.push(new Uint8Array(await res.arrayBuffer()))
      else { assert.equal(res.status, 403, `test fragment ${i} is held back`); got.push(new Uint8Array(fragments[i]!.length)) }
    }
    const minerData = new TaskData(spec, datasetFromFragments(got, 4), taskSeed(fromHex(tdb.hash), spec))
    const engine = await createNodeEngine(spec.net)
    const theta1 = await trainTask(engine, minerData)
    const theta2 = await trainTask(engine, minerData, { shouldStop: (() => { let n = 0; return () => n++ >= minerData.plan.batchCount })() }) // a lazier miner: one epoch
    const postModel = async (m: Uint8Array): Promise<Response> => fetch(new URL(`/api/task/model?task=${task}`, r.url), { method: 'POST', body: m as BodyInit })
    const notSelected = await postModel(finalModelToBytes(await signFinalModel(taskHash(spec), outsider.keys, theta1)))
    assert.deepEqual([notSelected.status, ((await notSelected.json()) as { code: string }).code], [403, 'RELAY_NOT_SELECTED'])
    assert.equal((await postModel(finalModelToBytes(await signFinalModel(taskHash(spec), w1.keys, theta1)))).status, 200)
    assert.equal((await postModel(finalModelToBytes(await signFinalModel(taskHash(spec), w2.keys, theta2)))).status, 200)

    // the evaluator (this relay: the chain's one evaluator) scores both, commits, reveals, approves; a block mines the charge
    await waitFor('the evaluators\' decision', async () => (await run()).result?.submitted ?? undefined, WAIT_MS * 2)
    const result = (await run()).result
    let minedCharge = ''
    await mineWithTemplates(async (b) => {
      const c = b.txs.find((t) => t.type === 'transfer' && t.charge !== undefined && toHex(t.charge.taskHash) === task)
      if (c !== undefined) minedCharge = toHex(txHash(c))
      return c !== undefined
    })
    const done = await waitFor('the task charged', async () => { const s = await run(); return s.phase === 'charged' ? s : undefined })
    const scores = new Map((done.myScores as { miner: string; scorePpm: number }[]).map((s) => [s.miner, s.scorePpm]))
    const [s1, s2] = [scores.get(toHex(w1.keys.publicKey))!, scores.get(toHex(w2.keys.publicKey))!]
    assert.ok(s1 > 600_000, `the fully trained model scores well above chance: ${s1} ppm`)
    // the best score, ties to the lower key (ledger bestMinerOf): the lazy miner's one epoch can score as well
    const [k1, k2] = [toHex(w1.keys.publicKey), toHex(w2.keys.publicKey)]
    assert.equal(result.bestMiner, s1 !== s2 ? (s1 > s2 ? k1 : k2) : (k1 < k2 ? k1 : k2))
    // the split: miners by score, the relay as supervisor and evaluator; the whole fee but the charge's own transaction fee;
    // both miners posted a model, so each stake comes back whole, as a payout of its own
    const payouts = result.payouts as { recipient: string; amount: string }[]
    // the relay evaluated with an evaluator ticket it bought from its verifier rewards and joined the task with
    // (evaluatorTickets.ts): selected by its VRF proof, its stake comes back through the charge too
    const verifierKey = (await getJson<Status>(r, '/api/status')).relay.verifier
    const seated = (done.selection as { evaluators: { key: string; stake: string }[] }).evaluators
    assert.deepEqual(seated.map((e) => e.key), [verifierKey])
    const evaluatorStake = BigInt(seated[0]!.stake)
    const stakes = stakeOf(w1) + stakeOf(w2) + evaluatorStake
    for (const w of [w1, w2]) assert.ok(payouts.some((p) => p.recipient === toHex(w.keys.publicKey) && BigInt(p.amount) === stakeOf(w)), 'the stake is returned')
    const paidTo = (k: Uint8Array): bigint => payouts.filter((p) => p.recipient === toHex(k)).reduce((a, p) => a + BigInt(p.amount), 0n)
    const total = payouts.reduce((a, p) => a + BigInt(p.amount), 0n) - stakes
    assert.ok(total < fee && fee - total < 2_000n, `the fee is split to the unit but the transaction fee: ${fee - total}`)
    const [r1, r2] = [paidTo(w1.keys.publicKey) - stakeOf(w1), paidTo(w2.keys.publicKey) - stakeOf(w2)]
    assert.ok(r1 > 0n && r2 > 0n)
    const skew = r1 * BigInt(s2) - r2 * BigInt(s1)
    assert.ok((skew < 0n ? -skew : skew) <= BigInt(s1 + s2), 'miners are paid in proportion to their scores (to the unit)')
    assert.equal(paidTo(fromHex(verifierKey)), total - r1 - r2 + evaluatorStake)
    const w1Wallet = await getJson<WalletJson>(r, `/api/wallet?key=${toHex(w1.keys.publicKey)}`)
    assert.ok(w1Wallet.coins.some((c) => BigInt(c.amount) === r1), 'the miner\'s reward is its coin on chain')
    assert.ok(w1Wallet.coins.some((c) => BigInt(c.amount) === stakeOf(w1)), 'and so is its stake, back')
    const supply = await getJson<{ coinbases: string; fees: string; utxo: string }>(r, '/api/supply')
    assert.equal(BigInt(supply.utxo), BigInt(supply.coinbases) - BigInt(supply.fees))
    const listing = (await getJson<TaskListing[]>(r, '/api/tasks')).find((t) => t.task === task)
    assert.equal(done.chargeTx, minedCharge, 'the run names the mined charge (approvals included)')
    assert.deepEqual([listing?.fee.state, listing?.fee.amount, listing?.fee.charge], ['charged', total.toString(), minedCharge], 'the listing shows the fee paid out (the stakes returned are not fee)')

    // the best model, in TensorFlow.js format; its accuracy on the (now revealed) test split is the evaluator's figure
    const modelJson = await (await fetch(new URL(`/data/tasks/${task}/model.json`, r.url))).json() as { modelTopology: object; weightsManifest: { weights: tf.io.WeightsManifestEntry[] }[] }
    const weights = await (await fetch(new URL(`/data/tasks/${task}/weights.bin`, r.url))).arrayBuffer()
    const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: modelJson.modelTopology, weightSpecs: modelJson.weightsManifest[0]!.weights, weightData: weights }))
    const revealed: Uint8Array[] = []
    for (let i = 0; i < fragments.length; i++) revealed.push(new Uint8Array(await (await fetch(new URL(`/data/tasks/${task}/${i}`, r.url))).arrayBuffer()))
    assert.deepEqual(revealed, fragments, 'every fragment is served once the task is charged')
    const { x, labels: y } = loadBatch(dataset, plan.testRecords)
    const predicted = tf.tidy(() => (model.predict(tf.tensor2d(x, [y.length, 4])) as tf.Tensor).argMax(1).dataSync())
    const correct = y.reduce((n, l, i) => n + (predicted[i] === l ? 1 : 0), 0)
    assert.equal(Math.floor((correct * 1_000_000) / y.length), result.bestScorePpm)
    charged = { task, run: await run(), testFragment: fragments.findIndex((_, i) => !plan.trainFragments.includes(i)) }
  })

  it('reopens on the same data directory with the same tip, keys and peer id', { timeout: WAIT_MS * 2 }, async () => {
    assert.ok(accepted.length >= BLOCKS_WANTED + 3, 'needs the blocks of the previous tests')
    const first = await getJson<Status>(relay!, '/api/status')
    const supplyBefore = await getJson<unknown>(relay!, '/api/supply')
    await client!.stop()
    client = undefined
    await relay!.stop()
    relay = undefined

    // a block's evidence is kept for the last EVIDENCE_KEPT heights only: read from the store the relay left
    assert.ok(first.height > EVIDENCE_KEPT + 1, 'enough blocks for some evidence to be swept')
    const closed = await LevelStore.open(path.join(dataDir, 'chain'))
    const heights: number[] = []
    for await (const [key] of closed.iterate('relay/evidence/')) heights.push(Number(key.split('/')[2]))
    await closed.close()
    assert.ok(heights.length >= EVIDENCE_KEPT && heights.every((h) => h > first.height - EVIDENCE_KEPT), `evidence kept at heights ${heights.join(',')} (tip ${first.height})`)

    relay = await startRelay()
    const again = await getJson<Status>(relay, '/api/status')
    assert.equal(again.height, first.height)
    assert.equal(again.hash, first.hash)
    assert.equal(again.hash, accepted.at(-1)!.hash)
    assert.equal(again.chain.genesis, first.chain.genesis)
    // difficulty adjustment: blocks seconds apart against a 30 s target made it harder; the tip's window survives
    assert.ok(targetFromBits(first.chain.nextBits) < targetFromBits(first.chain.bits), 'the difficulty rose above the genesis one')
    assert.deepEqual(again.chain.window, first.chain.window)
    assert.equal(again.chain.nextBits, first.chain.nextBits)
    assert.equal(again.relay.peerId, first.relay.peerId)
    assert.equal(again.relay.verifier, first.relay.verifier)
    assert.equal(again.task.hash, first.task.hash)
    assert.deepEqual(await getJson<unknown>(relay, '/api/supply'), supplyBefore, 'the UTXO set survives the restart')
    const blocks = await getJson<BlockInfo[]>(relay, '/api/blocks?limit=200')
    assert.deepEqual(blocks.filter((b) => b.height > 0).map((b) => b.hash).sort(), accepted.map((a) => a.hash).sort())
    // the charged task's evaluation survives too: its run, its model and its test split are still served
    assert.ok(charged, 'needs the charged task of the task-run test')
    const run = await getJson<Record<string, unknown>>(relay, `/api/task/run?hash=${charged.task}`)
    for (const field of ['phase', 'definitionBlock', 'selection', 'models', 'commits', 'reveals', 'approvals', 'myScores', 'result', 'charged', 'chargeTx']) {
      // `submitted` is what this process handed to its mempool, not kept across a restart
      const strip = (v: unknown): unknown => (field === 'result' && v !== null ? { ...(v as object), submitted: null } : v)
      assert.deepEqual(strip(run[field]), strip(charged.run[field]), `${field} after the restart`)
    }
    const base = relay.url
    assert.ok(charged.testFragment >= 0)
    for (const file of ['model.json', 'weights.bin', String(charged.testFragment)]) {
      const res: Response = await fetch(new URL(`/data/tasks/${charged.task}/${file}`, base))
      assert.equal(res.status, 200, `${file} after the restart`)
    }
  })
})
