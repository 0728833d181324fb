/**
 * The volunteer page's state and wiring: the relay's status over HTTP, the
 * libp2p node (main thread: WebRTC is not available in workers), and the
 * training worker (comlink). Gossips each IT_RES and found block, and
 * follows the verifiers' signed verdicts.
 *
 * Training is shared (paper 003 §4.2-4.3): the tab downloads the task's
 * dataset fragments and checks them against the task's hashes, asks to join
 * on the epochs topic, follows the supervisors' threshold-signed epoch
 * records (gossip, and /api/epochs as a fallback) and hands peers' IT_RES to
 * the worker; trainingLoop.ts runs the epochs.
 */
import * as Comlink from 'comlink'
import { useCallback, useEffect, useRef, useState } from 'react'
import { TOPICS, fromHex, isPouwError, taskFromBytes, toHex, verdictFromBytes, verifyVerdictSignature, type Verdict } from '@pouw/protocol'
import type { BackendChoice, Fault, StepResult, TipInfo, TrainerApi, TrainerInit } from '@pouw/trainer'
import { computeNextBits, type DifficultyParams } from '@pouw/ledger'
import { createEpochBook, type EpochBook } from './epochBook.js'
import { downloadFragments, type FragmentProgress } from './fragments.js'
import { ItResDelivery, createBrowserNetwork, postToSupervisors, type ConnectionInfo, type PubSubNetwork, type RelayInfo } from './p2p.js'
import { TipFollower } from './tipFollower.js'
import { createTrainingLoop, initialTrainingView, type LoopTrainer, type TrainingLoop, type TrainingView } from './trainingLoop.js'

export type { BackendChoice } from '@pouw/trainer'

/**
 * A block this tab found. `reward`: what its coinbase pays this tab (base units: subsidy and fees, less the verifiers' rewards);
 * `collected`: how many verifiers' approvals of its parent the coinbase carries, which the
 * subsidy share depends on (docs/protocol.md §9.6).
 */
export interface BlockRecord {
  hash: string; iteration: number; verdict: 'pending' | 'accepted' | 'rejected'; reason?: string; height?: number
  reward: bigint; collected: number
}


export interface VolunteerView {
  status: 'connecting' | 'idle' | 'selecting-backend' | 'training' | 'stopping' | 'error'
  backend: BackendChoice | null
  relay: { connected: boolean; peerId: string | null; addr: string | null }
  /** this tab's libp2p node: its peer id and its connections (relays, and other tabs over WebRTC) */
  p2p: { peerId: string | null; connections: ConnectionInfo[] }
  minerId: string | null
  fault: string | null
  iterations: number
  itersPerSec: number
  samplesPerSec: number
  /** the mini-batch of the last iteration */
  batchIndex: number | null
  lossCurve: { iteration: number; loss: number; accuracy: number }[]
  lossAvg: number | null
  accuracyAvg: number | null
  /** the mean loss of this session's first AVG_WINDOW iterations, kept once known: where training started from */
  lossFirst: number | null
  blocks: { found: number; accepted: number; rejected: number; recent: BlockRecord[] }
  /** the tip this tab mines on, and the compact bits a block on it must meet */
  chain: { height: number; tipHash: string; nextBits: number } | null
  /** the block time the network's difficulty adjustment holds (seconds), from the relay */
  blockSeconds: number | null
  task: TaskView
  error: string | null
}

/** The shared training as this tab sees it: the loop's view plus what comes before it. */
export interface TaskView extends TrainingView {
  /** the task's number of epochs */
  epochs: number | null
  fragments: FragmentProgress | null
  /** whether the miner key is kept in IndexedDB (null until the trainer starts) */
  keyPersisted: boolean | null
}

export type { TrainingState } from './trainingLoop.js'

/** GET /api/status: what the page reads of it. */
interface RelayStatus {
  height: number
  hash: string
  relay: { peerId: string; addrs: string[]; verifier: string }
  /** every relay the relay knows, itself first (tabs fail over to the others) */
  relays?: RelayInfo[]
  chain: {
    nextBits: number
    /** the whole block subsidy; a block claims it in proportion to its parent's approvals (its template's `subsidy`) */
    subsidy: string
    /** the verifiers' reveals the relay holds on its tip: the template collects them */
    tipReveals?: number
    /** the tip and its last ancestors, oldest first */
    window?: { hash: string; time: number; bits: number }[]
    /** the difficulty rule's parameters (ledger DifficultyParams); absent: fixed bits */
    difficulty?: DifficultyParams
  }
  /** transfers waiting in the relay's mempool (absent from relays older than the ledger wiring) */
  mempool?: { count: number; bytes: number }
  task: { spec: string; seed: string; batchSize: number; topics: { itres: string; epochs: string } }
  supervisors: { committee: string[]; t: number; groupPublicKey: string | null }
  epoch: { current: number | null; miners: string[] }
}

/** GET /api/epochs: the supervisors' records, ascending. */
interface EpochEntry { epoch: number; miners: string[]; record: string }

const CURVE_MAX = 2000
const AVG_WINDOW = 20
const EPOCH_POLL_MS = 3000
/** how often the tab checks that every supervisor recorded its IT_RES (ItResDelivery) */
const DELIVERY_SYNC_MS = 5000

function mean(xs: number[]): number {
  return xs.reduce((s, x) => s + x, 0) / xs.length
}

/** The supervisors' HTTP addresses: this page's relay, and every relay it knows that announced one. */
function supervisorUrls(s: RelayStatus, network: PubSubNetwork | null): string[] {
  const urls = [new URL('/', location.href).href, ...(s.relays ?? []).map((r) => r.url), ...(network?.relays() ?? []).map((r) => r.url)]
  return [...new Set(urls.filter((u): u is string => typeof u === 'string' && u !== ''))]
}

const INITIAL_TASK: TaskView = { ...initialTrainingView(), epochs: null, fragments: null, keyPersisted: null }

const INITIAL_VIEW: VolunteerView = {
  status: 'connecting', backend: null, relay: { connected: false, peerId: null, addr: null }, p2p: { peerId: null, connections: [] }, minerId: null, fault: null,
  iterations: 0, itersPerSec: 0, samplesPerSec: 0, batchIndex: null, lossCurve: [], lossAvg: null, accuracyAvg: null, lossFirst: null,
  blocks: { found: 0, accepted: 0, rejected: 0, recent: [] }, chain: null, blockSeconds: null, task: INITIAL_TASK, error: null,
}

/** The relay's verified tip as the miner sees it. */
function statusTip(s: RelayStatus): TipInfo {
  return { hashHex: s.hash, height: s.height, nextBits: s.chain.nextBits, subsidy: s.chain.subsidy, window: s.chain.window?.map(({ time, bits }) => ({ time, bits })) }
}

async function fetchStatus(): Promise<RelayStatus> {
  const res = await fetch('/api/status', { cache: 'no-store' })
  if (!res.ok) throw new Error(`relay status: HTTP ${res.status}`)
  const s = (await res.json()) as RelayStatus
  const hex = (v: unknown): boolean => typeof v === 'string' && /^([0-9a-f]{2})+$/i.test(v)
  if (typeof s !== 'object' || s === null || !hex(s.task?.spec) || !hex(s.task?.seed) || typeof s.task?.topics?.itres !== 'string' ||
      typeof s.task?.topics?.epochs !== 'string' || typeof s.supervisors !== 'object' || s.supervisors === null ||
      !(s.supervisors.groupPublicKey === null || hex(s.supervisors.groupPublicKey))) {
    throw new Error('the relay\'s /api/status lacks the shared-training fields (task.seed, task.topics, supervisors): is the relay up to date?')
  }
  return s
}

/** The relay's own signed verdicts on these blocks (GET /api/verdicts): the fallback for lost verdict gossip. */
async function fetchVerdicts(blocks: string[]): Promise<Uint8Array[]> {
  if (blocks.length === 0) return []
  const res = await fetch(`/api/verdicts?blocks=${blocks.slice(-64).join(',')}`, { cache: 'no-store' })
  if (!res.ok) throw new Error(`relay verdicts: HTTP ${res.status}`)
  const list: unknown = await res.json()
  return Array.isArray(list) ? list.flatMap((x: { verdict?: unknown }) => (typeof x?.verdict === 'string' ? [fromHex(x.verdict)] : [])) : []
}

async function fetchEpochs(): Promise<EpochEntry[]> {
  const res = await fetch('/api/epochs', { cache: 'no-store' })
  if (!res.ok) throw new Error(`relay epochs: HTTP ${res.status}`)
  const list: unknown = await res.json()
  return Array.isArray(list) ? (list as EpochEntry[]).filter((e) => typeof e?.epoch === 'number' && typeof e.record === 'string') : []
}

/** Gossip or the relay's list: only the committee's signature counts, so a bad record is refused and logged. */
function offerEpochRecord(book: EpochBook, bytes: Uint8Array, source: string): void {
  try {
    book.offer(bytes)
  } catch (e) {
    console.warn('epoch message refused', { source, code: isPouwError(e) ? e.code : 'ERROR', detail: (e as Error).message })
  }
}

function faultFromUrl(): Fault {
  const f = new URLSearchParams(location.search).get('fault')
  return (f ?? 'none') as Fault
}

/**
 * `?key=keep`: keep the miner key in IndexedDB across reloads. Not the
 * default: the worker's miner restarts at iteration 0, and the same key
 * signing iteration 0 again would be refused as equivocation (workerApi.ts).
 */
function persistKeyFromUrl(): boolean {
  return new URLSearchParams(location.search).get('key') === 'keep'
}

/** `?backend=webgpu|wasm|cpu`: the tfjs backend the workers use (default: the best this browser has). */
export function backendFromUrl(): string | undefined {
  return new URLSearchParams(location.search).get('backend') ?? undefined
}

/** What the Network panel shows of a tip. */
function chainOf(t: TipInfo): NonNullable<VolunteerView['chain']> {
  return { height: t.height, tipHash: t.hashHex, nextBits: t.nextBits }
}

/**
 * `payTo`: the wallet key (hex) the tab's block rewards pay (wallet.ts); null until it is loaded,
 * and a trainer started before that pays its miner key.
 */
export function useVolunteer(payTo: string | null = null): { view: VolunteerView; start(): void; stop(): void } {
  const [view, setView] = useState<VolunteerView>(INITIAL_VIEW)
  const payToRef = useRef(payTo)
  payToRef.current = payTo
  /** what the relay held (its mempool's size and its reveals on the tip) when the follower's tip got its template */
  const templateHeld = useRef<string>('')
  /** template fetches started, and the latest one whose answer was applied (answers may come out of order) */
  const templateAsked = useRef(0)
  const templateApplied = useRef(0)
  const net = useRef<PubSubNetwork | null>(null)
  const delivery = useRef<ItResDelivery | null>(null)
  const status = useRef<RelayStatus | null>(null)
  /** the supervisors' keys: the verifiers whose verdicts count (from the relay's status) */
  const committee = useRef(new Set<string>())
  /** which block the miner builds on: ours, a peer's, or the relay's verified tip (tipFollower.ts) */
  const follower = useRef(new TipFollower())
  const trainer = useRef<Comlink.Remote<TrainerApi> | null>(null)
  const book = useRef<EpochBook | null>(null)
  const loop = useRef<TrainingLoop | null>(null)
  const running = useRef(false)
  const stopAsked = useRef(false)
  // iteration events arrive faster than React should render: buffer and flush on a timer
  const pending = useRef<{ curve: VolunteerView['lossCurve']; batchIndex: number | null; iterations: number }>({ curve: [], batchIndex: null, iterations: 0 })
  const rate = useRef<{ t: number; n: number }[]>([])
  // the task view changes with every step and download chunk: also flushed on the timer
  const task = useRef<{ view: TaskView; changed: boolean }>({ view: INITIAL_TASK, changed: false })
  const patchTask = useCallback((patch: Partial<TaskView>, now = false) => {
    task.current = { view: { ...task.current.view, ...patch }, changed: !now }
    if (now) setView((v) => ({ ...v, task: task.current.view }))
  }, [])

  /** The follower moved: the miner builds on the new tip, and the page shows it. */
  const tipMoved = useCallback(() => {
    const t = follower.current.tip
    if (t === null) return
    setView((v) => ({ ...v, chain: chainOf(t) }))
    void trainer.current?.setTip(t)
  }, [])

  /** A verified tip from the relay (status, verdict): follow it if it wins the fork choice. */
  const updateTip = useCallback((t: TipInfo) => { if (follower.current.onVerified(t)) tipMoved() }, [tipMoved])

  /**
   * While the miner builds on the relay's own tip, it includes the relay's block template: the
   * mempool's transfers, whose fees its coinbase claims, and the verifiers' approvals of the tip,
   * which prove the subsidy it claims (COLLECT_VERIFICATIONS). Fetched when the tip changed, or
   * what the relay holds for it (`held`: its mempool's size and its reveals on the tip, from the
   * status poll; null from a verdict) changed since the last one. On any other tip (ours, a
   * peer's, not yet verified by the relay) the miner's blocks hold the coinbase alone, and claim
   * fees only.
   */
  const refreshTemplate = useCallback((relayTip: string, held: string | null) => {
    const t = follower.current.tip
    if (t === null || t.hashHex !== relayTip || trainer.current === null) return
    // the follower's tip has its template, and the relay holds nothing new for it
    if (t.template !== undefined && (held === null || templateHeld.current === held)) return
    // the status poll and each verdict may fetch at once: an answer older than one already applied is dropped
    const asked = ++templateAsked.current
    fetch(`/api/template?parent=${relayTip}`, { cache: 'no-store' }).then(async (res) => {
      if (!res.ok) return
      const { parent, ...tpl } = (await res.json()) as { parent: string } & NonNullable<TipInfo['template']>
      if (asked < templateApplied.current) return
      templateApplied.current = asked
      // kept with the follower's tip, so that a later move back to it (or a correction of its bits) keeps it too
      if (!follower.current.setTemplate(parent, tpl)) return
      templateHeld.current = held ?? ''
      await trainer.current?.setTip(follower.current.tip!)
    }).catch(() => { /* the next status poll tries again */ })
  }, [])

  /**
   * A committee verifier's signed verdict, by gossip or from /api/verdicts (each block is verified by
   * the verifiers its hash chooses, not always our relay): a rejected block we built on (ours or a
   * peer's) sends the miner back to that verifier's tip; our own blocks' records get the first verdict.
   */
  const applyVerdict = useCallback(async (v: Verdict, s: RelayStatus) => {
    if (!committee.current.has(toHex(v.verifier)) || !(await verifyVerdictSignature(v))) return
    const hash = toHex(v.blockHash)
    const relayTip: TipInfo = { hashHex: toHex(v.tipHash), height: v.tipHeight, nextBits: v.nextBits, subsidy: s.chain.subsidy, window: v.tipWindow }
    if (v.accepted) follower.current.onAccepted(hash, v.height)
    if (v.accepted ? follower.current.onVerified(relayTip) : follower.current.onRejected(hash, relayTip)) tipMoved()
    // a verifier's tip that we build on: ask our relay for its template now rather than at the next
    // status poll (relays share their mempools through gossip; a relay not at that tip answers none)
    if (v.accepted) refreshTemplate(relayTip.hashHex, null)
    setView((view) => {
      const rec = view.blocks.recent.find((b) => b.hash === hash)
      if (!rec || rec.verdict !== 'pending') return view
      const updated: BlockRecord = { ...rec, verdict: v.accepted ? 'accepted' : 'rejected', reason: v.accepted ? undefined : v.code, height: v.accepted ? v.height : undefined }
      return {
        ...view,
        blocks: {
          ...view.blocks,
          accepted: view.blocks.accepted + (v.accepted ? 1 : 0),
          rejected: view.blocks.rejected + (v.accepted ? 0 : 1),
          recent: view.blocks.recent.map((b) => (b.hash === hash ? updated : b)),
        },
      }
    })
  }, [tipMoved, refreshTemplate])

  // connect to the relay once
  useEffect(() => {
    let cancelled = false
    let poll: ReturnType<typeof setInterval> | undefined
    const fault = faultFromUrl()
    setView((v) => ({ ...v, fault: fault === 'none' ? null : fault }))
    void (async () => {
      try {
        const s = await fetchStatus()
        status.current = s
        committee.current = new Set(s.supervisors.committee)
        const difficulty = s.chain.difficulty
        follower.current.setRule(difficulty === undefined ? undefined : (w) => computeNextBits(w, difficulty))
        setView((v) => ({ ...v, blockSeconds: difficulty?.targetSpacing ?? null }))
        updateTip(statusTip(s))
        const spec = taskFromBytes(fromHex(s.task.spec))
        const epochs = createEpochBook(spec.taskId, spec.epochs)
        epochs.setGroupKey(s.supervisors.groupPublicKey)
        book.current = epochs
        patchTask({ epochs: spec.epochs }, true)
        // before Start, show the network's epoch; once the loop runs, its own view says which epoch this miner is in
        epochs.onNew((e) => { if (!loop.current) patchTask({ epoch: e.epoch, members: e.miners.length }) })
        // this relay first, then the others: the tab fails over to them if this one goes
        const relayAddrs = [...s.relay.addrs, ...(s.relays ?? []).filter((r) => r.peerId !== s.relay.peerId).flatMap((r) => r.addrs)]
        const network = await createBrowserNetwork({ relayAddrs, topics: [s.task.topics.itres, s.task.topics.epochs, TOPICS.blocks, TOPICS.verdicts] })
        if (cancelled) { await network.stop(); return }
        net.current = network
        const showRelay = (): void => {
          const conns = network.connections()
          // the relay this tab is linked to: its own, or another one after a failover
          const c = conns.find((x) => x.peerId === s.relay.peerId && x.transport === 'websockets') ?? conns.find((x) => x.relay && x.transport === 'websockets')
          setView((v) => ({ ...v, relay: { connected: c !== undefined, peerId: c?.peerId ?? s.relay.peerId, addr: c?.addr ?? null }, p2p: { peerId: network.peerId, connections: conns } }))
        }
        network.onConnectionChange(showRelay)
        showRelay()
        network.onMessage((topic, data) => {
          if (topic === s.task.topics.itres) { loop.current?.receive(data); return }
          if (topic === s.task.topics.epochs) { offerEpochRecord(epochs, data, 'gossip'); return }
          // a peer's block: mine on it at once if its header checks out and it wins (tipFollower.ts)
          if (topic === TOPICS.blocks) { if (follower.current.onPeerBlock(data).adopted) tipMoved(); return }
          if (topic !== TOPICS.verdicts) return
          void (async () => applyVerdict(verdictFromBytes(data), s))().catch(() => { /* a malformed verdict is ignored */ })
        })
        // the verdict gossip is the fast path; polling the status and our relay's verdicts on the blocks
        // we build on keeps the tip right if one is missed; likewise the relay's list of epoch records
        // backs up the epochs gossip
        const pollVerdicts = (): void => {
          fetchVerdicts(follower.current.unverifiedBlocks()).then(async (list) => {
            for (const bytes of list) await applyVerdict(verdictFromBytes(bytes), s).catch(() => {})
          }).catch(() => {})
        }
        const pollEpochs = (): void => {
          fetchEpochs().then((list) => {
            const known = epochs.latest?.epoch ?? -1
            for (const e of list) if (e.epoch > known) offerEpochRecord(epochs, fromHex(e.record), 'relay')
          }).catch(() => {})
        }
        poll = setInterval(() => {
          fetchStatus().then((st) => {
            updateTip(statusTip(st))
            refreshTemplate(st.hash, `${st.mempool?.count ?? 0}/${st.chain.tipReveals ?? 0}`)
            epochs.setGroupKey(st.supervisors.groupPublicKey)
            committee.current = new Set(st.supervisors.committee)
          }).catch(() => {})
          pollEpochs()
          pollVerdicts()
        }, EPOCH_POLL_MS)
        pollEpochs()
        setView((v) => ({ ...v, status: 'idle' }))
      } catch (e) {
        setView((v) => ({ ...v, status: 'error', error: `cannot reach the relay: ${(e as Error).message}` }))
      }
    })()
    const redeliver = setInterval(() => { void delivery.current?.sync() }, DELIVERY_SYNC_MS)
    return () => { cancelled = true; if (poll) clearInterval(poll); clearInterval(redeliver); void net.current?.stop() }
  }, [updateTip, tipMoved, applyVerdict, refreshTemplate])

  // flush buffered iteration stats and the task view to the view
  useEffect(() => {
    const timer = setInterval(() => {
      if (task.current.changed) {
        task.current.changed = false
        const t = task.current.view
        setView((v) => ({ ...v, task: t }))
      }
      const p = pending.current
      if (p.curve.length === 0) return
      const now = performance.now()
      rate.current.push({ t: now, n: p.iterations })
      while (rate.current.length > 2 && now - rate.current[0]!.t > 5000) rate.current.shift()
      const first = rate.current[0]!
      const itersPerSec = rate.current.length > 1 ? ((p.iterations - first.n) * 1000) / (now - first.t) : 0
      const batch = status.current?.task.batchSize ?? 0
      const curve = p.curve
      p.curve = []
      setView((v) => {
        const whole = v.lossCurve.concat(curve)
        // known once the session's first AVG_WINDOW points are in, before the curve drops its oldest
        const lossFirst = v.lossFirst ?? (whole.length >= AVG_WINDOW ? mean(whole.slice(0, AVG_WINDOW).map((x) => x.loss)) : null)
        const lossCurve = whole.slice(-CURVE_MAX)
        const recent = lossCurve.slice(-AVG_WINDOW)
        return {
          ...v, lossCurve, iterations: p.iterations, batchIndex: p.batchIndex, itersPerSec, samplesPerSec: itersPerSec * batch,
          lossAvg: mean(recent.map((x) => x.loss)),
          accuracyAvg: mean(recent.map((x) => x.accuracy)),
          lossFirst,
        }
      })
    }, 250)
    return () => clearInterval(timer)
  }, [])

  /** Each iteration: its IT_RES to the peers, its block (if one was found) to the verifiers. */
  const onStep = useCallback((r: StepResult) => {
    const network = net.current
    const s = status.current
    pending.current.curve.push({ iteration: r.iteration, loss: r.loss, accuracy: r.accuracy })
    pending.current.iterations = r.iteration + 1
    pending.current.batchIndex = r.batchIndex
    if (network && s) void network.publish(s.task.topics.itres, r.itres).catch(() => {})
    delivery.current?.add(r.iteration, r.itres)
    const block = r.block
    if (block === undefined) return
    // the miner already builds on its own block; follow it until a verdict says otherwise
    follower.current.onOwnBlock(block.hashHex, block.height, block.parentHex, block.next)
    // the follower's tip, whole: our block when it moved there, else the tip it kept (with that tip's bits)
    const tip = follower.current.tip
    setView((v) => ({
      ...v, chain: tip === null ? v.chain : chainOf(tip),
      blocks: { ...v.blocks, found: v.blocks.found + 1, recent: [{ hash: block.hashHex, iteration: r.iteration, verdict: 'pending' as const, reward: block.reward, collected: block.collected }, ...v.blocks.recent].slice(0, 50) },
    }))
    if (network) void network.publish(TOPICS.blocks, block.submission).catch((err: Error) => setView((v) => ({ ...v, error: `could not send block: ${err.message}` })))
    // and straight to every verifier: gossip may lose it
    if (s) void postToSupervisors(supervisorUrls(s, network), 'api/block', block.submission)
  }, [])

  /** Download and check the data, start the worker, and make the loop that trains the epochs. */
  const prepare = useCallback(async (s: RelayStatus, epochs: EpochBook, at: TipInfo): Promise<TrainingLoop> => {
    const spec = taskFromBytes(fromHex(s.task.spec))
    patchTask({ state: 'loading', detail: 'downloading the dataset' }, true)
    const fragments = await downloadFragments(spec, (p) => {
      patchTask({ fragments: p, detail: `downloading and checking the dataset: fragment ${p.done} of ${p.total}, ${(p.bytes / 1e6).toFixed(1)} of ${(p.totalBytes / 1e6).toFixed(1)} MB` })
    })
    patchTask({ detail: 'starting the trainer: measuring backends' }, true)
    const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' })
    const remote = Comlink.wrap<TrainerApi>(worker)
    const init: TrainerInit = {
      taskBytes: fromHex(s.task.spec), seed: fromHex(s.task.seed), fragments, wasmBaseUrl: '/tfjs-wasm/', fault: faultFromUrl(), tip: at,
      backend: backendFromUrl(), persistKey: persistKeyFromUrl(),
      payTo: payToRef.current ?? undefined, difficulty: s.chain.difficulty,
    }
    // the fragments move to the worker: the page keeps no copy of the dataset
    const r = await remote.init(Comlink.transfer(init, fragments.map((f) => f.buffer as ArrayBuffer)))
    trainer.current = remote
    if (follower.current.tip) await remote.setTip(follower.current.tip)
    setView((v) => ({ ...v, backend: r.backend, minerId: r.minerId }))
    // every supervisor must record every IT_RES: re-deliver over HTTP what gossip lost
    delivery.current = new ItResDelivery({ miner: r.minerId, supervisors: () => supervisorUrls(s, net.current), now: () => Date.now() })
    patchTask({ keyPersisted: r.keyPersisted }, true)
    // peers' IT_RES go over as a copy whose buffer is transferred (gossip's may be a view of a larger one)
    const loopTrainer: LoopTrainer = {
      startEpoch: (epoch, miners) => remote.startEpoch(epoch, miners),
      receivePeerMessage: (bytes) => { const copy = bytes.slice(); return remote.receivePeerMessage(Comlink.transfer(copy, [copy.buffer])) },
      step: () => remote.step(),
      evaluateTest: () => remote.evaluateTest(),
      joinMessage: (time) => remote.joinMessage(time),
    }
    return createTrainingLoop({
      trainer: loopTrainer, book: epochs, epochs: spec.epochs, minerId: r.minerId, onStep,
      publishJoin: (bytes) => {
        void net.current?.publish(s.task.topics.epochs, bytes).catch(() => {})
        void postToSupervisors(supervisorUrls(s, net.current), 'api/epochs', bytes) // gossip may lose it
      },
      onView: (v) => patchTask(v, v.state !== task.current.view.state),
    })
  }, [onStep, patchTask])

  const start = useCallback(() => {
    void (async () => {
      const s = status.current
      const epochs = book.current
      const at = follower.current.tip
      if (!s || !at || !epochs || running.current) return
      running.current = true
      stopAsked.current = false
      try {
        if (!loop.current) {
          setView((v) => ({ ...v, status: 'selecting-backend', error: null }))
          loop.current = await prepare(s, epochs, at)
          if (stopAsked.current) {
            patchTask({ detail: 'ready: press Start to train' }, true)
            setView((v) => ({ ...v, status: 'idle' }))
            return
          }
        }
        setView((v) => ({ ...v, status: 'training', error: null }))
        await loop.current.run()
        setView((v) => (v.status === 'error' ? v : { ...v, status: 'idle' }))
      } catch (e) {
        const message = (e as Error).message
        patchTask({ state: 'error', detail: message }, true)
        setView((v) => ({ ...v, status: 'error', error: message }))
      } finally {
        running.current = false
      }
    })()
  }, [prepare, patchTask])

  const stop = useCallback(() => {
    stopAsked.current = true // while preparing: do not start training when ready
    setView((v) => ({ ...v, status: 'stopping' }))
    loop.current?.stop()
  }, [])

  return { view, start, stop }
}
