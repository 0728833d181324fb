/**
 * A volunteer's share of client tasks (paper 003 §4.1, §4.4), driven from
 * the page while the tab is started:
 *
 *   join     when a paid task's definition block is mined, a live miner
 *            ticket of this profile's wallet joins it on chain (JOIN_TASK,
 *            signed by the wallet key that owns the ticket): its stake moves
 *            to the task with the VRF proof over (hash_TDB || 'miner');
 *   train    if the relays select the ticket, a worker of its own
 *            (taskWorker.ts) downloads the training split and trains the
 *            task's model; the page signs the parameters with the wallet key
 *            (the ticket's owner) and posts them (POST /api/task/model);
 *   report   if the relays hold no definition of a joined task when its
 *            window closes (the client paid and never uploaded it), the page
 *            reports it malformed, signed by the wallet key
 *            (POST /api/task/report): the fee goes to the workers that do;
 *   paid     once the evaluators agree, CHARGE_FOR_TASK pays the wallet its
 *            share of the fee and returns its stake: shown here.
 *
 * One tab per browser profile does this work for the wallet (a Web Lock):
 * two tabs of one profile would join and train twice.
 */
import * as Comlink from 'comlink'
import { useEffect, useRef, useState } from 'react'
import { deriveVrfSecretKey, fromHex, proveSelection, taskFromBytes, toHex, type Hardware, type KeyPair } from '@pouw/protocol'
import { finalModelToBytes, signFinalModel, signTaskProgress, signTaskReport, taskProgressToBytes, taskReportToBytes } from '@pouw/trainer'
import { getJson, getJsonOrNull, paidTo, postBytes, type TaskRunJson } from './api'
import { backendFromUrl } from './volunteer'
import { probeWebGpu } from './webgpu'
import type { ClientTaskProgress, ClientTaskTrainer } from './taskTrainer'
import type { TaskRunRules, TicketView, WalletHandle } from './wallet'

export interface ClientTaskView {
  task: string
  phase: TaskRunJson['phase']
  /** this wallet's stake that joined the task (outpointKey of the JOIN_TASK output), or its join transaction while unmined */
  applied: string | null
  /** null until the relays select */
  selected: boolean | null
  training: ClientTaskProgress | null
  /** the relay holds this wallet's final model */
  posted: boolean
  /** the relay holds this wallet's report that the task is malformed (its data never came) */
  reported: boolean
  /** what the charge paid this wallet (base units), once the task is charged */
  paid: bigint | null
  /** the last thing that went wrong for this task (it is retried) */
  note: string | null
}

export interface TaskMinerView {
  state: 'off' | 'waiting-lock' | 'on'
  tasks: ClientTaskView[]
  error: string | null
}

const POLL_MS = 2000
/** how often a selected tab tells the relays how far its training is (signed; the client watches it) */
const PROGRESS_POST_MS = 3000
/** blocks left in the join window below which this tab no longer joins: its join has to be mined in the window */
const JOIN_MARGIN = 3
const LOCK = 'pouw-client-tasks'
const JOIN_KEY = 'pouw-join:'
/** training attempts per task before this tab gives up on it */
const ATTEMPTS = 3

/**
 * One task's training in this tab. `model` is the signed final model once trained: a failed post
 * sends the same bytes again, never a model trained anew (two different models signed by one
 * miner are proof of cheating, and cost the whole stake).
 */
interface Job { attempts: number; running: boolean; worker?: Worker; model?: Uint8Array }

/**
 * A string per task in localStorage, under `prefix` (a write over the quota is dropped: kept in
 * memory only). Removing is done once, when its owner sees the task move on.
 */
function perTask(prefix: string) {
  return {
    get: (task: string): string | null => localStorage.getItem(`${prefix}${task}`),
    set: (task: string, value: string): void => {
      try { localStorage.setItem(`${prefix}${task}`, value) } catch { /* over the quota */ }
    },
    clear: (task: string): void => { if (localStorage.getItem(`${prefix}${task}`) !== null) localStorage.removeItem(`${prefix}${task}`) },
  }
}

/**
 * The signed model kept per task in localStorage as well (hex), so that a reload (or another tab of
 * the profile taking over) posts it again instead of training a second one; kept until the task is charged.
 */
const signedModels = perTask('pouw-model:')

/**
 * A ticket whose join the relays will count for a task whose definition block is at `tdbHeight`:
 * live there, and locked long enough for the charge to return it.
 */
function eligible(t: TicketView, rules: TaskRunRules, tdbHeight: number): boolean {
  return t.joined === null && t.role === rules.ticketRole && t.amount >= BigInt(rules.ticketMinPrice) && t.height + rules.ticketMaturity <= tdbHeight
    && t.expiry > tdbHeight + rules.joinBlocks + rules.trainBlocks + rules.chargeBlocks
}

export function useTaskMiner(wallet: WalletHandle, active: boolean): TaskMinerView {
  const [view, setView] = useState<TaskMinerView>({ state: 'off', tasks: [], error: null })
  // the loop reads the wallet's latest tickets and keys without restarting on every render
  const walletRef = useRef(wallet)
  walletRef.current = wallet

  useEffect(() => {
    if (!active) { setView((v) => ({ ...v, state: 'off' })); return undefined }
    const abort = new AbortController()
    const jobs = new Map<string, Job>()
    const tasks = new Map<string, ClientTaskView>()
    /**
     * the JOIN_TASK this profile handed to the relay for a task (one join per task; it waits for its block), kept in
     * localStorage: a reload, or another tab of the profile taking over, does not join again with a second ticket
     */
    const joining = perTask(JOIN_KEY)
    let timer: ReturnType<typeof setTimeout> | undefined
    let release = (): void => {}
    const publish = (error: string | null = null): void => {
      setView({ state: 'on', tasks: [...tasks.values()], error })
    }
    const update = (task: string, patch: Partial<ClientTaskView>): void => {
      const t = tasks.get(task)
      if (t !== undefined) { tasks.set(task, { ...t, ...patch }); publish() }
    }

    /**
     * JOIN_TASK: the first of `tickets` not already spent by a transaction in the relay's mempool (a join
     * for another task, say) moves its stake to the task with the VRF proof; resolves with the
     * transaction's hash once the mempool took it
     */
    const join = (run: TaskRunJson, keys: KeyPair, tickets: TicketView[]): Promise<string> => {
      // the wallet's tickets are bought with the VRF key derived from its key (wallet.ts buyTicket)
      const pi = proveSelection(deriveVrfSecretKey(keys.secretKey), fromHex(run.definitionBlock!.hash), 'miner', keys.publicKey).pi
      return walletRef.current.transact(async (wallet, source) => {
        const ticket = tickets.map((t) => ({ txHash: fromHex(t.txHash), index: t.index })).find((o) => !source.pending(o))
        if (ticket === undefined) throw new Error('every live ticket is already spent by a transaction waiting for a block')
        return wallet.joinTask(source, ticket, fromHex(run.task), pi)
      })
    }

    /** the training's progress, signed, to the relay at most every PROGRESS_POST_MS (a lost one is followed by the next) */
    const progressSent = new Map<string, number>()
    const reportProgress = (task: string, keys: KeyPair, p: ClientTaskProgress): void => {
      if (p.stage !== 'training' || p.batch === 0 || p.loss === null || p.accuracy === null) return
      const at = performance.now()
      if (at - (progressSent.get(task) ?? -Infinity) < PROGRESS_POST_MS) return
      progressSent.set(task, at)
      void signTaskProgress({ taskHash: fromHex(task), epoch: p.epoch, batch: p.batch - 1, batches: p.batches, loss: p.loss, accuracy: p.accuracy }, keys)
        .then((signed) => postBytes(`/api/task/progress?task=${task}`, taskProgressToBytes(signed)))
        .catch(() => { /* informational: the next one may get through */ })
    }

    const train = async (run: TaskRunJson, keys: KeyPair): Promise<void> => {
      const job = jobs.get(run.task)!
      const kept = signedModels.get(run.task)
      job.model ??= kept === null ? undefined : fromHex(kept)
      if (job.model !== undefined) {
        await postBytes(`/api/task/model?task=${run.task}`, job.model)
        update(run.task, { posted: true })
        return
      }
      const { spec } = await getJson<{ spec: string }>(`/api/task?hash=${run.task}`)
      const worker = new Worker(new URL('./taskWorker.ts', import.meta.url), { type: 'module' })
      job.worker = worker
      try {
        const trainer = Comlink.wrap<ClientTaskTrainer>(worker)
        const theta = await trainer.train(
          {
            task: run.task, spec: fromHex(spec), definitionBlockHash: run.definitionBlock!.hash, wasmBaseUrl: '/tfjs-wasm/',
            backend: backendFromUrl(),
          },
          Comlink.proxy((p: ClientTaskProgress) => {
            update(run.task, { training: p })
            reportProgress(run.task, keys, p)
          }),
        )
        job.model = finalModelToBytes(await signFinalModel(fromHex(run.task), keys, theta))
        signedModels.set(run.task, toHex(job.model))
        await postBytes(`/api/task/model?task=${run.task}`, job.model)
        update(run.task, { posted: true })
      } finally {
        worker.terminate()
      }
    }

    const startTraining = (run: TaskRunJson, keys: KeyPair): void => {
      const job = jobs.get(run.task) ?? { attempts: 0, running: false }
      jobs.set(run.task, job)
      if (job.running || job.attempts >= ATTEMPTS) return
      job.running = true
      job.attempts++
      train(run, keys).catch((e: Error) => update(run.task, { note: `training: ${e.message}` }))
        .finally(() => { job.running = false })
    }

    /**
     * Whether this tab meets the task's hardware preference: a task that asks for a GPU is joined
     * only with a real WebGPU adapter (and no other backend forced by the URL). A task whose
     * definition the relay does not hold (yet) is joined: to report it malformed if the data never
     * comes.
     */
    const hardwareOf = new Map<string, Hardware>()
    let gpu: Promise<boolean> | undefined
    const meetsHardware = async (task: string): Promise<boolean> => {
      if (!hardwareOf.has(task)) {
        const held = await getJsonOrNull<{ spec: string }>(`/api/task?hash=${task}`)
        if (held === null) return true
        hardwareOf.set(task, taskFromBytes(fromHex(held.spec)).hardware)
      }
      if (hardwareOf.get(task) === 'any') return true
      gpu ??= probeWebGpu().then((a) => a?.real === true && [undefined, 'webgpu'].includes(backendFromUrl()))
      if (await gpu) return true
      update(task, { note: 'not joined: the task asks for a GPU (WebGPU), which this tab does not have' })
      return false
    }

    const visit = async (task: string, rules: TaskRunRules | undefined, keys: KeyPair): Promise<void> => {
      const run = await getJson<TaskRunJson>(`/api/task/run?hash=${task}`)
      const me = toHex(keys.publicKey)
      const view: ClientTaskView = tasks.get(task) ?? { task, phase: run.phase, applied: null, selected: null, training: null, posted: false, reported: false, paid: null, note: null }
      // once the window closed the chain says whether the join counted: the note of it is no longer needed
      if (run.phase !== 'joining') joining.clear(task)
      const applied = run.joins.find((j) => j.key === me)?.outpoint ?? (run.phase === 'joining' ? joining.get(task) : null)
      const selected = run.selection === null ? null : run.selection.miners.some((m) => m.key === me)
      const paid = run.charged && run.result !== null ? paidTo(run, me) : null
      if (run.charged) signedModels.clear(task)
      const reported = run.reports.includes(me)
      tasks.set(task, { ...view, phase: run.phase, applied, selected, posted: run.models.includes(me), reported, paid })
      // a join mined after the window is not counted, and its stake stays locked to the ticket's expiry: join early or not at all
      const height = walletRef.current.view.height
      // and only once the definition block is rules.selectDepth deep: the VRF proof is over its hash, and a join
      // proving over a block a short reorg took away is not counted (its stake stays locked to the ticket's expiry)
      const inTime = height !== null && rules !== undefined && run.joinUntil !== null && run.definitionBlock !== null &&
        height >= run.definitionBlock.height + rules.selectDepth && height + JOIN_MARGIN <= run.joinUntil
      if (run.phase === 'joining' && applied === null && inTime && (await meetsHardware(task))) {
        const tickets = walletRef.current.view.tickets.filter((t) => eligible(t, rules, run.definitionBlock!.height))
        if (tickets.length > 0) {
          await join(run, keys, tickets).then(
            (tx) => { joining.set(task, tx); tasks.set(task, { ...tasks.get(task)!, applied: tx, note: null }) },
            (e: Error) => { tasks.set(task, { ...tasks.get(task)!, note: `joining: ${e.message}` }) },
          )
        }
      }
      if (run.phase === 'training' && selected === true && !run.models.includes(me)) startTraining(run, keys)
      // a task whose data never came: every joined worker that reports it shares the fee
      if (run.phase === 'reporting' && !reported && run.selection?.joined.some((j) => j.key === me) === true) {
        await postBytes(`/api/task/report?task=${task}`, taskReportToBytes(await signTaskReport(fromHex(task), keys)))
        update(task, { reported: true, note: null })
      }
    }

    // the relay's rules for client tasks are constants: read once
    let rules: TaskRunRules | undefined
    const poll = async (): Promise<void> => {
      const keys = walletRef.current.keys()
      if (keys === null) return
      rules ??= (await getJson<{ taskRuns?: TaskRunRules }>('/api/status')).taskRuns
      // a task is followed from its committed fee (whether or not the relay holds its data) until it is charged
      const committed = await getJson<string[]>('/api/task/runs')
      const open = [...new Set([...committed, ...tasks.keys()])]
      for (const task of open) {
        if (tasks.get(task)?.phase === 'charged' && tasks.get(task)?.paid !== null) continue
        await visit(task, rules, keys).catch((e: Error) => update(task, { note: e.message }))
      }
      publish()
    }

    const loop = (): void => {
      poll().catch((e: Error) => publish(`client tasks: ${e.message}`)).finally(() => {
        if (!abort.signal.aborted) timer = setTimeout(loop, POLL_MS)
      })
    }
    const run = (): Promise<void> => {
      publish()
      loop()
      return new Promise((resolve) => { release = resolve })
    }

    const locks = (navigator as { locks?: LockManager }).locks
    if (locks === undefined) void run()
    else {
      setView((v) => ({ ...v, state: 'waiting-lock' }))
      locks.request(LOCK, { signal: abort.signal }, run).catch(() => { /* aborted while waiting: this tab stopped */ })
    }
    return () => {
      abort.abort()
      if (timer !== undefined) clearTimeout(timer)
      for (const j of jobs.values()) j.worker?.terminate()
      release()
    }
  }, [active])

  return view
}
