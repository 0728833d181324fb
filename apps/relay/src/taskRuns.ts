/**
 * A client task from its committed fee to CHARGE_FOR_TASK (paper 003 §4.1,
 * §4.4), as each relay runs it. Every step is derived from the chain and the
 * messages the relays exchange, so that every honest relay comes to the same
 * charge:
 *
 *   joining     the fee is committed: the block at height revokeBefore is the
 *               task-definition block (TDB). Miner tickets (stake outputs of
 *               role 'miner', live at the TDB) join it on chain: a JOIN_TASK
 *               transaction moves the ticket's stake to the task with its
 *               VRF proof over (hash_TDB || 'miner') (ledger utxo.ts).
 *   training    once the block JOIN_BLOCKS after the TDB is SELECT_DEPTH
 *               deep, the committee is selected from the stakes that joined
 *               in blocks TDB+1 .. TDB+JOIN_BLOCKS (ledger selectCommittee:
 *               VRF and cosine similarity, ranked, cut to the bounds): a
 *               fact of the chain, the same on every relay that follows it.
 *               Selected miners fetch the training
 *               fragments (the test fragments stay with the relays until the
 *               charge) and post their final model: POST /api/task/model.
 *   evaluating  once every selected miner posted (or TRAIN_BLOCKS passed),
 *               each evaluator scores every model on the test split, commits
 *               to its conclusion, reveals it once every evaluator committed
 *               (or REVEAL_WAIT_MS passed); once every evaluator revealed
 *               (or REVEAL_WAIT_MS passed again) and ceil(2n/3) reveals are
 *               identical, computes the split (ledger computeCharge: the fee,
 *               and every joined stake back, less what an absent miner
 *               forfeits), signs the charge and gossips its approval.
 *               A round that decides nothing (every evaluator revealed and
 *               no ceil(2n/3) agree, or ROUND_WAIT_MS passed) is followed by
 *               another, up to MAX_ROUNDS: each evaluator hands on the models
 *               and the evidence it holds, waits MODEL_SYNC_MS, and scores
 *               again; an earlier round in which every evaluator revealed and
 *               enough agreed still decides (an evaluator cut off while the
 *               others decided it would otherwise wait alone).
 *   unresolved  no round of MAX_ROUNDS decided: no charge comes from this
 *               relay; the client may take the fee back (as it would revoke
 *               it) from taskFeeReclaimHeight(TDB), TASK_FEE_RECLAIM_BLOCKS on.
 *   reclaimed   the fee left the task without a charge (its client took it
 *               back): nothing is left to run for.
 *   charged     with ceil(2n/3) approvals any relay submits the charge to the
 *               mempool; a block spends the fee. The best model is served in
 *               TensorFlow.js format at /data/tasks/<hash>/model.json.
 *
 * A task whose committee cannot be filled is charged too: outcome 'not-run',
 * the fee goes back to the client.
 *
 * A task whose definition and data this relay does not hold when its join
 * window closes (the client paid and never uploaded it; relays hand a task they
 * hold to the others until then) is malformed (§7.3): selection seats no
 * one ('unavailable'); the workers whose stakes joined report it, signed
 * (POST /api/task/report); after REPORT_BLOCKS, or once every one reported,
 * the evaluators conclude 'unavailable' with the reporters, and the charge
 * pays them the fee (less the evaluators' share) and returns every stake. With
 * no report, the fee goes back to the client.
 *
 * A selected miner that signs two different final models for the task is a
 * cheat: the two signed models are the evidence, handed from relay to relay
 * (POST /api/task/equivocation); the conclusion names it, its model is not
 * scored, and the charge captures its whole stake for the honest miners.
 *
 * The relays (ChainParams.evaluators, the federation) supervise every task.
 * Its evaluators are chosen by ticket from the relays' evaluator tickets that
 * joined it (evaluatorTickets.ts buys them from the relay's verifier rewards):
 * only they score, commit, reveal and approve, and the charge returns their
 * stakes. The chain takes a charge's approvals from ceil(2n/3) of the
 * federation, each with its evaluator stake in the charge (ledger utxo.ts).
 */
import {
  DEFAULT_COMMITTEE_PARAMS, PPM, SELECTION_ROLES, TAGS, roleIndex, fromHex, inputSize, isPouwError, signAsync, taggedHash, taskFromBytes,
  toHex, txFromBytes, txHash, txSigHash, txToBytes, verify, type Approval, type KeyPair, type NetSpec, type OutPoint, type TaskSpec, type TransferTx,
} from '@pouw/protocol'
import {
  DEFAULT_OMEGA_PPM, DEFAULT_TICKET_PARAMS, TASK_ID_SIZE, agreementThreshold, approveCharge, chargeTx, chargeTxFee, checkReveal, computeCharge, type ChargeInput, type Conclusion,
  computeConclusionCommitment, conclusionFromBytes, conclusionToBytes, createConclusion, decideAgreement, outpointFromKey, outpointKey, selectCommittee,
  TASK_FEE_RECLAIM_BLOCKS, feeRevokeBefore, taskFeeReclaimHeight, withApprovals, type BatchOp, type Chain, type Coin, type KeyValueStore, type MinerScore, type SelectionParams, type TaskFees, type TicketApplication,
} from '@pouw/ledger'
import {
  TaskData, recordSize, datasetFromFragments, taskReportFromBytes, verifyTaskReport, taskProgressFromBytes, verifyTaskProgress, equivocationFromBytes, equivocationToBytes, finalModelFromBytes, finalModelToBytes, layersModel,
  sameFinalModel, taskSeed, taskPlan, testScore, verifyEquivocation, verifyFinalModel, type Equivocation, type FinalModel, type GradientEngine,
} from '@pouw/trainer'
import type { PubSubNetwork } from '@pouw/network/node'
import { HttpError, handOnToRelays, type ApiHandler, type PostHandler } from './http.js'
import type { EvaluatorTickets } from './evaluatorTickets.js'

export const TASK_RUNS_TOPIC = '/pouw/1/task-runs'
/**
 * blocks after the task-definition block whose JOIN_TASK transactions count: a volunteer's tab has
 * to see the block, prove its VRF output and get its join mined, so at testnet block times ~20 s
 */
export const JOIN_BLOCKS = 10
/**
 * how deep the last join block must be before a relay selects: relays that saw a short reorg of
 * the join window at different moments would otherwise select different committees
 */
export const SELECT_DEPTH = 2
/** blocks after selection by which the selected miners post their final models */
export const TRAIN_BLOCKS = 200
/**
 * a joined stake counts only if it stays locked this many blocks past the training window: the
 * charge returns it, and its owner could otherwise take it back first and make the charge invalid.
 * 300: the rest of TASK_FEE_RECLAIM_BLOCKS, from which the client may take back a fee no charge spent
 */
export const CHARGE_BLOCKS = TASK_FEE_RECLAIM_BLOCKS - JOIN_BLOCKS - TRAIN_BLOCKS
/**
 * joins counted per task, the earliest first (height, then outpoint): each adds an input and a
 * payout to the charge, which must stay under the mempool's 20,000-byte cap
 */
export const MAX_JOINS = 48
/**
 * the least fee a task runs for (0.01 coin): a smaller one could not pay its charge's own transaction fee, and fees
 * of a few units each would make every relay run, and every volunteer join, tasks by the thousand
 */
export const MIN_TASK_FEE = 1_000_000n
/** blocks after selection during which the workers of an unavailable task report it */
export const REPORT_BLOCKS = 20
/** how long an evaluator waits for the others' commitments before it reveals anyway */
export const REVEAL_WAIT_MS = 30_000
/** how long past its own reveal an evaluator waits for a decision before it starts the next round */
export const ROUND_WAIT_MS = 2 * REVEAL_WAIT_MS
/** once a round failed, how long an evaluator waits for the models the others hand on before it scores again */
export const MODEL_SYNC_MS = 10_000
/** evaluation rounds at most; an evaluation that none of them decides leaves the fee with the task (logged) */
export const MAX_ROUNDS = 8
/**
 * settled runs (no fee of theirs committed on chain: charged, taken back, or not committed yet) kept in memory after
 * a tick, the most recently asked about; the others are dropped and read back from the store when asked about again
 * (a run holds every miner's final model: a relay that kept them all would grow without bound)
 */
export const SETTLED_RUNS_KEPT = 16
/**
 * the testnet's tickets: live one block after purchase, at least 0.01 coin; the price adjusts every 144 blocks
 * (the paper's window) toward a pool of 256 tickets (the paper's 40,960 is for a network of many volunteers), up to 100 coins
 */
export const TICKET_PARAMS = { ...DEFAULT_TICKET_PARAMS, maturity: 1, minPrice: 1_000_000n, targetPoolSize: 256, maxPrice: 10_000_000_000n }
/**
 * a client task's preference vector: any ticket compares fully (a definition's hardware preference is not a feature
 * of it, as tickets' vectors have one feature; a tab without a GPU does not join a task that asks for one)
 */
export const TASK_PREFERENCES = [1]
const MINER_ROLE = roleIndex('miner')
const EVALUATOR_ROLE = roleIndex('evaluator')

/** an evaluator joins while this many blocks of the join window are left, as the page's miners do (taskMiner.ts) */
const JOIN_MARGIN = 3

/** a miner's training progress is taken at most this often (the page sends one every 3 s) */
export const PROGRESS_MIN_MS = 1_000

/** how often an evaluator gossips its commit, reveal and approval again, until the charge is mined */
const RESEND_MS = 10_000

/** What a volunteer needs to know to take part (GET /api/status `taskRuns`). */
export const TASK_RUN_RULES = {
  ticketRole: MINER_ROLE, ticketMinPrice: TICKET_PARAMS.minPrice.toString(), ticketMaturity: TICKET_PARAMS.maturity,
  preferences: TASK_PREFERENCES, joinBlocks: JOIN_BLOCKS, selectDepth: SELECT_DEPTH, trainBlocks: TRAIN_BLOCKS, chargeBlocks: CHARGE_BLOCKS, minTaskFee: MIN_TASK_FEE.toString(),
}


export type RunPhase = 'waiting' | 'joining' | 'training' | 'reporting' | 'evaluating' | 'unresolved' | 'charging' | 'charged' | 'reclaimed'

/** a selected miner: its key, its joined stake (outpointKey) and the amount staked */
interface Selected { key: string; ticket: string; stake: string }
/** a stake that joined the task in its window (outpointKey of the JOIN_TASK output): the charge returns it */
interface Joined { outpoint: string; key: string; stake: string; height: number }
/** a selected evaluator (paper 003 §4.4, chosen by ticket like the miners): its key, its joined stake (outpointKey), the amount staked */
type SelectedEvaluator = Selected

/** one evaluation round's commitments and reveals, by evaluator */
interface Round { commits: Map<string, Uint8Array>; reveals: Map<string, Uint8Array> }

interface RunState {
  task: string
  /** the task's definition: undefined while this relay holds none (a client that paid may still upload it before selection) */
  spec: TaskSpec | undefined
  /** the task-definition block */
  tdb?: { height: number; hash: string }
  /** 'unavailable': this relay held no definition when the join window closed; no one is seated */
  selection?: {
    miners: Selected[]; outcome: 'completed' | 'not-run' | 'unavailable'
    /** the miner-role stakes that joined and that the charge returns */
    joined: Joined[]
    /**
     * the evaluators selected from the evaluator tickets that joined (sorted by key; none when fewer than the
     * committee's minimum joined: nobody evaluates, and the client takes the fee back from its reclaim height)
     */
    evaluators?: SelectedEvaluator[]
  }
  /** this relay's JOIN_TASK with an evaluator ticket (its transaction hash), once handed to the mempool */
  joining?: { tx: string }
  /** why this relay's last evaluator join failed (logged once per reason) */
  joinFailed?: string
  /** an unavailable task's signed reports (taskReportToBytes), by the reporting joined stake's owner */
  reports: Map<string, Uint8Array>
  models: Map<string, FinalModel>
  /**
   * models that came after this relay closed its models (it scored), by miner: scored in a later
   * round if another evaluator's revealed conclusion scored that miner (its model reached a relay in time)
   */
  late: Map<string, FinalModel>
  /** miners that signed two different final models: the evidence (equivocationToBytes), by miner */
  cheats: Map<string, Uint8Array>
  /** the round this evaluator is in (0 first), and when it may score it (a later round waits for the models handed on) */
  round: number
  scoreFrom: number
  /** no round up to MAX_ROUNDS decided: this evaluator gave up (kept with the round) */
  gaveUp?: boolean
  /** this evaluator's latest conclusion and salt (of round `mine.round`), once it scored */
  mine?: { round: number; conclusion: Uint8Array; salt: Uint8Array; scores: MinerScore[]; committedAt: number; revealedAt?: number }
  /** every round's messages (other evaluators may be a round ahead) */
  rounds: Map<number, Round>
  /**
   * the miners some evaluator's revealed conclusion (any round) scored, and the workers one named as
   * reporters: their model or report reached a relay in time, so a late copy here counts
   */
  inTime: { scored: Set<string>; reporters: Set<string> }
  decided?: { conclusion: Uint8Array; charge: TransferTx; bestMiner?: string; bestScorePpm?: number }
  approvals: Map<string, Approval>
  submitted?: string
  /** when this relay last handed its approved charge to the mempool */
  submittedAt?: number
  /** every other relay holds the task (replicate), and when this relay last checked */
  replicated?: boolean
  replicatedAt?: number
  /** a hand-on to the other relays under way */
  replicating?: boolean
  /** each selected miner's latest training progress (in memory only: what the client watches), with when it came */
  progress: Map<string, { epoch: number; batch: number; batches: number; loss: number; accuracy: number; at: number }>
  /** the data plan's training fragments, once the definition block is known (served before the charge) */
  trainFragments?: readonly number[]
  /** this evaluator's own signed messages, sent again until the charge is mined (gossip loses some) */
  said: Signed[]
  saidAt: number
  /** when it was last asked for (runOf): a settled run beyond SETTLED_RUNS_KEPT leaves memory least recent first */
  usedAt: number
}

/** Evaluator messages on TASK_RUNS_TOPIC, as JSON with hex fields (the round in decimal), signed by the evaluator. */
type Signed =
  | { kind: 'commit'; task: string; round: string; evaluator: string; commitment: string; sig: string }
  | { kind: 'reveal'; task: string; round: string; evaluator: string; conclusion: string; salt: string; sig: string }
  | { kind: 'approve'; task: string; round: string; evaluator: string; approval: string; sig: string }

const enc = new TextEncoder()
const dec = new TextDecoder()
const HEX64 = /^[0-9a-f]{64}$/

const KEYS = {
  model: (task: string, miner: string) => `relay/run/${task}/model/${miner}`,
  models: (task: string) => `relay/run/${task}/model/`,
  late: (task: string, miner: string) => `relay/run/${task}/late/${miner}`,
  lates: (task: string) => `relay/run/${task}/late/`,
  selection: (task: string) => `relay/run/${task}/selection`,
  tdb: (task: string) => `relay/run/${task}/tdb`,
  /** this evaluator's conclusion, salt and scores: written before its commitment goes out, so a restart can still reveal */
  mine: (task: string) => `relay/run/${task}/mine`,
  /** the round this evaluator is in, once past the first */
  round: (task: string) => `relay/run/${task}/round`,
  /** every evaluator's signed commit, reveal and approval (this one's included), as received */
  message: (task: string, round: number, kind: Signed['kind'], evaluator: string) => `relay/run/${task}/msg/${round}/${kind}/${evaluator}`,
  messages: (task: string) => `relay/run/${task}/msg/`,
  /** a miner's two signed final models (equivocationToBytes) */
  cheat: (task: string, miner: string) => `relay/run/${task}/cheat/${miner}`,
  cheats: (task: string) => `relay/run/${task}/cheat/`,
  report: (task: string, worker: string) => `relay/run/${task}/report/${worker}`,
  reports: (task: string) => `relay/run/${task}/report/`,
  decided: (task: string) => `relay/run/${task}/decided`,
}

/** The order in which a restarted relay replays the stored messages (a reveal needs its commit). */
const SIGNED_KINDS = ['commit', 'reveal', 'approve'] as const satisfies readonly Signed['kind'][]

/** what relays hand each other (task: the task hash), as routes relative to a relay's base URL */
const ROUTES = {
  model: (task: string) => `api/task/model?task=${task}&from=relay`,
  equivocation: (task: string) => `api/task/equivocation?task=${task}&from=relay`,
  report: (task: string) => `api/task/report?task=${task}&from=relay`,
  progress: (task: string) => `api/task/progress?task=${task}&from=relay`,
}

/** a message's evaluation round (messages stored before rounds have none: the first) */
const roundOf = (m: Signed): number => Number(m.round ?? '0')

function evalSigHash(m: Record<string, string>): Uint8Array {
  return taggedHash(TAGS.evaluation, enc.encode(JSON.stringify(m)))
}

export interface TaskRuns {
  get: Record<string, ApiHandler>
  post: Record<string, PostHandler>
  /** gossip on TASK_RUNS_TOPIC */
  onMessage(data: Uint8Array, from: string): Promise<void>
  /** /data/tasks/<hash>/<i> (training fragments only), /data/tasks/<hash>/model.json and weights.bin */
  blob(pathname: string): Promise<Uint8Array | undefined>
  /** after every block and on a timer: move every run on */
  tick(): Promise<void>
  /** stops the timer and waits for the step under way */
  stop(): Promise<void>
  /** the task runs this relay holds in memory, by task hash (GET /api/status `taskRunsLoaded` counts them) */
  loaded(): string[]
}

export function createTaskRuns(deps: {
  store: KeyValueStore
  chain: Chain
  network: Pick<PubSubNetwork, 'publish'>
  keys: KeyPair
  /** a stored client task's definition, and one of its fragments (all of them for the evaluation) */
  loadSpec(task: string): Promise<Uint8Array | undefined>
  loadFragment(task: string, i: number): Promise<Uint8Array | undefined>
  /** hand a task this relay holds to the other relays that lack it (once its definition block is known) */
  replicate?(task: string): Promise<boolean>
  /** hand a transaction to the mempool (and gossip it) */
  submit(tx: TransferTx): Promise<unknown>
  engineFor(net: NetSpec): Promise<GradientEngine>
  otherRelays: () => string[]
  /** the relays' verifier keys (hex, POUW_EVALUATORS): they supervise every task (record its messages, hold its data) */
  relays: string[]
  /** this relay's evaluator tickets: it joins every committed task with one (absent: it never evaluates) */
  evaluatorTickets?: EvaluatorTickets
  /**
   * hands a request on to every other relay (default: an HTTP POST of `body` to `route` on each of
   * otherRelays, tried again after a failure unless `once`)
   */
  handOn?: (route: string, body: Uint8Array, once?: boolean) => void
  log: (msg: string, ctx?: Record<string, unknown>) => void
  now?: () => number
  /** settled runs kept in memory (default SETTLED_RUNS_KEPT) */
  settledRunsKept?: number
  /** how often the timer ticks, ms (default 2000; 0: no timer, the caller ticks) */
  tickMs?: number
}): TaskRuns {
  const { store, chain, network, keys, log } = deps
  const now = deps.now ?? Date.now
  const me = toHex(keys.publicKey)
  const relays = [...deps.relays].sort()
  /** approvals a charge needs: ceil(2n/3) of the n relays (the chain's evaluators' federation) */
  const federationThreshold = agreementThreshold(Math.max(1, relays.length))
  /** a run's evaluators: those its selection seated (none before it) */
  const evaluatorsOf = (r: RunState): string[] => (r.selection?.evaluators ?? []).map((e) => e.key)
  // a 409 is a relay that holds what we hand on already, or closed it
  const handOn = deps.handOn ?? ((route: string, body: Uint8Array, once = false): void =>
    handOnToRelays(deps.otherRelays(), route, body, log, { quiet: [409], active: () => !stopped, ...(once ? { retryMs: [] } : {}) }))
  const runs = new Map<string, Promise<RunState | undefined>>()
  let queue: Promise<unknown> = Promise.resolve()
  const serial = <T>(f: () => Promise<T>): Promise<T> => {
    const run = queue.then(f)
    queue = run.catch(() => undefined)
    return run
  }

  /**
   * The task's run state, loaded once: concurrent callers (the tick, a status request) share one
   * load, so no one steps a copy that the map does not hold.
   */
  function runOf(task: string): Promise<RunState | undefined> {
    let r = runs.get(task)
    if (r === undefined) {
      r = loadRun(task)
      runs.set(task, r)
      void r.then((loaded) => { if (loaded === undefined && runs.get(task) === r) runs.delete(task) }, () => runs.delete(task))
    }
    return r.then((loaded) => {
      if (loaded !== undefined) loaded.usedAt = now()
      return loaded
    })
  }

  /**
   * Drops from memory the settled runs beyond the most recently used `settledRunsKept`: a run with no fee committed
   * on chain (charged, taken back, or a definition not paid for yet) has nothing to step, and everything it says is in
   * the store (loadRun reads it back; a reorg that takes its charge away commits its fee again, and the tick loads it again).
   */
  async function evictSettled(fees: TaskFees): Promise<void> {
    const settled: RunState[] = []
    for (const [task, loaded] of runs) {
      const r = await loaded.catch(() => undefined)
      if (r !== undefined && committedFee(task, fees).length === 0) settled.push(r)
    }
    settled.sort((a, b) => b.usedAt - a.usedAt)
    for (const r of settled.slice(deps.settledRunsKept ?? SETTLED_RUNS_KEPT)) runs.delete(r.task)
  }

  /**
   * A task's run: one this relay holds the definition of, or one whose fee is committed on chain
   * (or that has a definition block on record) without it: that one is malformed if the definition
   * is still missing when the join window closes.
   */
  async function loadRun(task: string): Promise<RunState | undefined> {
    const bytes = await deps.loadSpec(task)
    if (bytes === undefined && (await store.get(KEYS.tdb(task))) === undefined && committedFee(task, await chain.taskFees()).length === 0) return undefined
    const spec = bytes === undefined ? undefined : taskFromBytes(bytes)
    const r: RunState = {
      task, spec, reports: new Map(), progress: new Map(), models: new Map(), late: new Map(), cheats: new Map(), round: 0, scoreFrom: 0, rounds: new Map(), inTime: { scored: new Set(), reporters: new Set() }, approvals: new Map(), said: [], saidAt: 0, usedAt: now(),
    }
    if (spec !== undefined) {
      for await (const [, v] of store.iterate(KEYS.models(task))) {
        const m = finalModelFromBytes(v, spec)
        r.models.set(toHex(m.miner), m)
      }
      for await (const [, v] of store.iterate(KEYS.lates(task))) {
        const m = finalModelFromBytes(v, spec)
        r.late.set(toHex(m.miner), m)
      }
    }
    for await (const [key, v] of store.iterate(KEYS.reports(task))) r.reports.set(key.slice(KEYS.reports(task).length), v)
    for await (const [key, v] of store.iterate(KEYS.cheats(task))) r.cheats.set(key.slice(KEYS.cheats(task).length), v)
    const sel = await store.get(KEYS.selection(task))
    if (sel !== undefined) r.selection = JSON.parse(dec.decode(sel)) as RunState['selection']
    await loadEvaluation(r)
    return r
  }

  /**
   * What a restart must not forget (the evaluation is kept in LevelDB as it goes): the definition
   * block (the fee that names it is spent once the task is charged), this evaluator's salt and
   * conclusion (a new evaluation would draw a new salt that matches no commitment the others hold),
   * every evaluator's signed messages, and the decided charge (the model and the test split are
   * served once it is mined).
   */
  async function loadEvaluation(r: RunState): Promise<void> {
    const json = async <T>(key: string): Promise<T | undefined> => {
      const v = await store.get(key)
      return v === undefined ? undefined : JSON.parse(dec.decode(v)) as T
    }
    r.tdb = await json<RunState['tdb']>(KEYS.tdb(r.task))
    const mine = await json<{ round?: number; conclusion: string; salt: string; scores: { miner: string; scorePpm: number }[] }>(KEYS.mine(r.task))
    if (mine !== undefined) {
      r.mine = {
        round: mine.round ?? 0, conclusion: fromHex(mine.conclusion), salt: fromHex(mine.salt),
        scores: mine.scores.map((x) => ({ miner: fromHex(x.miner), scorePpm: x.scorePpm })), committedAt: now(),
      }
    }
    const round = await json<{ round: number; gaveUp?: boolean }>(KEYS.round(r.task))
    r.round = Math.max(r.mine?.round ?? 0, round?.round ?? 0)
    r.gaveUp = round?.gaveUp === true
    const stored: Signed[] = []
    for await (const [, v] of store.iterate(KEYS.messages(r.task))) stored.push(JSON.parse(dec.decode(v)) as Signed)
    // a reveal needs its commit: replayed round by round, commits first
    stored.sort((a, b) => roundOf(a) - roundOf(b) || SIGNED_KINDS.indexOf(a.kind) - SIGNED_KINDS.indexOf(b.kind))
    for (const m of stored) {
      record(r, m)
      if (m.evaluator !== me) continue
      // only the messages of the round this evaluator is in (and its approval) are sent again
      if (roundOf(m) === r.round || m.kind === 'approve') r.said.push(m)
      if (m.kind === 'reveal' && r.mine !== undefined && roundOf(m) === r.mine.round) r.mine.revealedAt = now()
    }
    const decided = await json<{ conclusion: string; charge: string }>(KEYS.decided(r.task))
    if (decided !== undefined) r.decided = decision(fromHex(decided.conclusion), txFromBytes(fromHex(decided.charge)) as TransferTx)
  }

  /** The decided charge with the best model it names, read from the agreed conclusion. */
  function decision(conclusionBytes: Uint8Array, charge: TransferTx): NonNullable<RunState['decided']> {
    const c = conclusionFromBytes(conclusionBytes)
    const best = c.bestMiner === undefined ? undefined : toHex(c.bestMiner)
    const bestScorePpm = best === undefined ? undefined : c.scores.find((s) => toHex(s.miner) === best)?.scorePpm
    return { conclusion: conclusionBytes, charge, bestMiner: best, bestScorePpm }
  }

  function roundState(r: RunState, n: number): Round {
    let x = r.rounds.get(n)
    if (x === undefined) r.rounds.set(n, x = { commits: new Map(), reveals: new Map() })
    return x
  }

  /** A checked evaluator message into the run's state; false when it adds nothing (a repeat, or a reveal before its commit). */
  function record(r: RunState, m: Signed): boolean {
    const round = roundState(r, roundOf(m))
    if (m.kind === 'commit') {
      if (round.commits.has(m.evaluator)) return false
      round.commits.set(m.evaluator, fromHex(m.commitment))
    } else if (m.kind === 'reveal') {
      const commitment = round.commits.get(m.evaluator)
      if (commitment === undefined || round.reveals.has(m.evaluator)) return false
      const c = checkReveal(commitment, taskIdOf(r), fromHex(m.evaluator), fromHex(m.conclusion), fromHex(m.salt)) // throws LEDGER_BAD_REVEAL
      round.reveals.set(m.evaluator, fromHex(m.conclusion))
      for (const s of c.scores) r.inTime.scored.add(toHex(s.miner))
      for (const k of c.reporters) r.inTime.reporters.add(toHex(k))
    } else {
      if (r.approvals.has(m.evaluator)) return false
      r.approvals.set(m.evaluator, { evaluator: fromHex(m.evaluator), signature: fromHex(m.approval) })
    }
    return true
  }

  const messagePut = (m: Signed): BatchOp => ({ type: 'put', key: KEYS.message(m.task, roundOf(m), m.kind, m.evaluator), value: enc.encode(JSON.stringify(m)) })

  /** The task's definition, or 404 RELAY_TASK_UNAVAILABLE while this relay holds none. */
  function specOf(r: RunState): TaskSpec {
    if (r.spec === undefined) throw new HttpError(404, `this relay holds no definition of task ${r.task}: its fee is paid, its data never came`, 'RELAY_TASK_UNAVAILABLE')
    return r.spec
  }

  /**
   * The id a conclusion and its commitment name: the task hash's first 16 bytes, whether or not this
   * relay holds the definition (the hash commits to it), so that a relay without it and one with it
   * check each other's reveals alike.
   */
  function taskIdOf(r: RunState): Uint8Array {
    return fromHex(r.task).subarray(0, TASK_ID_SIZE)
  }

  /** The task with its whole data set, for its evaluation: read when needed, not kept. */
  async function taskData(r: RunState): Promise<TaskData> {
    const spec = specOf(r)
    const fragments = await Promise.all(spec.fragmentHashes.map((_, i) => deps.loadFragment(r.task, i)))
    if (r.tdb === undefined || fragments.some((f) => f === undefined)) throw new Error(`internal: task ${r.task} lacks data or its definition block`)
    return new TaskData(spec, datasetFromFragments(fragments as Uint8Array[], inputSize(spec)), taskSeed(fromHex(r.tdb.hash), spec))
  }

  /** Which fragments are the training set: the data plan alone (no data), kept with the run. */
  function trainFragments(r: RunState, tdb: NonNullable<RunState['tdb']>): readonly number[] {
    const spec = specOf(r)
    r.trainFragments ??= taskPlan(spec, taskSeed(fromHex(tdb.hash), spec)).trainFragments
    return r.trainFragments
  }

  /** the task's committed fee coins on chain (empty: unpaid, revoked, still revocable, charged, or under MIN_TASK_FEE in all) */
  function committedFee(task: string, fees: TaskFees): { outpoint: OutPoint; coin: Coin }[] {
    const coins = fees.get(task) ?? []
    const height = chain.tip().height + 1
    const committed = coins.filter((c) => c.coin.lock.kind === 'task-fee' && height >= c.coin.lock.revokeBefore)
    return committed.reduce((a, c) => a + c.coin.amount, 0n) >= MIN_TASK_FEE ? committed : []
  }

  // ---- JOIN_TASK ----

  function selectionParams(): SelectionParams {
    // one miner seat per kB of data (the task definition has no expected training time yet)
    // evaluators: the chain takes a charge's approvals from ceil(2n/3) of the n relays (ledger utxo.ts approvalChecks), so at
    // least that many are seated (one relay of three that did not join, say it is down, does not stall the task), and
    // every relay that joined is (up to 7, or all the relays when more)
    const minEvaluators = federationThreshold
    const maxEvaluators = Math.max(DEFAULT_COMMITTEE_PARAMS.maxEvaluators, relays.length)
    return {
      omegaPpm: DEFAULT_OMEGA_PPM, tickets: TICKET_PARAMS,
      committee: { ...DEFAULT_COMMITTEE_PARAMS, omegaDiskPpm: PPM, omegaTimePpm: 0, omegaFeePpm: 0, minEvaluators, maxEvaluators },
    }
  }

  /**
   * The task-definition block: the main chain's block at the fee's revokeBefore height, followed
   * until the selection and then fixed, as the selection rests on it. A relay that first saw a
   * sibling at that height, later reorganised away, would otherwise select against the wrong hash,
   * and find every VRF proof invalid (an e2e @lifecycle run caught one relay doing so).
   */
  async function refreshTdb(r: RunState, fees: TaskFees): Promise<void> {
    if (r.tdb !== undefined && r.selection !== undefined) return
    const fee = committedFee(r.task, fees)
    const height = r.tdb?.height ?? (fee.length === 0 ? undefined : feeRevokeBefore(fee))
    if (height === undefined) return
    const entry = await chain.getByHeight(height)
    if (entry === undefined || entry.hashHex === r.tdb?.hash) return
    const first = r.tdb === undefined
    if (!first) log('the task-definition block was reorganised away: following the main chain', { task: r.task, height, was: r.tdb!.hash, now: entry.hashHex })
    r.tdb = { height, hash: entry.hashHex }
    r.trainFragments = undefined
    await store.batch([{ type: 'put', key: KEYS.tdb(r.task), value: enc.encode(JSON.stringify(r.tdb)) }])
  }

  /**
   * Until the join window closes, a relay that holds the task hands it to every other relay that
   * lacks it (again every RESEND_MS until all hold it): a relay without it at selection finds the
   * task unavailable, and enough of those would decide the task malformed. In the background: a
   * slow or absent relay (up to 35 s each) must not hold up the tick and every message queued behind it.
   */
  function replicate(r: RunState): void {
    if (r.spec === undefined || r.replicated === true || r.replicating === true || deps.replicate === undefined || now() - (r.replicatedAt ?? 0) < RESEND_MS) return
    r.replicatedAt = now()
    r.replicating = true
    void deps.replicate(r.task).catch(() => false).then((ok) => { r.replicated = ok; r.replicating = false })
  }

  /**
   * The stakes of `role` that joined the task in its window (blocks TDB+1 .. TDB+JOIN_BLOCKS of the
   * main chain) and stay locked past CHARGE_BLOCKS, by height then outpoint: what selection draws
   * from and the charge returns (of the evaluators', the selected ones). Any other join is its
   * owner's again at its expiry.
   */
  async function joinsOf(r: RunState, tdb: NonNullable<RunState['tdb']>, role: number): Promise<{ joined: Joined; app: TicketApplication }[]> {
    const out: { joined: Joined; app: TicketApplication }[] = []
    for (const { outpoint, coin } of (await chain.taskJoins()).get(r.task) ?? []) {
      const lock = coin.lock
      if (lock.kind !== 'joined' || lock.role !== role || coin.height <= tdb.height || coin.height > tdb.height + JOIN_BLOCKS) continue
      if (lock.expiry <= tdb.height + JOIN_BLOCKS + TRAIN_BLOCKS + CHARGE_BLOCKS) continue
      const key = outpointKey(outpoint)
      out.push({
        joined: { outpoint: key, key: toHex(coin.recipient), stake: coin.amount.toString(), height: coin.height },
        app: {
          ticket: {
            id: taggedHash(TAGS.taskApplication, enc.encode(key)), owner: coin.recipient, vrfPublicKey: lock.vrfPublicKey, role: SELECTION_ROLES[lock.role]!,
            preferences: lock.preferences, stake: coin.amount, purchaseHeight: lock.purchaseHeight,
          },
          pi: lock.pi,
        },
      })
    }
    return out.sort((a, b) => a.joined.height - b.joined.height || (a.joined.outpoint < b.joined.outpoint ? -1 : 1))
  }

  /** An unavailable task's counted joins: the first MAX_JOINS in join order (there is no committee to rank them for). */
  async function unavailableJoins(r: RunState, tdb: NonNullable<RunState['tdb']>): Promise<Joined[]> {
    return (await joinsOf(r, tdb, MINER_ROLE)).slice(0, MAX_JOINS).map((j) => j.joined)
  }

  /**
   * The task's evaluators, from the evaluator tickets that joined (selectCommittee: VRF proofs over the
   * definition block, ranked, cut to the committee's bounds, one seat per owner): the same on every
   * relay, whether or not it holds the definition.
   */
  async function selectEvaluators(r: RunState, tdb: NonNullable<RunState['tdb']>): Promise<SelectedEvaluator[]> {
    // the relays' tickets only: the chain takes a charge's approvals from the relays' federation (ledger utxo.ts approvalChecks),
    // and only relays hold the test split; any other evaluator ticket that joined is its owner's again at its expiry
    const joins = (await joinsOf(r, tdb, EVALUATOR_ROLE)).filter((j) => relays.includes(j.joined.key))
    const byId = new Map(joins.map((j) => [toHex(j.app.ticket.id), j.joined]))
    const result = selectCommittee('evaluator', joins.map((j) => j.app), selectionTaskOf(tdb, { datasetKB: 0, expectedTrainingSeconds: 0, fee: 0n }), selectionParams())
    const seated = seatOwners(result.qualified.map((q) => byId.get(toHex(q.ticket.id))!), result.bounds.max)
    const filled = result.bounds.max >= result.bounds.min && seated.length >= result.bounds.min
    log('task evaluators selected', { task: r.task, joined: joins.length, rejected: result.rejected.map((x) => x.reason), bounds: result.bounds, evaluators: seated.map((e) => e.key.slice(0, 16)) })
    return filled ? seated.sort((a, b) => (a.key < b.key ? -1 : 1)) : []
  }

  const selectionTaskOf = (tdb: NonNullable<RunState['tdb']>, committee: { datasetKB: number; expectedTrainingSeconds: number; fee: bigint }) => ({
    definitionBlockHash: fromHex(tdb.hash), definitionHeight: tdb.height, preferences: TASK_PREFERENCES, committee,
  })

  /** one seat per owner (an owner's tickets share a VRF key, but two tickets may name two keys), in rank order, up to `max` */
  function seatOwners(ranked: readonly Joined[], max: number): Selected[] {
    const seats: Selected[] = []
    for (const j of ranked.slice(0, MAX_JOINS)) {
      if (seats.length < max && !seats.some((m) => m.key === j.key)) seats.push({ key: j.key, ticket: j.outpoint, stake: j.stake })
    }
    return seats
  }

  async function select(r: RunState, fees: TaskFees): Promise<void> {
    const tdb = r.tdb!
    const evaluators = await selectEvaluators(r, tdb)
    if (r.spec === undefined) {
      r.selection = { miners: [], outcome: 'unavailable', joined: await unavailableJoins(r, tdb), evaluators }
      await store.batch([{ type: 'put', key: KEYS.selection(r.task), value: enc.encode(JSON.stringify(r.selection)) }])
      log('task unavailable: no definition held when its join window closed', { task: r.task, joined: r.selection.joined.length })
      return
    }
    const joins = await joinsOf(r, tdb, MINER_ROLE)
    /** ticket id -> its joined stake: a selected member names its ticket (one owner's tickets share a VRF key) */
    const byId = new Map(joins.map((j) => [toHex(j.app.ticket.id), j.joined]))
    const fee = committedFee(r.task, fees).reduce((s, c) => s + c.coin.amount, 0n)
    const datasetKB = Math.ceil((r.spec.recordCount * recordSize(inputSize(r.spec))) / 1024)
    const result = selectCommittee('miner', joins.map((j) => j.app), selectionTaskOf(tdb, { datasetKB, expectedTrainingSeconds: r.spec.expectedSeconds, fee }), selectionParams())
    // the charge returns MAX_JOINS stakes at most (each is an input and a payout): the best-ranked qualified joins,
    // then every other join in join order (rejected ones, and an owner's further tickets, which ranking drops as they
    // share its VRF key); any further join is its owner's again at the ticket's expiry
    const qualified = result.qualified.map((q) => toHex(q.ticket.id))
    const ranked = new Set(qualified)
    const counted = [...qualified, ...joins.map((j) => toHex(j.app.ticket.id)).filter((id) => !ranked.has(id))].slice(0, MAX_JOINS)
    const miners = seatOwners(result.qualified.map((q) => byId.get(toHex(q.ticket.id))!), result.bounds.max)
    const filled = result.bounds.max >= result.bounds.min && miners.length >= result.bounds.min
    const kept = new Set(counted)
    r.selection = {
      miners: filled ? miners : [], outcome: filled ? 'completed' : 'not-run',
      joined: joins.filter((j) => kept.has(toHex(j.app.ticket.id))).map((j) => j.joined),
      evaluators,
    }
    await store.batch([{ type: 'put', key: KEYS.selection(r.task), value: enc.encode(JSON.stringify(r.selection)) }])
    log('task miners selected', {
      task: r.task, joined: joins.length, qualified: result.qualified.length, rejected: result.rejected.map((x) => x.reason), bounds: result.bounds,
      miners: r.selection.miners.map((m) => m.key.slice(0, 16)), outcome: r.selection.outcome,
    })
  }

  // ---- final models ----

  async function onModel(url: URL, bytes: Uint8Array): Promise<{ status: 'accepted' | 'known' | 'late' }> {
    const r = await runFor(url)
    const m = finalModelFromBytes(bytes, specOf(r))
    if (toHex(m.taskHash) !== r.task) throw new HttpError(400, 'the model is for another task', 'RELAY_BAD_MODEL')
    const miner = toHex(m.miner)
    mustBeSelected(r, miner)
    if (r.models.has(miner) && sameFinalModel(r.models.get(miner)!, m)) return { status: 'known' }
    const held = r.models.get(miner) ?? r.late.get(miner)
    const same = held !== undefined && sameFinalModel(held, m)
    if (!same && !(await verifyFinalModel(m))) throw new HttpError(400, 'the model is not signed by its miner', 'RELAY_BAD_MODEL')
    if (held !== undefined && !same) {
      // a second, different model signed by the same miner: the two are the proof that it cheated
      await recordCheat(r, miner, equivocationToBytes({ first: held, second: m }), true)
      throw new HttpError(409, `${miner} already posted a different model for task ${r.task}: both are kept as evidence, its stake is forfeit`, 'RELAY_EQUIVOCATION')
    }
    // models close when this evaluator scores; one that comes later is kept, and scored in a later round if another
    // evaluator scored it (it reached that relay in time: its hand-on here was lost, or overtook the other's reveal)
    if (r.mine !== undefined) {
      if (!same) {
        r.late.set(miner, m)
        await store.batch([{ type: 'put', key: KEYS.late(r.task, miner), value: bytes }])
      }
      if (url.searchParams.get('from') === 'relay') return { status: 'late' }
      throw new HttpError(409, `task ${r.task} is being evaluated: models are closed (this one is kept, and counts if another evaluator scored it in time)`, 'RELAY_TASK_CLOSED')
    }
    r.models.set(miner, m)
    await store.batch([{ type: 'put', key: KEYS.model(r.task, miner), value: bytes }])
    log('final model accepted', { task: r.task, miner: miner.slice(0, 16) })
    if (url.searchParams.get('from') !== 'relay') handOn(ROUTES.model(r.task), bytes)
    return { status: 'accepted' }
  }

  /** A worker's message about the run's task, decoded; a 400 with `code` when it does not decode or is about another task. */
  function decodeForTask<T extends { taskHash: Uint8Array }>(r: RunState, bytes: Uint8Array, decode: (b: Uint8Array) => T, what: string, code: string): T {
    let m: T
    try {
      m = decode(bytes)
    } catch (e) {
      throw new HttpError(400, `not ${what}: ${(e as Error).message}`, code)
    }
    if (toHex(m.taskHash) !== r.task) throw new HttpError(400, `${what} about another task`, code)
    return m
  }

  /** RELAY_NOT_SELECTED (403) unless `miner` (hex) is one of the task's selected miners. */
  function mustBeSelected(r: RunState, miner: string): void {
    if (r.selection === undefined || !r.selection.miners.some((s) => s.key === miner)) throw new HttpError(403, `${miner} is not a selected miner of task ${r.task}`, 'RELAY_NOT_SELECTED')
  }

  /** The run a request names (?task=), or a 400/404 HttpError. */
  async function runFor(url: URL): Promise<RunState> {
    const task = url.searchParams.get('task') ?? ''
    if (!HEX64.test(task)) throw new HttpError(400, 'task must be a task hash (64 lowercase hex digits)')
    const r = await runOf(task)
    if (r === undefined) throw new HttpError(404, `no task ${task} on this relay`, 'RELAY_UNKNOWN_TASK')
    return r
  }

  /** A checked equivocation, kept (until the task is decided) and handed on to the other relays when it is new here. */
  async function recordCheat(r: RunState, miner: string, evidence: Uint8Array, handItOn: boolean): Promise<boolean> {
    if (r.cheats.has(miner) || r.decided !== undefined) return false
    r.cheats.set(miner, evidence)
    await store.batch([{ type: 'put', key: KEYS.cheat(r.task, miner), value: evidence }])
    log('a miner signed two different models: a cheat', { task: r.task, miner: miner.slice(0, 16) })
    if (handItOn) handOn(ROUTES.equivocation(r.task), evidence)
    return true
  }

  /** POST /api/task/equivocation: a selected miner's two different signed models for the task. */
  async function onEquivocation(url: URL, bytes: Uint8Array): Promise<{ status: 'accepted' | 'known' }> {
    const r = await runFor(url)
    let e: Equivocation
    try {
      e = equivocationFromBytes(bytes, specOf(r))
    } catch (err) {
      throw new HttpError(400, `not an equivocation: ${(err as Error).message}`, 'RELAY_BAD_EVIDENCE')
    }
    const miner = toHex(e.first.miner)
    if (toHex(e.first.taskHash) !== r.task) throw new HttpError(400, 'the evidence is about another task', 'RELAY_BAD_EVIDENCE')
    mustBeSelected(r, miner)
    if (r.cheats.has(miner)) return { status: 'known' }
    if (!(await verifyEquivocation(e))) throw new HttpError(400, 'a model of the evidence is not signed by its miner', 'RELAY_BAD_EVIDENCE')
    return { status: (await recordCheat(r, miner, bytes, url.searchParams.get('from') !== 'relay')) ? 'accepted' : 'known' }
  }

  /**
   * POST /api/task/report: a joined worker's signed report that the task is malformed, accepted
   * once this relay found it unavailable (selection 'unavailable') and until the evaluators
   * conclude; handed on to the other relays.
   */
  async function onReport(url: URL, bytes: Uint8Array): Promise<{ status: 'accepted' | 'known' }> {
    const r = await runFor(url)
    const report = decodeForTask(r, bytes, taskReportFromBytes, 'a task report', 'RELAY_BAD_REPORT')
    const worker = toHex(report.reporter)
    if (r.selection?.outcome !== 'unavailable') {
      throw new HttpError(409, `task ${r.task} is not malformed here: ${r.selection === undefined ? 'its join window is open' : 'this relay holds its definition and data'}`, 'RELAY_NOT_MALFORMED')
    }
    if (!r.selection.joined.some((j) => j.key === worker)) throw new HttpError(403, `${worker} has no stake that joined task ${r.task} in its window`, 'RELAY_NOT_JOINED')
    if (r.reports.has(worker)) return { status: 'known' }
    if (r.decided !== undefined) throw new HttpError(409, `task ${r.task} is decided: reports are closed`, 'RELAY_TASK_CLOSED')
    // after the report window only a report another evaluator's conclusion names: it reached a relay in time
    // (late reports handed to some relays and not others would otherwise keep the evaluators apart round after round)
    if (r.tdb !== undefined && chain.tip().height >= reportDeadline(r.tdb) && !r.inTime.reporters.has(worker)) {
      throw new HttpError(409, `the report window of task ${r.task} closed at height ${reportDeadline(r.tdb)}`, 'RELAY_TASK_CLOSED')
    }
    if (!(await verifyTaskReport(report))) throw new HttpError(400, 'the report is not signed by its worker', 'RELAY_BAD_REPORT')
    r.reports.set(worker, bytes)
    await store.batch([{ type: 'put', key: KEYS.report(r.task, worker), value: bytes }])
    log('malformed task reported', { task: r.task, worker: worker.slice(0, 16) })
    if (url.searchParams.get('from') !== 'relay') handOn(ROUTES.report(r.task), bytes)
    return { status: 'accepted' }
  }

  /**
   * POST /api/task/progress?task=: a selected miner's signed training progress. The latest to come
   * per miner is kept in memory and handed on once (a lost one is followed by the next), for the
   * client to watch (GET /api/task/run `progress`); a tab that starts its training again starts
   * from epoch 0 again. At most one per miner per PROGRESS_MIN_MS is taken (more are 'known', before
   * any signature check), so a selected miner cannot make the relays verify and hand on without
   * bound. Outside the serial queue: a tick that scores must not hold it up.
   */
  async function onProgress(url: URL, bytes: Uint8Array): Promise<{ status: 'accepted' | 'known' }> {
    const r = await runFor(url)
    const p = decodeForTask(r, bytes, taskProgressFromBytes, 'a progress message', 'RELAY_BAD_PROGRESS')
    const miner = toHex(p.miner)
    mustBeSelected(r, miner)
    if (r.spec !== undefined && (p.epoch >= r.spec.epochs || p.batches > r.spec.recordCount)) {
      throw new HttpError(400, `epoch ${p.epoch} of ${r.spec.epochs}, ${p.batches} batches of ${r.spec.recordCount} records: not this task's training`, 'RELAY_BAD_PROGRESS')
    }
    // one per PROGRESS_MIN_MS: asked again after the signature check, as another post may have come meanwhile
    const tooSoon = (): boolean => now() - (r.progress.get(miner)?.at ?? -Infinity) < PROGRESS_MIN_MS
    if (tooSoon()) return { status: 'known' }
    if (!(await verifyTaskProgress(p))) throw new HttpError(400, 'the progress is not signed by its miner', 'RELAY_BAD_PROGRESS')
    if (tooSoon()) return { status: 'known' }
    r.progress.set(miner, { epoch: p.epoch, batch: p.batch, batches: p.batches, loss: p.loss, accuracy: p.accuracy, at: now() })
    if (url.searchParams.get('from') !== 'relay') handOn(ROUTES.progress(r.task), bytes, true)
    return { status: 'accepted' }
  }

  // ---- evaluation ----

  /** Our own message: into the state and the store (with `also`, in the same batch), then out. */
  async function say(r: RunState, m: Signed, also: BatchOp[] = []): Promise<void> {
    await store.batch([...also, messagePut(m)])
    record(r, m)
    r.said.push(m)
    r.saidAt = now()
    publish(m)
  }

  /**
   * Gossips `m` with the time it is sent, outside what is signed: the gossip layer drops bytes it
   * saw in the last two minutes (message id = hash of the data), so a message sent again must differ.
   */
  function publish(m: Signed): void {
    void network.publish(TASK_RUNS_TOPIC, enc.encode(JSON.stringify({ ...m, sent: now() }))).catch(() => {})
  }

  async function signed(m: Record<string, string>): Promise<Signed> {
    return { ...m, sig: toHex(await signAsync(keys.secretKey, evalSigHash(m))) } as Signed
  }

  /**
   * Scores every model this relay holds on the test split, but a cheat's (named in the conclusion
   * instead), and commits to the conclusion in the current round.
   */
  async function evaluate(r: RunState): Promise<void> {
    // the late models another evaluator scored in an earlier round join the ones this relay holds
    const admitted = [...r.late].filter(([miner]) => r.inTime.scored.has(miner))
    if (admitted.length > 0) {
      await store.batch(admitted.flatMap(([miner, m]) => [
        { type: 'put' as const, key: KEYS.model(r.task, miner), value: finalModelToBytes(m) }, { type: 'del' as const, key: KEYS.late(r.task, miner) },
      ]))
      for (const [miner, m] of admitted) { r.models.set(miner, m); r.late.delete(miner) }
    }
    const d = await taskData(r)
    const engine = await deps.engineFor(specOf(r).net)
    const scores: MinerScore[] = []
    for (const [miner, m] of r.models) if (!r.cheats.has(miner)) scores.push({ miner: fromHex(miner), scorePpm: (await testScore(engine, d, m.theta)).scorePpm })
    const conclusion = conclusionToBytes(createConclusion(taskIdOf(r), 'match', scores, [...r.cheats.keys()].map(fromHex)))
    log('task evaluated', { task: r.task, round: r.round, scores: scores.map((s) => ({ miner: toHex(s.miner).slice(0, 16), scorePpm: s.scorePpm })), cheats: [...r.cheats.keys()].map((k) => k.slice(0, 16)) })
    await commit(r, conclusion, scores)
  }

  /** the height from which an unavailable task's evaluators conclude whatever reports they hold */
  const reportDeadline = (tdb: NonNullable<RunState['tdb']>): number => tdb.height + JOIN_BLOCKS + SELECT_DEPTH + REPORT_BLOCKS

  /** An unavailable task's conclusion: no scores, the workers that reported it. */
  async function concludeUnavailable(r: RunState): Promise<void> {
    const reporters = [...r.reports.keys()].sort()
    log('task concluded unavailable', { task: r.task, round: r.round, reporters: reporters.map((k) => k.slice(0, 16)) })
    await commit(r, conclusionToBytes(createConclusion(taskIdOf(r), 'unavailable', [], [], reporters.map(fromHex))), [])
  }

  /** Commits to `conclusion` in the current round: the conclusion and its salt are stored before the commitment goes out. */
  async function commit(r: RunState, conclusion: Uint8Array, scores: MinerScore[]): Promise<void> {
    const salt = crypto.getRandomValues(new Uint8Array(32))
    const commitment = computeConclusionCommitment(taskIdOf(r), keys.publicKey, conclusion, salt)
    const round = r.round
    const mine = { round, conclusion: toHex(conclusion), salt: toHex(salt), scores: scores.map((x) => ({ miner: toHex(x.miner), scorePpm: x.scorePpm })) }
    // a new round's messages are the ones sent again
    r.said = r.said.filter((m) => m.kind === 'approve')
    await say(r, await signed({ kind: 'commit', task: r.task, round: String(round), evaluator: me, commitment: toHex(commitment) }),
      [{ type: 'put', key: KEYS.mine(r.task), value: enc.encode(JSON.stringify(mine)) }])
    r.mine = { round, conclusion, salt, scores, committedAt: now() }
  }

  async function reveal(r: RunState): Promise<void> {
    const mine = r.mine!
    await say(r, await signed({ kind: 'reveal', task: r.task, round: String(mine.round), evaluator: me, conclusion: toHex(mine.conclusion), salt: toHex(mine.salt) }))
    mine.revealedAt = now()
  }

  /**
   * The next round, once this one decided nothing (decide found no agreement) and every evaluator
   * revealed in it, or ROUND_WAIT_MS passed since this evaluator's reveal. Each hands on every model,
   * equivocation and report it holds, and scores again MODEL_SYNC_MS later: evaluators that held
   * different models, because a hand-on was lost or a model came in just as they closed, then score
   * the same ones.
   */
  async function nextRound(r: RunState): Promise<void> {
    const current = roundState(r, r.round)
    if (!everyoneIn(r, current) && now() - r.mine!.revealedAt! <= ROUND_WAIT_MS) return
    const next = r.round + 1
    if (next >= MAX_ROUNDS) {
      if (r.gaveUp === true) return
      r.gaveUp = true
      await store.batch([{ type: 'put', key: KEYS.round(r.task), value: enc.encode(JSON.stringify({ round: r.round, gaveUp: true })) }])
      log('evaluators agreed in no round: the client may take the fee back once no charge came', { task: r.task, rounds: MAX_ROUNDS, reclaimFrom: taskFeeReclaimHeight(r.tdb!.height) })
      return
    }
    log('evaluation round decided nothing: next round', { task: r.task, round: r.round, next, reveals: current.reveals.size })
    r.round = next
    r.scoreFrom = now() + MODEL_SYNC_MS
    await store.batch([{ type: 'put', key: KEYS.round(r.task), value: enc.encode(JSON.stringify({ round: next })) }])
    // once each: the next round is the retry (a retry schedule per round would stack, each holding the models)
    for (const m of r.models.values()) handOn(ROUTES.model(r.task), finalModelToBytes(m), true)
    for (const e of r.cheats.values()) handOn(ROUTES.equivocation(r.task), e, true)
    for (const b of r.reports.values()) handOn(ROUTES.report(r.task), b, true)
  }

  const everyoneIn = (r: RunState, round: Round): boolean => evaluatorsOf(r).every((e) => round.reveals.has(e))
  /**
   * ceil(2n/3) identical conclusions of the n relays decide, as the chain needs that many approvals (a relay that is not
   * seated counts as one that did not reveal): fewer, from a committee that seated fewer than every relay, would decide a
   * charge the chain refuses
   */
  const agreementOf = (r: RunState, round: Round): ReturnType<typeof decideAgreement> =>
    decideAgreement(relays.map(fromHex), [...round.reveals].filter(([e]) => evaluatorsOf(r).includes(e)).map(([evaluator, conclusion]) => ({ evaluator: fromHex(evaluator), conclusion })))

  /**
   * The agreed conclusion's charge: every evaluator computes the same transaction from the same
   * inputs. Those inputs include who agreed (an evaluator that did not is an outlier, unpaid), so
   * the decision waits for every evaluator's reveal: deciding on the first ceil(2n/3) identical
   * ones would let relays that heard different reveals first sign different charges (the e2e
   * @lifecycle test caught exactly that). Only an evaluator silent for REVEAL_WAIT_MS past this
   * one's own reveal is left out; then relays may still differ, and no charge gathers approvals.
   * An earlier round in which every evaluator revealed and enough agreed decides too: the others may
   * have decided it while this evaluator, cut off, moved on (it would then wait in later rounds alone).
   * 'none' when the current round can no longer agree; 'waiting' when it still may, or agreed while
   * the fee is missing from the chain (a reorg): neither starts the next round.
   */
  async function decide(r: RunState, fees: TaskFees): Promise<'decided' | 'waiting' | 'none'> {
    const round = [...r.rounds.keys()].filter((n) => n < r.round).sort((a, b) => a - b)
      .find((n) => everyoneIn(r, roundState(r, n)) && agreementOf(r, roundState(r, n)).decided) ?? r.round
    const current = roundState(r, round)
    if (round === r.round && !everyoneIn(r, current) && now() - r.mine!.revealedAt! <= REVEAL_WAIT_MS) return 'waiting'
    const agreement = agreementOf(r, current)
    if (!agreement.decided) return 'none'
    const conclusion = conclusionFromBytes(agreement.conclusion)
    const evaluators = r.selection!.evaluators ?? []
    const fee = committedFee(r.task, fees)
    if (fee.length === 0) return 'waiting'
    const total = fee.reduce((s, c) => s + c.coin.amount, 0n)
    const agreeing = new Set(agreement.agreeing.map(toHex))
    const { joined, ...workers } = conclusion.testSetVerdict === 'unavailable' ? unavailableWorkers(conclusion, await unavailableJoins(r, r.tdb!)) : taskWorkers(r, conclusion)
    // the fee's payers, by what each paid: a refund goes back to each in proportion
    const paid = new Map<string, bigint>()
    for (const c of fee) paid.set(toHex(c.coin.recipient), (paid.get(toHex(c.coin.recipient)) ?? 0n) + c.coin.amount)
    const input = {
      clients: [...paid].map(([key, amount]) => ({ key: fromHex(key), paid: amount })), ...workers,
      // the relays supervised the task (recorded its messages, held its data): they stake nothing
      supervisors: relays.map((k) => ({ key: fromHex(k), stake: 0n, status: 'honest' as const })),
      // the evaluators chosen by ticket: each stake comes back whole, a dissenter (outlier) is not paid a share of the fee
      evaluators: evaluators.map((e) => ({ key: fromHex(e.key), stake: BigInt(e.stake), status: agreeing.has(e.key) ? 'honest' as const : 'outlier' as const })),
    }
    const miners = workers.miners
    // the transaction fee comes off the client's fee first, sized for the most payouts the split can have: fee shares
    // (miners, supervisors, evaluators), a stake back per join and per evaluator, redistribution to miners and supervisors, a refund per payer
    const inputs = [...fee.map((c) => c.outpoint), ...joined.map((j) => outpointFromKey(j.outpoint)), ...evaluators.map((e) => outpointFromKey(e.ticket))]
    const txFee = chargeTxFee(inputs.length, 2 * miners.length + 2 * relays.length + 2 * evaluators.length + joined.length + paid.size, evaluators.length)
    const payouts = computeCharge({ ...input, fee: total - txFee })
    const resultHash = taggedHash(TAGS.evaluation, agreement.conclusion)
    const charge = chargeTx(inputs, fromHex(r.task), resultHash, payouts)
    r.decided = decision(agreement.conclusion, charge)
    log('evaluators agree', { task: r.task, round, agreeing: agreement.agreeing.length, bestMiner: r.decided.bestMiner?.slice(0, 16), payouts: payouts.map((p) => ({ to: toHex(p.recipient).slice(0, 16), amount: p.amount.toString(), reason: p.reason })) })
    if (agreeing.has(me)) {
      const approval = await approveCharge(charge, keys.secretKey, keys.publicKey)
      // the decision and our approval of it in one batch: a restart in between would never approve
      await say(r, await signed({ kind: 'approve', task: r.task, round: String(round), evaluator: me, approval: toHex(approval.signature) }), [decidedPut(r)])
    } else {
      await store.batch([decidedPut(r)])
    }
    return 'decided'
  }

  type Workers = Pick<ChargeInput, 'outcome' | 'miners' | 'unselected' | 'reporters'> & { joined: Joined[] }

  /**
   * A run's miners for the charge: every stake that joined comes back through it, the selected ones
   * as miners (an absent one forfeits a part, a cheat all of it), the others whole.
   */
  function taskWorkers(r: RunState, conclusion: Conclusion): Workers {
    const scored = new Map(conclusion.scores.map((s) => [toHex(s.miner), s.scorePpm]))
    const cheats = new Set(conclusion.cheaters.map(toHex))
    const joined = r.selection?.joined ?? []
    const status = (key: string): 'honest' | 'offline' | 'cheat' => (cheats.has(key) ? 'cheat' : scored.has(key) ? 'honest' : 'offline')
    const seated = new Set((r.selection?.miners ?? []).map((m) => m.ticket))
    return {
      outcome: r.selection?.outcome === 'completed' ? 'completed' : 'not-run', joined,
      miners: (r.selection?.miners ?? []).map((m) => ({ key: fromHex(m.key), stake: BigInt(m.stake), status: status(m.key), scorePpm: scored.get(m.key) ?? 0 })),
      unselected: joined.filter((j) => !seated.has(j.outpoint)).map((j) => ({ key: fromHex(j.key), stake: BigInt(j.stake) })),
    }
  }

  /**
   * An unavailable task's workers, from the agreed conclusion and the chain alone (a relay that held
   * the definition selected otherwise): each reporter that joined is a worker with its first joined
   * stake, and the fee is theirs ('malformed'); with no reporter it goes back to the client
   * ('not-run'). Every joined stake comes back whole.
   */
  function unavailableWorkers(conclusion: Conclusion, joined: Joined[]): Workers {
    const seats = new Map<string, Joined>()
    const reported = new Set(conclusion.reporters.map(toHex))
    for (const j of joined) if (reported.has(j.key) && !seats.has(j.key)) seats.set(j.key, j)
    const seated = new Set([...seats.values()].map((j) => j.outpoint))
    return {
      outcome: seats.size > 0 ? 'malformed' : 'not-run', joined,
      miners: [...seats.values()].map((j) => ({ key: fromHex(j.key), stake: BigInt(j.stake), status: 'honest' as const, scorePpm: 0 })),
      reporters: [...seats.keys()].map(fromHex),
      unselected: joined.filter((j) => !seated.has(j.outpoint)).map((j) => ({ key: fromHex(j.key), stake: BigInt(j.stake) })),
    }
  }

  /** the decided charge (the unapproved transaction: the same on every relay that decided alike), kept for a restart */
  function decidedPut(r: RunState): BatchOp {
    const d = r.decided!
    const json = { conclusion: toHex(d.conclusion), charge: toHex(txToBytes(d.charge)) }
    return { type: 'put', key: KEYS.decided(r.task), value: enc.encode(JSON.stringify(json)) }
  }

  /**
   * The charge with enough approvals, to the mempool: again every RESEND_MS until a block holds it
   * (the mempool is in memory: a restart, or a reorg that drops it, would otherwise leave it unmined).
   */
  async function trySubmit(r: RunState): Promise<void> {
    // the approvals of this charge: an evaluator that decided another (in another round, or on other reveals) signed that one
    const sigHash = txSigHash(r.decided!.charge)
    const approvals: Approval[] = []
    for (const a of r.approvals.values()) if (await verify(a.evaluator, sigHash, a.signature)) approvals.push(a)
    // ceil(2n/3) of the n relays, each a seated evaluator (its stake is in the charge): what the chain takes
    const tx = withApprovals(r.decided!.charge, approvals.filter((a) => evaluatorsOf(r).includes(toHex(a.evaluator))), relays.map(fromHex))
    if (tx === undefined) return
    r.submittedAt = now()
    const hash = toHex(txHash(tx))
    try {
      await deps.submit(tx)
      r.submitted = hash
      log('charge submitted', { task: r.task, tx: hash })
    } catch (e) {
      // already in the mempool, or another relay's copy (other approvals) got there first: the charge is on its way
      if (isPouwError(e) && e.code === 'LEDGER_MEMPOOL_DUPLICATE') r.submitted = hash
      else log('charge not submitted', { task: r.task, error: isPouwError(e) ? e.code : String(e) })
    }
  }

  async function onMessage(data: Uint8Array): Promise<void> {
    const m = JSON.parse(dec.decode(data)) as Signed
    if (m === null || typeof m !== 'object' || typeof m.task !== 'string' || !HEX64.test(m.task)) throw new HttpError(400, 'malformed task-run message')
    // a message without a round is of the first (as relays stored and sent them before rounds)
    if ((m.round !== undefined && (typeof m.round !== 'string' || !/^\d{1,3}$/.test(m.round))) || roundOf(m) >= MAX_ROUNDS) throw new HttpError(400, `a task-run message names round ${String(m.round)}, not one of 0..${MAX_ROUNDS - 1}`)
    if (m.evaluator === me) return
    // only a loaded run's selected evaluators are heard (before this relay selected, or from anyone else, the message
    // is dropped unchecked: an evaluator sends its messages again every RESEND_MS until the charge is mined)
    const loaded = await (runs.get(m.task) ?? Promise.resolve(undefined)).catch(() => undefined)
    if (loaded === undefined || !evaluatorsOf(loaded).includes(m.evaluator)) return
    const { sig, sent: _sent, ...body } = m as Signed & { sent?: number }
    if (!(await verify(fromHex(m.evaluator), evalSigHash(body), fromHex(sig)))) throw new HttpError(400, `a ${m.kind} with a bad signature from ${m.evaluator}`, 'RELAY_BAD_SIGNATURE')
    const msg = { ...body, sig } as Signed
    await serial(async () => {
      if (stopped) return
      const r = await runOf(m.task)
      if (r === undefined) return
      if (!record(r, msg)) return
      await store.batch([messagePut(msg)])
      await step(r, await chain.taskFees())
    })
  }

  // ---- the driver ----

  function phase(r: RunState, fees: TaskFees, minable: boolean): RunPhase {
    if (r.tdb === undefined) return 'waiting'
    // the fee left the task without a charge (its clients took it back once no charge came), or a coin the
    // decided charge spends did (a partial reclaim): no charge can be mined
    if (r.selection !== undefined && (committedFee(r.task, fees).length === 0 || !minable)) return 'reclaimed'
    if (r.selection === undefined) return 'joining'
    // fewer evaluators joined than the committee's minimum: no one evaluates (the client takes the fee back from its reclaim height)
    if ((r.selection.evaluators ?? []).length === 0) return 'unresolved'
    if (r.mine === undefined) return r.selection.outcome === 'unavailable' ? 'reporting' : 'training'
    if (r.decided === undefined) return r.gaveUp === true ? 'unresolved' : 'evaluating'
    return 'charging'
  }

  /**
   * Whether the decided charge (if any) can still be mined: every input is still one of the task's
   * unspent fee coins or joined stakes (Chain's task-coin scan, kept per tip: no store read per tick).
   */
  async function chargeMinable(r: RunState, fees: TaskFees): Promise<boolean> {
    if (r.decided === undefined) return true
    const held = new Set([...(fees.get(r.task) ?? []), ...((await chain.taskJoins()).get(r.task) ?? [])].map((c) => outpointKey(c.outpoint)))
    return r.decided.charge.inputs.every((i) => held.has(outpointKey(i.prevout)))
  }

  async function step(r: RunState, fees: TaskFees): Promise<void> {
    if (await charged(r)) return
    if (phase(r, fees, await chargeMinable(r, fees)) === 'reclaimed') return
    // what this evaluator said, again: a commit or reveal lost in gossip would stall or split the decision
    if (r.said.length > 0 && now() - r.saidAt > RESEND_MS) {
      r.saidAt = now()
      for (const m of r.said) publish(m)
    }
    await refreshTdb(r, fees)
    if (r.tdb === undefined) return
    const height = chain.tip().height
    if (r.selection === undefined) {
      // the client may upload the definition after paying, until the join window closes
      if (r.spec === undefined) {
        const bytes = await deps.loadSpec(r.task)
        if (bytes !== undefined) r.spec = taskFromBytes(bytes)
      }
      replicate(r)
      await joinAsEvaluator(r, r.tdb, height)
      if (height < r.tdb.height + JOIN_BLOCKS + SELECT_DEPTH) return
      await select(r, fees)
    }
    const sel = r.selection!
    // only a seated evaluator scores, commits, reveals and approves (a run selected before evaluators were, seats none)
    if (!evaluatorsOf(r).includes(me)) return
    const conclude = (): Promise<void> => (sel.outcome === 'unavailable' ? concludeUnavailable(r) : evaluate(r))
    if (r.mine === undefined) {
      if (sel.outcome === 'unavailable') {
        // the joined workers report it, until every one did or REPORT_BLOCKS passed
        const allIn = sel.joined.every((j) => r.reports.has(j.key))
        if (!allIn && height < reportDeadline(r.tdb)) return
      } else {
        const allIn = sel.miners.every((m) => r.models.has(m.key))
        if (!allIn && height < r.tdb.height + JOIN_BLOCKS + TRAIN_BLOCKS) return
      }
      await conclude()
    }
    if (r.decided === undefined && r.mine!.round < r.round) {
      if (now() < r.scoreFrom) return
      await conclude()
    }
    const mine = r.mine!
    if (mine.revealedAt === undefined && (roundState(r, r.round).commits.size === evaluatorsOf(r).length || now() - mine.committedAt > REVEAL_WAIT_MS)) await reveal(r)
    if (mine.revealedAt !== undefined && r.decided === undefined && (await decide(r, fees)) === 'none') await nextRound(r)
    if (r.decided !== undefined && now() - (r.submittedAt ?? 0) > RESEND_MS) await trySubmit(r)
  }

  /**
   * JOIN_TASK with one of this relay's evaluator tickets, once the definition block is SELECT_DEPTH
   * deep (the VRF proof is over its hash) and while JOIN_MARGIN blocks of the window are left (a join
   * mined after it is not counted), unless a join of ours is on chain or in the mempool.
   */
  async function joinAsEvaluator(r: RunState, tdb: NonNullable<RunState['tdb']>, height: number): Promise<void> {
    const tickets = deps.evaluatorTickets
    if (tickets === undefined || height < tdb.height + SELECT_DEPTH || height + JOIN_MARGIN > tdb.height + JOIN_BLOCKS) return
    if (r.joining !== undefined && tickets.pending(r.joining.tx)) return
    if ((await joinsOf(r, tdb, EVALUATOR_ROLE)).some((j) => j.joined.key === me)) return
    try {
      const tx = await tickets.join(r.task, tdb)
      if (tx !== undefined) r.joining = { tx }
    } catch (e) {
      if (!isPouwError(e)) throw e
      if (r.joinFailed !== e.code) log('evaluator join failed', { task: r.task, code: e.code, detail: e.message })
      r.joinFailed = e.code
    }
  }

  /** a block on the main chain holds the task's CHARGE_FOR_TASK (Chain's charge index) */
  async function charged(r: RunState): Promise<boolean> {
    return (await chain.chargeOf(r.task)) !== undefined
  }

  let stopped = false
  /** a request's handler, unless the relay is stopping (the store closes next) */
  const running = <T>(f: () => Promise<T>): Promise<T> => (stopped ? Promise.reject(new HttpError(503, 'this relay is stopping')) : f())
  /** the tick waiting in the queue: a timer or a block that asks for one meanwhile joins it */
  let queuedTick: Promise<void> | undefined
  /** never throws: a failed step is logged and retried on the next tick */
  function tick(): Promise<void> {
    queuedTick ??= serial(async () => {
      queuedTick = undefined
      if (stopped) return
      await deps.evaluatorTickets?.keep().catch((e: unknown) => log('evaluator tickets not kept', { error: String(e) }))
      const fees = await chain.taskFees()
      // a run whose stored state does not load is logged and tried again next tick; the others go on
      // (a task this relay holds is loaded when asked about; one whose fee is not committed has nothing to step yet)
      for (const task of fees.keys()) {
        if (committedFee(task, fees).length > 0) await runOf(task).catch((e: unknown) => log('task run not loaded', { task, error: String(e) }))
      }
      for (const loaded of runs.values()) {
        const r = await loaded.catch(() => undefined)
        if (r === undefined) continue
        if (stopped) return
        try {
          await step(r, fees)
        } catch (e) {
          log('task run step failed', { task: r.task, error: isPouwError(e) ? `${e.code}: ${e.message}` : String(e) })
        }
      }
      await evictSettled(fees)
    }).catch((e: unknown) => { if (!stopped) log('task runs tick failed', { error: String(e) }) })
    return queuedTick
  }

  const tickMs = deps.tickMs ?? 2_000
  const timer = tickMs > 0 ? setInterval(() => { void tick() }, tickMs) : undefined
  timer?.unref()

  async function status(task: string): Promise<Record<string, unknown>> {
    const r = await runOf(task)
    if (r === undefined) throw new HttpError(404, `no task ${task} on this relay`)
    const mined = await chain.chargeOf(task)
    const fees = await chain.taskFees()
    return {
      task, phase: mined !== undefined ? 'charged' : phase(r, fees, await chargeMinable(r, fees)), definitionBlock: r.tdb ?? null,
      joinUntil: r.tdb === undefined ? null : r.tdb.height + JOIN_BLOCKS,
      // from this height the client may take back a fee no charge spent (its coins' earliest)
      reclaimFrom: r.tdb === undefined ? null : taskFeeReclaimHeight(r.tdb.height),
      // the stakes that joined in the window: on chain so far while joining, then the ones selection drew from
      joins: r.selection?.joined ?? (r.tdb === undefined ? [] : (await joinsOf(r, r.tdb, MINER_ROLE)).map((j) => j.joined)),
      selection: r.selection ?? null,
      models: [...r.models.keys()].sort(),
      // the evaluation round this relay is in, and that round's commits and reveals
      evaluators: evaluatorsOf(r), round: r.round, commits: [...roundState(r, r.round).commits.keys()].sort(), reveals: [...roundState(r, r.round).reveals.keys()].sort(),
      approvals: [...r.approvals.keys()].sort(),
      cheats: [...r.cheats.keys()].sort(),
      // an unavailable task's reports held, by the reporting worker's key
      reports: [...r.reports.keys()].sort(),
      // each selected miner's latest training progress this relay heard (epoch and batch from 0; `at` when it came, ms)
      progress: [...r.progress].map(([miner, p]) => ({ miner, ...p })).sort((a, b) => (a.miner < b.miner ? -1 : 1)),
      // whether this relay holds the task's definition and data
      held: r.spec !== undefined,
      myScores: r.mine?.scores.map((s) => ({ miner: toHex(s.miner), scorePpm: s.scorePpm })) ?? null,
      result: r.decided === undefined ? null : {
        conclusion: toHex(r.decided.conclusion), bestMiner: r.decided.bestMiner ?? null, bestScorePpm: r.decided.bestScorePpm ?? null,
        charge: toHex(txHash(r.decided.charge)), submitted: r.submitted ?? null,
        payouts: r.decided.charge.outputs.map((o) => ({ recipient: toHex(o.recipient), amount: o.amount.toString() })),
        model: r.decided.bestMiner === undefined ? null : `/data/tasks/${task}/model.json`,
      },
      charged: mined !== undefined,
      // the CHARGE_FOR_TASK a block holds (its hash, approvals included), once mined
      chargeTx: mined?.tx ?? null,
    }
  }

  async function blob(pathname: string): Promise<Uint8Array | undefined> {
    const m = /^\/data\/tasks\/([0-9a-f]{64})\/(\d{1,5}|model\.json|weights\.bin)$/.exec(pathname)
    if (!m) return undefined
    const r = await runOf(m[1]!)
    if (r === undefined) throw new HttpError(404, `no task ${m[1]} on this relay`, 'RELAY_UNKNOWN_TASK')
    if (m[2] === 'model.json' || m[2] === 'weights.bin') {
      const best = r.decided?.bestMiner
      if (best === undefined || !(await charged(r))) throw new HttpError(404, `task ${r.task} has no charged result yet`, 'RELAY_NO_MODEL')
      // an outlier relay may hold the best model only as a late one, or not at all
      const theta = (r.models.get(best) ?? r.late.get(best))?.theta
      if (theta === undefined) throw new HttpError(404, `this relay does not hold task ${r.task}'s best model`, 'RELAY_NO_MODEL')
      const model = layersModel(specOf(r), theta)
      return m[2] === 'weights.bin' ? model.weights : enc.encode(JSON.stringify(model.modelJson))
    }
    // the test fragments stay with the supervisors until the task is charged (§4.4: then the test set is revealed)
    const i = Number(m[2])
    const fragments = specOf(r).fragmentHashes.length
    if (i >= fragments) throw new HttpError(404, `task ${r.task} has ${fragments} fragments`)
    const held = (why: string): never => { throw new HttpError(403, `fragment ${i} of task ${r.task} is held back: ${why}`, 'RELAY_HELD_BACK') }
    // the split follows the definition block, which a reorg may still replace while it is shallow: a fragment
    // served as training data under one hash could be a test fragment under the next
    if (r.tdb === undefined || chain.tip().height < r.tdb.height + SELECT_DEPTH) {
      return held(`its task-definition block, whose hash splits train from test, is not ${SELECT_DEPTH} blocks deep yet`)
    }
    if (!trainFragments(r, r.tdb).includes(i) && !(await charged(r))) held('it is in the test split, revealed once the task is charged')
    return deps.loadFragment(r.task, i)
  }

  return {
    get: {
      // every task whose fee is committed on chain (held here or not): what a volunteer may join
      '/api/task/runs': async () => {
        const fees = await chain.taskFees()
        return [...fees.keys()].filter((task) => committedFee(task, fees).length > 0).sort()
      },
      '/api/task/run': async (url) => {
        const task = url.searchParams.get('hash') ?? ''
        if (!HEX64.test(task)) throw new HttpError(400, 'hash must be a task hash (64 lowercase hex digits)')
        return status(task)
      },
    },
    post: {
      '/api/task/model': async (url, body) => serial(() => running(() => onModel(url, body))),
      '/api/task/equivocation': async (url, body) => serial(() => running(() => onEquivocation(url, body))),
      '/api/task/report': async (url, body) => serial(() => running(() => onReport(url, body))),
      '/api/task/progress': async (url, body) => running(() => onProgress(url, body)),
    },
    onMessage,
    blob,
    tick,
    stop: async () => {
      stopped = true
      clearInterval(timer)
      await queue // the step under way finishes before the store closes
    },
    loaded: () => [...runs.keys()].sort(),
  }
}
