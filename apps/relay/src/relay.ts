import { readFileSync, writeFileSync, existsSync } from 'node:fs'
import type { Server } from 'node:http'
import path from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import {
  PouwError, TOPICS, VERIFIERS_PER_BLOCK, ZERO_HASH, blockFromBytes, chooseVerifiers, verifierQuorum, type ItRes, fromHex, hashMeetsTarget, targetFromBits, headerHash, isPouwError, itResBatchFromBytes, itResFromBytes,
  itResHash, describeNet, noncesPerIteration, parameterCount, signVerdict, submissionFromBytes, taskHash, taskToBytes, txToBytes,
  toHex, verdictFromBytes, verdictToBytes, verifyItResSignature, verifyVerdictSignature, bytesEqual, epochMessageFromBytes, epochMessageToBytes, evidenceFromBytes, slotHash,
  type Block, type HistoryAnchor, type TaskSpec, type Verdict,
} from '@pouw/protocol'
import {
  COINBASE_MATURITY, Chain, LEDGER_ERRORS, LEDGER_INVALID_BLOCK_CODES, LevelStore, anchorRule, coinbaseMaturity, difficultyToBits, timingOf,
  type ChainParams, type IterateOptions, type KeyValueStore, type VerificationParams,
} from '@pouw/ledger'
import {
  METRICS_WINDOW, TaskData, createMnistTask, fragmentBytes, taskFragments, taskSeed, verifyProofOfUsefulWork,
  type Dataset, type GradientEngine, type RecordedLoss,
} from '@pouw/trainer'
import { MNIST_DIR, MNIST_FILES, createNodeEngine, loadMnistAll } from '@pouw/trainer/node'
import { Supervisor } from './supervisor.js'
import { createLedgerApi } from './ledgerApi.js'
import { createEvaluatorTickets } from './evaluatorTickets.js'
import { TASK_RUNS_TOPIC, TASK_RUN_RULES, TICKET_PARAMS, createTaskRuns } from './taskRuns.js'
import { createClientTasks } from './clientTasks.js'
import { HttpError, createHttpServer, handOnToRelays } from './http.js'
import { createVerifications, type HeldVerdict } from './verifications.js'
import { relayVerifierKeys } from './keys.js'
import { EVIDENCE_KEEP, evidenceKey, pruneEvidence } from './evidence.js'
import { createRelayNetwork, type PubSubNetwork } from '@pouw/network/node'

export interface RelayOptions {
  host: string
  httpPort: number
  p2pPort: number
  dataDir: string
  /** about this many header hashes per block at genesis, and at the easiest (the proof-of-work limit) */
  difficulty: bigint
  /** the block time difficulty adjustment holds, seconds (default BLOCK_SECONDS, 30) */
  blockSeconds?: number
  webDir: string
  /** other relays' libp2p multiaddrs (…/ws/p2p/ID), kept connected so that gossip crosses relays */
  peers?: string[]
  /** supervisors in the testnet's committee (its relay count); 1 for a lone relay */
  supervisors?: number
  /** epoch 0 starts once this many miners joined (and joinGraceMs later) */
  minMiners?: number
  joinGraceMs?: number
  /** the built-in task's stopping rule */
  epochs?: number
  /** verifiers chosen from the committee for each block (§5.2; default VERIFIERS_PER_BLOCK, ten) */
  verifiersPerBlock?: number
  /** blocks a coinbase output waits before it may be spent (default COINBASE_MATURITY, 10) */
  coinbaseMaturity?: number
  /** heights of block evidence kept below the tip (default EVIDENCE_KEEP, 100; evidence.ts) */
  evidenceKeep?: number
  /**
   * The network's relays (hex Ed25519 keys: their verifier keys), default this relay alone: the
   * chain's verifiers and the evaluators' federation, ceil(2n/3) of which approve a CHARGE_FOR_TASK,
   * each with the evaluator ticket it joined the task with. Every relay of a testnet must be given
   * the same list, or they disagree on blocks holding charges.
   */
  evaluators?: string[]
  log?: (msg: string, ctx?: Record<string, unknown>) => void
}

export interface BlockInfo {
  height: number
  hash: string
  miner: string | null // null only for the genesis block
  iteration: number
  backend: string
  time: number
  receivedAt: number
  verify: { checksMs: number; rerunMs: number; inBandDisagreements: number; mapSize: number }
  /** the signed verdicts of the committee's verifiers (this relay's own included) on this block */
  confirmations?: Confirmation[]
  /**
   * Set when this relay was not one of the block's chosen verifiers: it did not re-run the block and
   * took it on these verifiers' accepting verdicts (a quorum of the chosen).
   */
  takenOn?: string[]
  /** what the block's coinbase paid (base units, decimal) and whose approvals of its parent it collected (§9.6) */
  reward?: string
  collected?: string[]
  /** the MESSAGE_HISTORY slot its coinbase anchored, and that slot's hash (§9.7) */
  anchored?: { slot: number; hash: string }
}

/** One verifier's signed verdict on a block, as recorded by this relay. */
export interface Confirmation { verifier: string; accepted: boolean; code: string }

/** `peerAtFault`: the block breaks a rule for good (vs. unknown parent, a clock ahead of ours: maybe valid later). */
export interface Rejection { at: number; blockHash: string; code: string; detail: string; from: string; peerAtFault: boolean }

function peerAtFault(code: string): boolean {
  return code.startsWith('PROTOCOL_') || code.startsWith('POUW_') || LEDGER_INVALID_BLOCK_CODES.has(code)
}

/** How long a verifier waits for a block's IT_RES messages to be agreed into the message history. */
const HISTORY_WAIT_MS = 120_000
/**
 * How long a relay that is not among a block's verifiers waits for a quorum of their verdicts: two
 * history waits and a minute. Set when relays took blocks strictly one at a time, waits included: a
 * verifier could first wait out another block's history or verdicts before it started on this one,
 * and a verdict once came 33 ms after the others' wait had ended. Now only re-runs and storing are
 * one at a time (onBlock), and a long wait holds up no other block.
 */
const QUORUM_WAIT_MS = 2 * HISTORY_WAIT_MS + 60_000
/** How often a relay asks the others for the verdicts gossip lost, on how many recent blocks (syncConfirmations). */
const CONFIRMATION_SYNC_MS = 10_000
const CONFIRMATION_SYNC_BLOCKS = 64
/** How many blocks waiting for their parent a relay keeps, and for how long (see holdOrphan). */
const ORPHAN_MAX = 64
const ORPHAN_WAIT_MS = HISTORY_WAIT_MS
/** How many blocks refused for late verdicts a relay keeps asking about, and for how long (see takeOnVerdicts). */
const UNCONFIRMED_MAX = 16
const UNCONFIRMED_KEEP_MS = 10 * 60_000
/** How many blocks may wait (for their history slot or their verdicts) at once; more are dropped, logged. */
const PREPARING_MAX = 256

export interface Relay {
  url: string
  network: PubSubNetwork
  chain: Chain
  task: TaskSpec
  supervisor: Supervisor
  stop(): Promise<void>
}

const enc = new TextEncoder()
const dec = new TextDecoder()
const KEYS = {
  info: (hashHex: string) => `relay/info/${hashHex}`,
  history: (miner: string, iteration: number) => `relay/history/${miner}/${iteration.toString(16).padStart(8, '0')}`,
  historyPrefix: (miner: string) => `relay/history/${miner}/`,
  /** the loss and accuracy a miner reported for an iteration (two f32), for the metrics-window check */
  metrics: (miner: string, iteration: number) => `relay/metrics/${miner}/${iteration.toString(16).padStart(8, '0')}`,
  metricsPrefix: (miner: string) => `relay/metrics/${miner}/`,
  verdictPrefix: (blockHex: string) => `relay/verdict/${blockHex}/`,
  verdict: (blockHex: string, verifierHex: string) => `relay/verdict/${blockHex}/${verifierHex}`,
  rejection: (at: number, n: number) => `relay/rejected/${at.toString(16).padStart(12, '0')}${n.toString(16).padStart(4, '0')}`,
}

/** The local testnet's target block time, seconds (POUW_BLOCK_SECONDS). */
export const BLOCK_SECONDS = 30

/**
 * The local testnet's chain. `coinbaseMaturity` (default COINBASE_MATURITY, 10 blocks) may be
 * lowered for a short testnet. It is a consensus rule that the genesis block does not show, so it
 * enters the network's name (in /api/status) for people and tests to see; nothing compares names:
 * relays with different values disagree only on blocks whose transfers spend young rewards
 * (LEDGER_IMMATURE_COINBASE on the stricter ones). `blockSeconds` enters the name too (`-t<seconds>`),
 * but relays with different values disagree on nearly every block's bits (LEDGER_BAD_BITS): give
 * every relay of a testnet the same value. A store opens with another value without complaint (its
 * blocks are not checked again); new blocks follow the new rule.
 *
 * Difficulty adjustment (ledger difficulty.ts): a target spacing of `blockSeconds`, a half-life of
 * 20 block times (10 minutes at 30 s) and solve times clamped to ±5 block times, so one block moves
 * the target by at most 2^(5/20), about 19%. The genesis difficulty is also the easiest one (the
 * proof-of-work limit, as in Bitcoin): slow blocks bring the difficulty back down to `difficulty`,
 * never below, so a testnet with few volunteers is never flooded with cheap blocks.
 */
export function chainParamsFor(
  difficulty: bigint, coinbaseMaturity = COINBASE_MATURITY, evaluators: Uint8Array[] = [], blockSeconds = BLOCK_SECONDS, verification?: VerificationParams,
): ChainParams {
  if (!Number.isInteger(coinbaseMaturity) || coinbaseMaturity < 1 || coinbaseMaturity > 1000) throw new RangeError(`coinbase maturity must be an integer in [1, 1000], got ${coinbaseMaturity}`)
  if (!Number.isInteger(blockSeconds) || blockSeconds < 1 || blockSeconds > 86_400) throw new RangeError(`the block time must be an integer number of seconds in [1, 86400], got ${blockSeconds}`)
  const bits = difficultyToBits(difficulty)
  const name = `pouw-local${coinbaseMaturity === COINBASE_MATURITY ? '' : `-m${coinbaseMaturity}`}${blockSeconds === BLOCK_SECONDS ? '' : `-t${blockSeconds}`}`
  return {
    networkName: name, genesisTime: 1_763_769_600, bits, subsidy: 50_0000_0000n, maxFutureSeconds: 7200, coinbaseMaturity, evaluators, verification,
    // a ticket (stake output) costs at least the ticket price: 0.01 coin, adjusted every 144 blocks toward a pool of 256
    // tickets (Decred's rule, up to 100 coins); at most 50 per block (paper 003 §3.3)
    tickets: {
      price: TICKET_PARAMS.minPrice, maxPerBlock: TICKET_PARAMS.maxTicketsPerBlock, maturity: TICKET_PARAMS.maturity,
      adjust: { window: TICKET_PARAMS.priceWindow, targetPoolSize: TICKET_PARAMS.targetPoolSize, maxPrice: TICKET_PARAMS.maxPrice },
    },
    difficulty: { targetSpacing: blockSeconds, halfLife: 20 * blockSeconds, maxSolveDeviation: 5 * blockSeconds, powLimitBits: bits },
  }
}

/**
 * A relay: the libp2p hub tabs dial, a supervisor recording every IT_RES,
 * a verifier re-running lucky iterations, and a full node keeping the chain
 * in LevelDB. Serves the page and a JSON API on the same HTTP port.
 */
export async function createRelay(opts: RelayOptions, deps: { engine?: GradientEngine; dataset?: Dataset; store?: KeyValueStore } = {}): Promise<Relay> {
  const log = opts.log ?? ((msg, ctx) => console.log(JSON.stringify({ t: new Date().toISOString(), msg, ...ctx })))
  const verifierKeys = relayVerifierKeys(opts.dataDir) // (makes the data directory)
  // several supervisors verify each other's blocks: the chain must name them all, the same on every relay, or the relays'
  // chains split at the first coinbase that collects another relay's approval (and the history anchors fail)
  const supervisors = opts.supervisors ?? 1
  if (supervisors > 1 && opts.evaluators?.length !== supervisors) {
    throw new RangeError(`a testnet of ${supervisors} supervisors needs POUW_EVALUATORS: the ${supervisors} relays' verifier keys (\`DATA_DIR=… npm run relay-key\` prints each), the same list on every relay; got ${opts.evaluators?.length ?? 'none'}`)
  }
  if (opts.evaluators !== undefined && !opts.evaluators.includes(toHex(verifierKeys.publicKey))) {
    throw new RangeError(`POUW_EVALUATORS does not name this relay's own verifier key ${toHex(verifierKeys.publicKey)} (DATA_DIR ${opts.dataDir})`)
  }
  const p2pKey = existsSync(path.join(opts.dataDir, 'p2p.key')) ? new Uint8Array(readFileSync(path.join(opts.dataDir, 'p2p.key'))) : undefined

  // the built-in task's dataset D: MNIST train ++ test, in fragments whose hashes the task lists
  const dataset = deps.dataset ?? loadMnistAll()
  const task = createMnistTask(dataset, opts.epochs !== undefined ? { epochs: opts.epochs } : {})
  const engine = deps.engine ?? (await createNodeEngine(task.net))
  const store = deps.store ?? (await LevelStore.open(path.join(opts.dataDir, 'chain')))
  const evaluators = (opts.evaluators ?? [toHex(verifierKeys.publicKey)]).map((k) => {
    if (!/^[0-9a-f]{64}$/.test(k)) throw new RangeError(`evaluator key ${k} is not 64 lowercase hex digits`)
    return fromHex(k)
  })
  // (Chain.open refuses a list that repeats a key, or names more than 64: they are the verifiers too, collect.ts)
  // the verifiers are the relays' keys, also the evaluators' federation: each block's coinbase claims its subsidy in
  // proportion to its parent's approvals by the verifiers chosen from them, and pays them 10% of it (ledger collect.ts, utxo.ts)
  const verification: VerificationParams = { verifiers: evaluators, perBlock: opts.verifiersPerBlock ?? VERIFIERS_PER_BLOCK, noncesPerIteration: noncesPerIteration(task) }
  const params = chainParamsFor(opts.difficulty, opts.coinbaseMaturity, evaluators, opts.blockSeconds, verification)
  const chain = await Chain.open(store, params)
  const itresTopic = TOPICS.itres(toHex(task.taskId))
  const epochsTopic = TOPICS.epochs(toHex(task.taskId))
  const supervisorsTopic = TOPICS.supervisors(toHex(task.taskId))
  // the built-in task is defined by the genesis block: its hash seeds the data plan and the assignment
  const seed = taskSeed(chain.genesisHash, task)
  const taskData = new TaskData(task, dataset, seed)
  const fragments = taskFragments(task)

  const network = await createRelayNetwork({
    host: opts.host, port: opts.p2pPort, privateKey: p2pKey,
    topics: [itresTopic, TOPICS.blocks, TOPICS.verdicts, TOPICS.reveals, TOPICS.txs, epochsTopic, supervisorsTopic, TASK_RUNS_TOPIC],
    peers: opts.peers, url: `http://${opts.host}:${opts.httpPort}/`,
  })
  if (p2pKey === undefined) writeFileSync(path.join(opts.dataDir, 'p2p.key'), network.privateKeyBytes, { mode: 0o600 })
  const supervisor = new Supervisor({
    task, data: taskData, keys: verifierKeys, network, store, committeeSize: opts.supervisors ?? 1,
    minMiners: opts.minMiners ?? 1, joinGraceMs: opts.joinGraceMs ?? 3_000, log,
  })
  await supervisor.start()
  const verifications = createVerifications({ store, chain, network, keys: verifierKeys, heldVerdict, log })
  await verifications.start()
  const ledger = createLedgerApi(chain, network, log, verifications.collectFor, templateAnchor)

  /**
   * The supervisors' latest MESSAGE_HISTORY anchor for block templates, once it holds under the
   * chain's rules (ledger anchor.ts: the DKG's committee must be the chain's verifiers). Checked in
   * full once per DKG proof: every later record is one the supervisor took only after its threshold
   * signature verified under that proof's group key.
   */
  let anchorChecked: { proof: Uint8Array; ok: boolean } | undefined
  function templateAnchor(): HistoryAnchor | undefined {
    const a = supervisor.historyAnchor()
    if (a === undefined) return undefined
    if (anchorChecked?.proof !== a.successes[0]!.signature) {
      try {
        anchorRule({ type: 'coinbase', height: 1, outputs: [], history: a }, params)
        anchorChecked = { proof: a.successes[0]!.signature, ok: true }
      } catch (e) {
        if (!isPouwError(e)) throw e
        log('history anchor left out of templates', { code: e.code, detail: e.message })
        anchorChecked = { proof: a.successes[0]!.signature, ok: false }
      }
    }
    return anchorChecked.ok ? a : undefined
  }
  const otherRelays = (): string[] =>
    network.relays().filter((r) => r.peerId !== network.peerId && typeof r.url === 'string' && r.url !== '').map((r) => r.url as string)
  const clientTasks = createClientTasks({ store, chain, mempool: ledger.mempool, log, otherRelays })
  // the relay's verifier key is its wallet: the verifiers' rewards it earns are staked on evaluator tickets
  const evaluatorTickets = createEvaluatorTickets({
    chain, keys: verifierKeys, submit: ledger.submit, log,
    pendingSpend: (o) => ledger.mempool.isSpent(o), inMempool: (hash) => ledger.mempool.has(hash), mempoolTxs: () => ledger.mempool.all().map((e) => e.tx),
    // (a relay that holds it already answers 400 LEDGER_MEMPOOL_DUPLICATE, not logged; any other refusal is logged with its code, and asked again later)
    resend: (tx) => handOnToRelays(otherRelays(), '/api/tx', txToBytes(tx), log, { quiet: [LEDGER_ERRORS.MEMPOOL_DUPLICATE], retryMs: [] }),
  })
  const taskRuns = createTaskRuns({
    store, chain, network, keys: verifierKeys, log, otherRelays, loadSpec: clientTasks.loadSpec, loadFragment: clientTasks.loadFragment, replicate: clientTasks.replicate, submit: ledger.submit,
    engineFor: (net) => createNodeEngine(net), relays: evaluators.map(toHex), evaluatorTickets,
  })

  const rejections: Rejection[] = []
  let rejectionCount = 0
  const stats = { itres: 0, itresRedelivered: 0, itresFromEvidence: 0, itresRejected: 0, malformed: 0, verdicts: 0, verdictsFetched: 0, verdictsRefused: 0, orphans: 0 }

  async function recordRejection(r: Rejection): Promise<void> {
    rejections.unshift(r)
    rejections.length = Math.min(rejections.length, 100)
    await store.batch([{ type: 'put', key: KEYS.rejection(r.at, rejectionCount++ & 0xffff), value: enc.encode(JSON.stringify(r)) }])
    log('block rejected', { ...r })
  }

  /**
   * the IT_RES being recorded, by history key -> its hash: the same message by gossip and by HTTP at
   * once must be one record, and a second, different one a refused equivocation, not a race to the store
   */
  const recordingItRes = new Map<string, Uint8Array>()

  /** Supervisor: an IT_RES from gossip or re-delivered over HTTP, checked, then recorded once per (miner, iteration): the first one wins. */
  async function onItRes(data: Uint8Array, from: string): Promise<'recorded' | 'duplicate'> {
    const m = itResFromBytes(data)
    if (!bytesEqual(m.taskId, task.taskId)) throw new PouwError('RELAY_UNKNOWN_TASK', `IT_RES for task ${toHex(m.taskId)}`)
    if (!(await verifyItResSignature(m))) throw new PouwError('POUW_BAD_SIGNATURE', `IT_RES from ${from} has an invalid signature`)
    supervisor.checkMember(m) // a peer outside the epoch's miners is refused (POUW_NOT_MEMBER)
    const key = KEYS.history(toHex(m.miner), m.iteration)
    const hash = itResHash(data)
    const equivocation = (): PouwError => new PouwError('POUW_EQUIVOCATION', `second IT_RES for iteration ${m.iteration} from miner ${toHex(m.miner).slice(0, 16)}`)
    const inFlight = recordingItRes.get(key)
    if (inFlight !== undefined) {
      if (!bytesEqual(inFlight, hash)) throw equivocation()
      return 'duplicate'
    }
    recordingItRes.set(key, hash)
    try {
      const prev = await store.get(key)
      if (prev !== undefined) {
        if (!bytesEqual(prev, hash)) throw equivocation()
        return 'duplicate'
      }
      const metrics = new Uint8Array(8) // loss, accuracy: f32 little-endian
      new DataView(metrics.buffer).setFloat32(0, m.metrics[0] ?? NaN, true)
      new DataView(metrics.buffer).setFloat32(4, m.metrics[1] ?? NaN, true)
      await store.batch([{ type: 'put', key, value: hash }, { type: 'put', key: KEYS.metrics(toHex(m.miner), m.iteration), value: metrics }])
    } finally {
      recordingItRes.delete(key)
    }
    stats.itres++
    supervisor.onItRes(m, hash)
    return 'recorded'
  }

  /**
   * A miner re-delivering what gossip lost (POST /api/itres): each message judged like a gossiped
   * one; those new to us are also gossiped on, so the other supervisors and the miner's peers
   * get them too. Per message: 'recorded', 'duplicate', or the refusal's code.
   */
  async function onItResBatch(body: Uint8Array): Promise<{ results: string[] }> {
    const results: string[] = []
    for (const data of itResBatchFromBytes(body)) {
      try {
        const r = await onItRes(data, 'http')
        if (r === 'recorded') { stats.itresRedelivered++; void network.publish(itresTopic, data).catch(() => {}) }
        results.push(r)
      } catch (e) {
        if (!isPouwError(e)) throw e
        stats.itresRejected++
        results.push(e.code)
      }
    }
    return { results }
  }

  /** The iterations of one miner this supervisor recorded, from `from` on (at most 5,000). */
  async function recordedIterations(url: URL): Promise<{ miner: string; iterations: number[] }> {
    const miner = url.searchParams.get('miner') ?? ''
    if (!/^[0-9a-f]{64}$/.test(miner)) throw new HttpError(400, 'miner must be 64 lowercase hex digits')
    const from = Math.max(0, Number(url.searchParams.get('from') ?? 0) || 0)
    const iterations: number[] = []
    for await (const [key] of store.iterate(KEYS.historyPrefix(miner), { gte: KEYS.history(miner, Math.min(from, 0xffff_ffff)), limit: 5_000 })) {
      iterations.push(parseInt(key.slice(-8), 16))
    }
    return { miner, iterations }
  }

  /** The losses this supervisor recorded for a miner: its first METRICS_WINDOW iterations and the METRICS_WINDOW up to `iteration`. */
  async function metricsWindow(miner: Uint8Array, iteration: number): Promise<{ first: RecordedLoss[]; recent: RecordedLoss[] }> {
    const hex = toHex(miner)
    const read = async (opts: IterateOptions): Promise<RecordedLoss[]> => {
      const out: RecordedLoss[] = []
      for await (const [key, value] of store.iterate(KEYS.metricsPrefix(hex), opts)) {
        out.push({ iteration: parseInt(key.slice(-8), 16), loss: new DataView(value.buffer, value.byteOffset, value.byteLength).getFloat32(0, true) })
      }
      return out
    }
    const first = await read({ limit: METRICS_WINDOW })
    const recent = (await read({ lte: KEYS.metrics(hex, iteration), reverse: true, limit: METRICS_WINDOW })).reverse()
    return { first, recent }
  }

  /** Our signed verdict, gossiped; an accepting one seals the nonce precursor we rebuilt, revealed later (verifications.ts). */
  async function publishVerdict(blockHash: Uint8Array, result: { accepted: true; height: number; precursor: Uint8Array } | { accepted: false; code: string; detail: string }): Promise<void> {
    const seal = result.accepted ? await verifications.seal(blockHash, result.precursor) : ZERO_HASH
    const tip = chain.tip()
    const v = signVerdict({
      blockHash, accepted: result.accepted, code: result.accepted ? '' : result.code, detail: result.accepted ? '' : result.detail,
      height: result.accepted ? result.height : 0, tipHash: tip.hash, tipHeight: tip.height,
      tipWindow: chain.tipWindow().map(timingOf), nextBits: chain.nextBits(), seal, verifier: verifierKeys.publicKey,
    }, verifierKeys.secretKey)
    await recordVerdict(v)
    await network.publish(TOPICS.verdicts, verdictToBytes(v))
    if (result.accepted) verifications.afterVerdict(blockHash, result.precursor)
  }

  /**
   * a block's evidence is kept for the last opts.evidenceKeep heights (evidence.ts); one sweep at a time, never awaited
   * by the block path, and one more after it when a block came during it (else the last block's sweep could be lost)
   */
  let pruning: Promise<void> | undefined
  let pruneAgain = false
  function pruneOldEvidence(): void {
    if (pruning !== undefined) { pruneAgain = true; return }
    pruning = (async () => {
      do {
        pruneAgain = false
        await pruneEvidence(store, chain.tip().height, opts.evidenceKeep ?? EVIDENCE_KEEP)
          .catch((e: unknown) => log('evidence not pruned', { error: String(e) }))
      } while (pruneAgain)
    })().finally(() => { pruning = undefined })
  }

  /**
   * The committee's verdicts, ours and the other verifiers' (the confirmations §5.2 collects): the
   * latest per (block, verifier), since a verifier may first refuse a block for a reason that is not
   * the block's fault (RELAY_NOT_IN_HISTORY, an unknown parent) and accept it later. A verdict on a
   * submission that did not decode names no block (zero hash) and is not kept. One at a time: the
   * same verdict by gossip and by the confirmation sync at once must not write a later time over the first.
   */
  let recordingVerdicts: Promise<void> = Promise.resolve()
  function recordVerdict(v: Verdict): Promise<void> {
    const next = recordingVerdicts.then(() => recordVerdictNow(v))
    recordingVerdicts = next.catch(() => {})
    return next
  }

  async function recordVerdictNow(v: Verdict): Promise<void> {
    if (bytesEqual(v.blockHash, ZERO_HASH)) return
    const key = KEYS.verdict(toHex(v.blockHash), toHex(v.verifier))
    const signed = toHex(verdictToBytes(v))
    // the same verdict again (gossip and the confirmation sync) keeps the time it first came: a reveal is judged by it
    const prev = await store.get(key)
    if (prev !== undefined && (JSON.parse(dec.decode(prev)) as { signed?: string }).signed === signed) return
    await store.batch([{ type: 'put', key, value: enc.encode(JSON.stringify({ accepted: v.accepted, code: v.code, signed, at: Date.now() })) }])
    verifications.verdictRecorded(toHex(v.blockHash))
  }

  /** A verifier's verdict on a block as recorded: accepted, its seal, when it came (verifications.ts judges reveals by them). */
  async function heldVerdict(blockHex: string, verifierHex: string): Promise<HeldVerdict | undefined> {
    const raw = await store.get(KEYS.verdict(blockHex, verifierHex))
    if (raw === undefined) return undefined
    const { signed, at } = JSON.parse(dec.decode(raw)) as { signed: string; at?: number }
    const v = verdictFromBytes(fromHex(signed))
    return { accepted: v.accepted, seal: v.seal, at: at ?? 0 }
  }

  /** Another relay's verdict: only the committee's verifiers count, and only with a valid signature. */
  async function onVerdict(data: Uint8Array, from: string): Promise<void> {
    const v = verdictFromBytes(data)
    if (!supervisor.isCommitteeMember(v.verifier)) throw new PouwError('RELAY_NOT_SUPERVISOR', `verdict from ${from} signed by ${toHex(v.verifier).slice(0, 16)}, not a supervisor of the committee`)
    if (!(await verifyVerdictSignature(v))) throw new PouwError('POUW_BAD_SIGNATURE', `verdict from ${from} has an invalid signature`)
    await recordVerdict(v)
    stats.verdicts++
  }

  /**
   * The signed verdicts this relay holds (its own and the other committee verifiers') on the given
   * blocks (GET /api/verdicts?blocks=h1,h2,…, at most 64): a tab asks about the blocks it builds
   * on, and relays about the blocks whose confirmations they lack, since gossip may lose a verdict.
   */
  async function heldVerdicts(url: URL): Promise<{ block: string; verifier: string; verdict: string; reveal?: string }[]> {
    const blocks = (url.searchParams.get('blocks') ?? '').split(',').filter((b) => b !== '')
    if (blocks.length > 64 || !blocks.every((b) => /^[0-9a-f]{64}$/.test(b))) throw new HttpError(400, 'blocks must be at most 64 comma-separated block hashes (64 lowercase hex digits)')
    const out: { block: string; verifier: string; verdict: string; reveal?: string }[] = []
    for (const block of blocks) {
      const prefix = KEYS.verdictPrefix(block)
      // the reveals only of a block we hold verdicts on: any caller's hashes must not fill the relay's reveal memory
      let reveals: ReadonlyMap<string, Uint8Array> | undefined
      for await (const [key, value] of store.iterate(prefix)) {
        const signed = (JSON.parse(dec.decode(value)) as { signed?: string }).signed
        const verifier = key.slice(prefix.length)
        if (signed === undefined) continue
        reveals ??= await verifications.held(block)
        out.push({ block, verifier, verdict: signed, ...(reveals.has(verifier) ? { reveal: toHex(reveals.get(verifier)!) } : {}) })
      }
    }
    return out
  }

  async function confirmations(hashHex: string): Promise<Confirmation[]> {
    const out: Confirmation[] = []
    const prefix = KEYS.verdictPrefix(hashHex)
    for await (const [key, value] of store.iterate(prefix)) {
      const { accepted, code } = JSON.parse(dec.decode(value)) as { accepted: boolean; code: string }
      out.push({ verifier: key.slice(prefix.length), accepted, code })
    }
    return out
  }

  /**
   * The confirmations gossip lost: every CONFIRMATION_SYNC_MS, ask every other relay we know for its
   * own signed verdicts (GET /api/verdicts) on our recent main-chain blocks that lack a committee
   * member's verdict. Each answer is judged like a gossiped verdict (committee, signature).
   */
  async function syncConfirmations(): Promise<void> {
    const members = supervisor.status().committee.length
    for (const [h, u] of unconfirmed) if (Date.now() - u.at > UNCONFIRMED_KEEP_MS) unconfirmed.delete(h)
    const lacking: string[] = [...awaitingQuorum, ...unconfirmed.keys()].slice(0, CONFIRMATION_SYNC_BLOCKS)
    for (const e of await chain.recent(CONFIRMATION_SYNC_BLOCKS - lacking.length)) {
      if (e.height > 0 && (await confirmations(e.hashHex)).length < Math.min(members, verifiersOf(e.hash)?.length ?? members)) lacking.push(e.hashHex)
    }
    // the tip's reveals too: the next block's template collects them
    const tip = chain.tip()
    const tipAccepted = (await confirmations(tip.hashHex)).filter((c) => c.accepted).length
    if (tip.height > 0 && !lacking.includes(tip.hashHex) && (await verifications.held(tip.hashHex)).size < tipAccepted) lacking.push(tip.hashHex)
    if (lacking.length === 0) return
    // every relay's answer first, then every verdict, then the reveals: a verdict we lacked is recorded
    // before any reveal it came with, so the commit-before-reveal order does not refuse it for arriving together
    const answers: { from: string; verdict: string; reveal?: string }[] = []
    for (const r of network.relays()) {
      if (r.peerId === network.peerId || typeof r.url !== 'string' || r.url === '') continue
      try {
        const res = await fetch(new URL(`api/verdicts?blocks=${lacking.join(',')}`, r.url), { signal: AbortSignal.timeout(5_000) })
        if (!res.ok) continue
        const list = (await res.json()) as unknown
        if (!Array.isArray(list)) continue
        for (const x of list as Array<{ verdict?: unknown; reveal?: unknown }>) {
          if (typeof x?.verdict === 'string') answers.push({ from: r.url, verdict: x.verdict, ...(typeof x.reveal === 'string' ? { reveal: x.reveal } : {}) })
        }
      } catch {
        // that relay is down or slow: the next round asks again
      }
    }
    const refused = (e: unknown, from: string, topic: string): void => {
      if (!isPouwError(e)) throw e
      if (topic === 'http verdict') stats.verdictsRefused++
      log('message refused', { topic, from, code: e.code, detail: e.message })
    }
    for (const a of answers) {
      try { await onVerdict(fromHex(a.verdict), a.from); stats.verdictsFetched++ } catch (e) { refused(e, a.from, 'http verdict') }
    }
    for (const a of answers) {
      if (a.reveal !== undefined) try { await verifications.onReveal(fromHex(a.reveal), a.from) } catch (e) { refused(e, a.from, 'http reveal') }
    }
    // a block refused for late verdicts whose verifiers have since accepted it: taken now
    for (const [h, u] of unconfirmed) {
      // still on its way out of its first wait (recording the refusal): asked about again next time
      if (preparing.has(h)) continue
      const { yes, need } = await verdictsOf(h, u.chosen)
      if (yes.length < need) continue
      unconfirmed.delete(h)
      log('block refused for late verdicts, taken now that its verifiers accepted it', { hash: h, verifiers: yes.map((c) => c.verifier.slice(0, 16)) })
      void onBlock(u.data, u.from).catch((e: unknown) => log('late block not taken', { hash: h, error: String(e) }))
    }
  }

  /**
   * §5.2: the IT_RES the supervisors recorded for the slot's (miner, iteration) pairs must be in agreed
   * history slots before the block is verified. The wait is on our own record, not on the evidence's
   * bytes: the verifier then compares the two, so a tampered slot message is refused for what it is
   * (a bad signature, an equivocation) rather than for being absent from the history. Evidence that
   * does not decode needs no wait: the verifier refuses it.
   */
  async function slotInHistory(evidence: Uint8Array): Promise<boolean> {
    let keys: string[]
    let slot: Uint8Array[]
    try {
      slot = evidenceFromBytes(evidence).slot
      keys = slot.map(itResFromBytes).map((m) => KEYS.history(toHex(m.miner), m.iteration))
    } catch { return true }
    await recordFromEvidence(slot)
    const deadline = Date.now() + HISTORY_WAIT_MS
    for (;;) {
      const recorded = await Promise.all(keys.map((k) => store.get(k)))
      if (recorded.every((h) => h !== undefined)) return supervisor.waitForHistory(recorded as Uint8Array[], deadline - Date.now())
      if (closed || Date.now() >= deadline) return false
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
  }

  /**
   * The evidence carries the slot's messages: one gossip lost is recorded from here, judged like
   * any other (signature, membership, first per iteration). A forged or second one is refused
   * here and then by the verifier, which compares the evidence with our record.
   */
  async function recordFromEvidence(slot: Uint8Array[]): Promise<void> {
    for (const m of slot) {
      try { if ((await onItRes(m, 'evidence')) === 'recorded') stats.itresFromEvidence++ } catch { /* the verifier says why */ }
    }
  }

  /** The block's verifiers (§5.2), chosen from the committee by its hash; undefined while there is no committee. */
  function verifiersOf(hash: Uint8Array): Uint8Array[] | undefined {
    const committee = supervisor.committeeKeys()
    return committee === undefined || committee.length === 0 ? undefined : chooseVerifiers(hash, committee, opts.verifiersPerBlock ?? VERIFIERS_PER_BLOCK)
  }

  /** blocks this relay waits on its verifiers' verdicts for (syncConfirmations asks the others about them too) */
  const awaitingQuorum = new Set<string>()
  /**
   * blocks refused because their verdicts were late (RELAY_UNCONFIRMED), kept for UNCONFIRMED_KEEP_MS:
   * syncConfirmations keeps asking about them, and once a quorum of their verifiers accepted one it is
   * taken after all (with the descendants held meanwhile), rather than leaving this relay on a branch
   * of its own
   */
  const unconfirmed = new Map<string, { data: Uint8Array; from: string; chosen: Uint8Array[]; at: number }>()

  /**
   * A relay not among the block's verifiers takes the block on their signed verdicts: a quorum of
   * the chosen accepting it, or a quorum refusing it for a rule it broke. Verdicts come by gossip
   * and by syncConfirmations. 'timeout' when neither happens in QUORUM_WAIT_MS.
   */
  /** The chosen verifiers' verdicts on a block so far: accepting, refusing for a broken rule, and the quorum either needs. */
  async function verdictsOf(hashHex: string, chosen: Uint8Array[]) {
    const chosenHex = new Set(chosen.map(toHex))
    const mine = (await confirmations(hashHex)).filter((c) => chosenHex.has(c.verifier))
    return { yes: mine.filter((c) => c.accepted), no: mine.filter((c) => !c.accepted && peerAtFault(c.code)), need: verifierQuorum(chosen.length) }
  }

  async function awaitQuorum(hashHex: string, chosen: Uint8Array[]): Promise<{ accepted: true; by: string[] } | { accepted: false; code: string; detail: string }> {
    const deadline = Date.now() + QUORUM_WAIT_MS
    awaitingQuorum.add(hashHex)
    try {
      for (;;) {
        const { yes, no, need } = await verdictsOf(hashHex, chosen)
        if (yes.length >= need) return { accepted: true, by: yes.map((c) => c.verifier) }
        if (no.length >= need) return { accepted: false, code: no[0]!.code, detail: `refused by ${no.length} of its ${chosen.length} verifiers` }
        if (closed || Date.now() >= deadline) return { accepted: false, code: 'RELAY_UNCONFIRMED', detail: `${yes.length} of ${chosen.length} verifiers accepted it in ${QUORUM_WAIT_MS / 1000} s, ${need} needed` }
        await new Promise((resolve) => setTimeout(resolve, 500))
      }
    } finally {
      awaitingQuorum.delete(hashHex)
    }
  }

  /**
   * A block this relay is not a verifier of: stored (with its evidence) once a quorum of its
   * verifiers accepted it. The wait for their verdicts is outside the block queue; the storing is in it.
   */
  async function takeOnVerdicts(block: Block, hashHex: string, evidence: Uint8Array, chosen: Uint8Array[], from: string, data: Uint8Array): Promise<void> {
    let slot: Uint8Array[] = []
    try { slot = evidenceFromBytes(evidence).slot } catch { /* the verifiers refuse it */ }
    await recordFromEvidence(slot)
    const q = await awaitQuorum(hashHex, chosen)
    if (closed) return
    if (!q.accepted) {
      if (q.code === 'RELAY_UNCONFIRMED') {
        if (unconfirmed.size >= UNCONFIRMED_MAX) unconfirmed.delete(unconfirmed.keys().next().value!)
        unconfirmed.set(hashHex, { data, from, chosen, at: Date.now() })
      }
      await recordRejection({ at: Date.now(), blockHash: hashHex, code: q.code, detail: q.detail, from, peerAtFault: peerAtFault(q.code) })
      return
    }
    await serial(hashHex, () => takeBlock(block, hashHex, evidence, slot, q.by, from))
  }

  /** Stores a block a quorum of its verifiers accepted (`by`), in the block queue. */
  async function takeBlock(block: Block, hashHex: string, evidence: Uint8Array, slot: Uint8Array[], by: string[], from: string): Promise<void> {
    if (await chain.has(hashHex)) return
    let lucky: ItRes | undefined
    try { lucky = itResFromBytes(slot[slot.length - 1]!) } catch { /* the verifiers accepted it: the slot decodes */ }
    let result
    try {
      result = await chain.addBlock(block, {
        now: Math.floor(Date.now() / 1000),
        checkProofOfUsefulWork: async (b, parent) => {
          const info: BlockInfo = {
            height: parent.height + 1, hash: hashHex, miner: lucky ? toHex(lucky.miner) : null, iteration: lucky?.iteration ?? -1, backend: lucky?.backend ?? '',
            time: b.header.time, receivedAt: Date.now(), verify: { checksMs: 0, rerunMs: 0, inBandDisagreements: 0, mapSize: 0 }, takenOn: by,
            ...coinbaseInfo(b),
          }
          return { [evidenceKey(parent.height + 1, hashHex)]: evidence, [KEYS.info(hashHex)]: enc.encode(JSON.stringify(info)) }
        },
      })
    } catch (e) {
      // our ledger rules refuse it: recorded, but not a verdict (we are not one of its verifiers)
      if (!isPouwError(e)) throw e
      if (e.code === 'LEDGER_DUPLICATE') return
      await recordRejection({ at: Date.now(), blockHash: hashHex, code: e.code, detail: e.message, from, peerAtFault: peerAtFault(e.code) })
      return
    }
    unconfirmed.delete(hashHex)
    await ledger.afterBlock(result)
    pruneOldEvidence()
    void taskRuns.tick()
    log('block taken on its verifiers\' verdicts', { hash: hashHex, height: result.entry.height, status: result.status, verifiers: by.map((v) => v.slice(0, 16)) })
    releaseOrphans(hashHex)
  }

  /**
   * A block submission, gossiped or posted. Waits (for the block's message-history slot as its
   * verifier, for its verifiers' verdicts otherwise) run side by side, each block on its own; what
   * follows (the re-run, storing the block) runs one block at a time, in the block queue. A child
   * that comes while its parent still waits is held as an orphan until the parent is taken. (With
   * the waits in the queue too, a relay that waited out one block's verdicts could not start on
   * the next block it was to verify, and its verdict came late for every relay waiting on it.)
   */
  async function onBlock(data: Uint8Array, from: string): Promise<void> {
    let block: Block
    let evidence: Uint8Array
    let hash: Uint8Array = ZERO_HASH
    try {
      const sub = submissionFromBytes(data)
      block = blockFromBytes(sub.block)
      evidence = sub.evidence
      hash = headerHash(block.header)
    } catch (e) {
      stats.malformed++
      const err = e as PouwError
      await recordRejection({ at: Date.now(), blockHash: toHex(hash), code: err.code ?? 'RELAY_ERROR', detail: err.message, from, peerAtFault: peerAtFault(err.code ?? '') })
      await publishVerdict(hash, { accepted: false, code: err.code ?? 'RELAY_ERROR', detail: err.message })
      return
    }
    const hashHex = toHex(hash)
    // one copy at a time (a miner's post and the gossiped copy come together), marked before any await
    if (closed || preparing.has(hashHex) || orphans.has(hashHex)) return
    if (preparing.size >= PREPARING_MAX) { log('block dropped: too many blocks waiting', { hash: hashHex, waiting: preparing.size }); return }
    preparing.add(hashHex)
    try {
      if (await chain.has(hashHex)) return
      const parentHex = toHex(block.header.prevHash)
      if (!(await chain.has(parentHex)) && holdOrphan(hashHex, parentHex, block, data, from)) {
        // the parent may have been stored, and its orphans released, while we looked
        if (await chain.has(parentHex)) releaseOrphans(parentHex)
        return
      }
      // a header that misses its own target is refused at once, without a wait (proof of work is what a wait costs a sender)
      const worked = hashMeetsTarget(hash, targetFromBits(block.header.bits))
      // §5.2: only the block's chosen verifiers re-run it; the other relays follow their verdicts
      const chosen = verifiersOf(hash)
      if (worked && chosen !== undefined && !chosen.some((k) => bytesEqual(k, verifierKeys.publicKey))) {
        await takeOnVerdicts(block, hashHex, evidence, chosen, from, data)
        return
      }
      // §5.2: the block's IT_RES messages must be in the agreed message history before it is verified
      const inHistory = !worked || await slotInHistory(evidence)
      await serial(hashHex, () => verifyBlock(block, hashHex, evidence, inHistory, from))
    } finally {
      preparing.delete(hashHex)
    }
  }

  /** The block's verifier: re-runs it (ledger rules, proof of useful work) and gossips its verdict. */
  async function verifyBlock(block: Block, hashHex: string, evidence: Uint8Array, inHistory: boolean, from: string): Promise<void> {
    const hash = fromHex(hashHex)
    let info: BlockInfo | undefined
    let precursor: Uint8Array | undefined
    try {
      if (await chain.has(hashHex)) return
      if (!inHistory) {
        throw new PouwError('RELAY_NOT_IN_HISTORY', `the block's IT_RES messages were not in the message history after ${HISTORY_WAIT_MS / 1000} s`)
      }
      const result = await chain.addBlock(block, {
        now: Math.floor(Date.now() / 1000),
        // the evidence and what verification learnt are stored atomically with the block
        checkProofOfUsefulWork: async (b, parent) => {
          const report = await verifyProofOfUsefulWork({
            data: taskData, engine,
            recorded: async (miner, iteration) => store.get(KEYS.history(toHex(miner), iteration)),
            members: (epoch) => supervisor.members(epoch),
            metricsWindow,
          }, b, evidence)
          precursor = report.precursor
          info = {
            height: parent.height + 1, hash: hashHex, miner: report.miner, iteration: report.iteration, backend: report.backend,
            time: b.header.time, receivedAt: Date.now(),
            verify: { checksMs: report.timings.checksMs, rerunMs: report.timings.rerunMs, inBandDisagreements: report.inBandDisagreements, mapSize: report.mapSize },
            ...coinbaseInfo(b),
          }
          return { [evidenceKey(parent.height + 1, hashHex)]: evidence, [KEYS.info(hashHex)]: enc.encode(JSON.stringify(info)) }
        },
      })
      await ledger.afterBlock(result)
      pruneOldEvidence()
      void taskRuns.tick()
      log('block accepted', { hash: hashHex, height: result.entry.height, status: result.status, miner: info?.miner?.slice(0, 16), iteration: info?.iteration, verify: info?.verify })
      await publishVerdict(hash, { accepted: true, height: result.entry.height, precursor: precursor! })
      releaseOrphans(hashHex)
    } catch (e) {
      if (!isPouwError(e)) throw e
      if (e.code === 'LEDGER_DUPLICATE') return // gossip may deliver a block twice
      await recordRejection({ at: Date.now(), blockHash: hashHex, code: e.code, detail: e.message, from, peerAtFault: peerAtFault(e.code) })
      await publishVerdict(hash, { accepted: false, code: e.code, detail: e.message })
      if (peerAtFault(e.code)) for (const [h, o] of orphans) if (o.parent === hashHex) void refuseOrphan(h, `its parent ${hashHex} was rejected (${e.code})`)
    }
  }

  /**
   * Orphans: blocks whose parent we do not have yet. Miners build on each other's blocks before
   * any verdict, so a child may reach us before its parent (gossip lost the parent, or the parent
   * waits behind it). A child whose header meets the target is kept until its parent is accepted
   * and then verified; after ORPHAN_WAIT_MS, or when the parent is rejected, it is refused as
   * LEDGER_PARENT_UNKNOWN. At most ORPHAN_MAX are kept: a flood costs the sender proof of work.
   */
  const orphans = new Map<string, { parent: string; data: Uint8Array; from: string; timer: ReturnType<typeof setTimeout>; heldAt: number }>()

  /**
   * Whether the nearest ancestor we lack is a block still waiting for its verifiers' verdicts, or
   * refused for late ones and kept for them (walking up through held orphans): its descendants
   * wait with it, up to UNCONFIRMED_KEEP_MS, rather than ORPHAN_WAIT_MS.
   */
  function awaitingVerdicts(parentHex: string): boolean {
    let p = parentHex
    for (let i = 0; i <= ORPHAN_MAX && orphans.has(p); i++) p = orphans.get(p)!.parent
    // (a block waiting for its verdicts is being prepared too)
    return unconfirmed.has(p) || preparing.has(p)
  }

  function armOrphan(hashHex: string, parentHex: string): ReturnType<typeof setTimeout> {
    const timer = setTimeout(() => { void refuseOrphan(hashHex, `its parent ${parentHex} did not arrive in time`) }, ORPHAN_WAIT_MS)
    timer.unref()
    return timer
  }

  /** Keep a block as an orphan; false when it cannot be kept (no proof of work, pool full): verify it now (and refuse it). */
  function holdOrphan(hashHex: string, parentHex: string, block: Block, data: Uint8Array, from: string): boolean {
    if (orphans.size >= ORPHAN_MAX) return false
    // its bits depend on ancestors we lack: ask for at least half the work of a block on our tip
    // (the adjustment moves the target by at most ~19% a block) and a hash that meets them
    const target = targetFromBits(block.header.bits)
    const limit = targetFromBits(params.difficulty?.powLimitBits ?? params.bits)
    if (target > 2n * targetFromBits(chain.nextBits()) || target > limit || !hashMeetsTarget(headerHash(block.header), target)) return false
    orphans.set(hashHex, { parent: parentHex, data, from, timer: armOrphan(hashHex, parentHex), heldAt: Date.now() })
    stats.orphans++
    log('block held until its parent arrives', { hash: hashHex, parent: parentHex, orphans: orphans.size })
    return true
  }

  function releaseOrphans(parentHex: string): void {
    for (const [h, o] of orphans) {
      if (o.parent !== parentHex) continue
      clearTimeout(o.timer)
      orphans.delete(h)
      void onBlock(o.data, o.from).catch((e: unknown) => log('error handling message', { topic: 'orphan block', error: String(e) }))
    }
  }

  async function refuseOrphan(hashHex: string, detail: string): Promise<void> {
    const o = orphans.get(hashHex)
    if (o === undefined || closed) return
    clearTimeout(o.timer)
    if (awaitingVerdicts(o.parent) && Date.now() - o.heldAt < UNCONFIRMED_KEEP_MS) {
      o.timer = armOrphan(hashHex, o.parent) // its ancestor may yet be taken on its verifiers' verdicts
      return
    }
    orphans.delete(hashHex)
    const code = 'LEDGER_PARENT_UNKNOWN'
    await recordRejection({ at: Date.now(), blockHash: hashHex, code, detail: `block ${hashHex}: ${detail}`, from: o.from, peerAtFault: false })
    await publishVerdict(fromHex(hashHex), { accepted: false, code, detail })
  }

  /** blocks between arrival and the block queue: waiting for their history slot or their verifiers' verdicts */
  const preparing = new Set<string>()
  /** the block queue: re-runs and storing, one block at a time, in the order their waits ended */
  let blockQueue: Promise<void> = Promise.resolve()
  function serial(hashHex: string, job: () => Promise<void>): Promise<void> {
    const next = blockQueue.then(() => (closed ? undefined : job()))
    blockQueue = next.catch((e: unknown) => log('error handling a block', { hash: hashHex, error: String(e) }))
    return next
  }

  /**
   * A miner handing its block submission straight to this verifier (POST /api/block), as well as
   * gossiping it: a malformed one is a 400 at once; otherwise it is queued like a gossiped one
   * (and gossiped on, for the verifiers the miner does not know). The verdict comes by gossip.
   */
  async function onBlockPosted(data: Uint8Array): Promise<{ block: string; status: 'known' | 'queued' }> {
    const hashHex = toHex(headerHash(blockFromBytes(submissionFromBytes(data).block).header))
    if (await chain.has(hashHex)) return { block: hashHex, status: 'known' }
    void onBlock(data, 'http').catch((e: unknown) => log('error handling message', { topic: 'http block', error: String(e) }))
    void network.publish(TOPICS.blocks, data).catch(() => {})
    return { block: hashHex, status: 'queued' }
  }

  let closed = false
  network.onMessage((topic, data, from) => {
    if (closed) return
    if (topic === epochsTopic || topic === supervisorsTopic) return supervisor.onMessage(topic, data, from)
    const handler = topic === itresTopic ? onItRes : topic === TOPICS.blocks ? onBlock : topic === TOPICS.verdicts ? onVerdict
      : topic === TOPICS.reveals ? verifications.onReveal : topic === TOPICS.txs ? ledger.onTx : topic === TASK_RUNS_TOPIC ? taskRuns.onMessage : undefined
    if (!handler) return
    handler(data, from).catch((e: unknown) => {
      // a peer's bad message is refused and counted; the relay keeps serving
      if (isPouwError(e)) { if (topic === TOPICS.verdicts) stats.verdictsRefused++; else if (topic === itresTopic) stats.itresRejected++; log('message refused', { topic, from, code: e.code, detail: e.message }) }
      else log('error handling message', { topic, from, error: String(e) })
    })
  })

  /** What a block's coinbase paid, whose approvals of its parent it collected and which history slot it anchored (kept with its info). */
  function coinbaseInfo(block: Block): Pick<BlockInfo, 'reward' | 'collected' | 'anchored'> {
    const cb = block.txs[0]
    if (cb?.type !== 'coinbase') return {}
    return {
      reward: cb.outputs.reduce((a, o) => a + o.amount, 0n).toString(),
      collected: (cb.collect?.approvals ?? []).map((a) => toHex(a.verifier)),
      ...(cb.history !== undefined ? { anchored: { slot: cb.history.record.slot, hash: toHex(slotHash(cb.history.record)) } } : {}),
    }
  }

  async function recentBlocks(limit: number): Promise<BlockInfo[]> {
    const entries = await chain.recent(limit)
    const out: BlockInfo[] = []
    for (const e of entries) {
      const raw = await store.get(KEYS.info(e.hashHex))
      if (raw) out.push({ ...(JSON.parse(dec.decode(raw)) as BlockInfo), confirmations: await confirmations(e.hashHex) })
      else out.push({ height: e.height, hash: e.hashHex, miner: e.miner ? toHex(e.miner) : null, iteration: -1, backend: '', time: e.header.time, receivedAt: e.receivedAt, verify: { checksMs: 0, rerunMs: 0, inBandDisagreements: 0, mapSize: 0 } })
    }
    return out
  }

  const limitOf = (url: URL): number => Math.max(1, Math.min(200, Number(url.searchParams.get('limit') ?? 20) || 20))
  const files: Record<string, string> = {}
  for (const f of MNIST_FILES) files[`/data/mnist/${f}`] = path.join(MNIST_DIR, f)

  const fragmentCache = new Map<number, Uint8Array>()
  const fragmentBlob = (pathname: string): Uint8Array | undefined => {
    const m = /^\/data\/fragments\/(\d{1,4})$/.exec(pathname)
    if (!m) return undefined
    const i = Number(m[1])
    if (i >= fragments.length) return undefined
    let b = fragmentCache.get(i)
    if (b === undefined) { b = fragmentBytes(dataset, fragments[i]!); fragmentCache.set(i, b) }
    return b
  }

  let taskStatus: Record<string, unknown> | undefined
  const server: Server = createHttpServer({
    webDir: opts.webDir,
    files,
    blobs: (pathname) => fragmentBlob(pathname) ?? taskRuns.blob(pathname),
    api: {
      '/api/status': async () => {
        const tip = chain.tip()
        const sup = supervisor.status()
        return {
          height: tip.height, hash: tip.hashHex, peers: network.connections().length,
          relay: { peerId: network.peerId, addrs: network.addrs(), verifier: toHex(verifierKeys.publicKey) },
          relays: network.relays(), // this relay first, then the others it knows: [{ peerId, addrs, url }]
          chain: {
            network: params.networkName, genesis: toHex(chain.genesisHash), tipTime: tip.header.time, nextBits: chain.nextBits(), subsidy: params.subsidy.toString(),
            // verifiers' reveals held on the tip: the next block's template collects them (a tab re-fetches it when this grows)
            tipReveals: tip.height === 0 ? 0 : (await verifications.held(tip.hashHex)).size,
            // the tip and its last ancestors (oldest first): a tab computes the bits after its own blocks from them
            window: chain.tipWindow().map((e) => ({ hash: e.hashHex, time: e.header.time, bits: e.header.bits })),
            difficulty: params.difficulty,
            genesisTime: params.genesisTime, bits: params.bits, maxFutureSeconds: params.maxFutureSeconds, coinbaseMaturity: coinbaseMaturity(params),
            // the relays' verifier keys (POUW_EVALUATORS): each block's verifiers are chosen from them; they supervise, and
            // ceil(2n/3) of them, each with the evaluator ticket it joined the task with, approve a charge
            verifiers: evaluators.map(toHex),
            // BUY_TICKETS: the price a ticket in the next block stakes at least (Decred's adjustment, every `adjust.window` blocks)
            tickets: {
              price: chain.ticketPrice()?.toString() ?? null, minPrice: params.tickets?.price.toString() ?? null, maxPerBlock: params.tickets?.maxPerBlock ?? null,
              adjust: params.tickets?.adjust === undefined ? null : { ...params.tickets.adjust, maxPrice: params.tickets.adjust.maxPrice.toString() },
            },
          },
          // how client tasks run here: the miner tickets they select from, the join and training windows
          taskRuns: TASK_RUN_RULES,
          // this relay's evaluator tickets not yet joined to a task (it joins every committed task with one)
          evaluatorTickets: await evaluatorTickets.count(),
          // the client task runs held in memory: every one with a fee committed on chain, and the settled ones last asked about
          taskRunsLoaded: taskRuns.loaded().length,
          mempool: { count: ledger.mempool.count, bytes: ledger.mempool.totalBytes, ...ledger.stats },
          // the built-in task's description is constant: encoded once, not on every poll
          task: taskStatus ??= {
            id: toHex(task.taskId), hash: toHex(taskHash(task)), spec: toHex(taskToBytes(task)), parameters: parameterCount(task),
            model: describeNet(task.net), batchSize: task.batchSize, tau: task.tau, learningRate: task.learningRate, commitLead: task.commitLead,
            noncesPerIteration: verification.noncesPerIteration, topic: itresTopic, seed: toHex(seed), epochs: task.epochs,
            fragments: fragments.length, batches: taskData.batchCount, topics: { itres: itresTopic, epochs: epochsTopic },
          },
          supervisors: { committee: sup.committee, t: sup.t, groupPublicKey: sup.groupPublicKey, dkg: sup.dkg, me: sup.key, history: sup.history, refused: sup.refused, joined: sup.joined },
          epoch: { current: sup.epoch, miners: sup.epochMiners },
          stats,
        }
      },
      '/api/epochs': async () => supervisor.epochRecords().map((r) => ({
        epoch: r.epoch, miners: r.miners.map(toHex), record: toHex(epochMessageToBytes({ kind: 'record', ...r })),
      })),
      '/api/history': async (url) => {
        const from = Math.max(0, Number(url.searchParams.get('from') ?? 0) || 0)
        return supervisor.historyList().slice(from, from + 1000).map((h) => ({ slot: h.slot, epoch: h.epoch, hash: toHex(slotHash(h)), messages: h.messages.length }))
      },
      '/api/blocks': async (url) => recentBlocks(limitOf(url)),
      '/api/rejections': async (url) => rejections.slice(0, limitOf(url)),
      '/api/recorded': recordedIterations,
      '/api/verdicts': heldVerdicts,
      ...ledger.get,
      ...clientTasks.get,
      ...taskRuns.get,
    },
    post: {
      '/api/itres': async (_url, body) => onItResBatch(body),
      '/api/block': async (_url, body) => onBlockPosted(body),
      ...ledger.post,
      ...clientTasks.post,
      ...taskRuns.post,
      // a TASK_JOIN (or any message of the epochs topic) handed over HTTP: judged like a gossiped one
      '/api/epochs': async (_url, body) => { epochMessageFromBytes(body); supervisor.onMessage(epochsTopic, body, 'http'); return { status: 'received' } },
    },
  })
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(opts.httpPort, opts.host, () => resolve()) })
  const url = `http://${opts.host}:${opts.httpPort}/`
  log('relay started', { url, peerId: network.peerId, addrs: network.addrs(), height: chain.tip().height })
  // Gossip health: a peer whose score fell below gossipsub's graylist threshold, or whose
  // outbound stream is gone, silently stops exchanging messages with us; say so.
  // With it, how busy this process was (CPU ms since the last line) and its worst event-loop delay:
  // a relay whose loop stalls for seconds drops links (handshakes time out) and loses gossip.
  const loopDelay = monitorEventLoopDelay({ resolution: 20 })
  loopDelay.enable()
  let lastCpu = process.cpuUsage()
  let lastAt = Date.now()
  const gossipLog = setInterval(() => {
    const peers = network.gossipPeers()
    const unwell = peers.filter((p) => p.score < 0 || !p.outbound || !p.inbound)
    const cpu = process.cpuUsage(lastCpu)
    log('gossip', {
      peers: peers.length, unwell: unwell.map((p) => ({ peer: p.peerId.slice(-8), score: Math.round(p.score), out: p.outbound, in: p.inbound, mesh: p.mesh.length })),
      wallMs: Date.now() - lastAt, cpuMs: Math.round((cpu.user + cpu.system) / 1000), maxLoopDelayMs: Math.round(loopDelay.max / 1e6),
    })
    lastCpu = process.cpuUsage()
    lastAt = Date.now()
    loopDelay.reset()
  }, 10_000)
  gossipLog.unref()
  let syncing = false
  const confirmationSync = setInterval(() => {
    if (syncing || closed) return
    syncing = true
    syncConfirmations().catch((e: unknown) => log('confirmation sync failed', { error: String(e) })).finally(() => { syncing = false })
  }, CONFIRMATION_SYNC_MS)
  confirmationSync.unref()

  return {
    url, network, chain, task, supervisor,
    async stop() {
      closed = true
      clearInterval(gossipLog)
      clearInterval(confirmationSync)
      loopDelay.disable()
      supervisor.stop()
      const revealsStopped = verifications.stop()
      await taskRuns.stop()
      for (const o of orphans.values()) clearTimeout(o.timer)
      await blockQueue // a re-run or a store under way finishes before the store closes
      await revealsStopped
      await pruning
      await new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections() })
      await network.stop()
      await store.close()
    },
  }
}
