/**
 * Clients' tasks on a relay (paper 003 §3.4, §4.2.3): the definition and the
 * data set a client uploads, kept in LevelDB and checked fragment by fragment
 * against the definition's hashes before anything is written, and the fee the
 * client locked to the task on chain (PAY_FOR_TASK).
 *
 * - POST /api/tasks: a task package (taskPackageToBytes). Refused with its
 *   rule (400: PROTOCOL_*, DATA_FRAGMENT_HASH_MISMATCH, DATA_BAD_PARAMS, ...)
 *   and nothing kept; stored in one atomic batch; then handed on to the other
 *   relays this relay knows, so that every supervisor holds a full replica.
 * - GET /api/tasks: every stored task with its fee's state.
 * - its run, fragments for its miners and its model: taskRuns.ts.
 *
 * A fee's state: 'unpaid' (no task-fee output for it), 'pending' (only in
 * the mempool), 'revocable' (on chain; the client may still take it back,
 * REVOKE_TASK, in blocks below revokeBefore), 'committed' (on chain past
 * revokeBefore: the fee belongs to the task now), 'reclaimable' (still
 * unspent at `reclaimFrom`, TASK_FEE_RECLAIM_BLOCKS past revokeBefore: no charge
 * came, and the client may take it back as it would revoke it), 'charged' (spent
 * by the task's CHARGE_FOR_TASK: `amount` is what it paid out, `charge` its hash).
 */
import { describeNet, isPouwError, mlpNet, netShapes, parameterCount, taskFromBytes, taskToBytes, toHex, type OutPoint } from '@pouw/protocol'
import { feeRevokeBefore, taskFeeReclaimHeight, type Chain, type KeyValueStore, type Mempool, type TaskFees } from '@pouw/ledger'
import { taskPackageFromBytes, taskPackageToBytes } from '@pouw/trainer'
import { HttpError, MAX_BODY_BYTES, handOnToRelays, postToRelay, type ApiHandler, type PostHandler } from './http.js'

/** where a relay hands a task package on to another relay */
const REPLICA_ROUTE = 'api/tasks?from=relay'

/** Most client tasks one relay stores (a testnet's policy against an upload flood). */
export const MAX_CLIENT_TASKS = 256

const KEYS = {
  prefix: 'relay/task/',
  meta: (task: string) => `relay/task/${task}/meta`,
  spec: (task: string) => `relay/task/${task}/spec`,
  fragment: (task: string, i: number) => `relay/task/${task}/fragment/${i.toString(16).padStart(4, '0')}`,
}

interface TaskMeta { task: string; storedAt: number; records: number; bytes: number; fragments: number; model: string; parameters: number; epochs: number }

/** an outpoint as the API shows it: `<txHash hex>:<index>` */
const outpointText = (o: OutPoint): string => `${toHex(o.txHash)}:${o.index}`

export type FeeState = 'unpaid' | 'pending' | 'revocable' | 'committed' | 'reclaimable' | 'charged'

export interface TaskListing extends TaskMeta {
  fee: { state: FeeState; amount: string; client: string | null; revokeBefore: number | null; reclaimFrom: number | null; outpoints: string[]; charge?: string }
}

export interface ClientTasks {
  get: Record<string, ApiHandler>
  post: Record<string, PostHandler>
  /** the stored definition alone (taskToBytes), or undefined */
  loadSpec(task: string): Promise<Uint8Array | undefined>
  /** one stored fragment, or undefined */
  loadFragment(task: string, i: number): Promise<Uint8Array | undefined>
  /**
   * hands a stored task to every other relay that lacks it (its GET /api/task answers 404): a
   * replica lost at upload is made good before the relays decide whether they hold the task
   */
  replicate(task: string): Promise<boolean>
}

/** A stored meta; one stored before task definitions named any network holds the MLP's `layers` instead of `model` and `parameters`. */
function readMeta(bytes: Uint8Array): TaskMeta {
  const { layers, ...m } = JSON.parse(new TextDecoder().decode(bytes)) as TaskMeta & { layers?: number[] }
  if (layers === undefined) return m
  const net = mlpNet(layers)
  return { ...m, model: describeNet(net), parameters: netShapes(net).parameterCount }
}

export function createClientTasks(deps: {
  store: KeyValueStore
  chain: Chain
  mempool: Mempool
  /** the other relays' HTTP bases, to hand a new task on to */
  otherRelays: () => string[]
  log: (msg: string, ctx?: Record<string, unknown>) => void
}): ClientTasks {
  const { store, chain, mempool, log } = deps

  // the stored tasks' metas by task: read from the store once (a scan of the task prefix reads every fragment too),
  // then kept here as tasks are stored; the listing is polled by every open client page
  let stored: Promise<Map<string, TaskMeta>> | undefined
  function metas(): Promise<Map<string, TaskMeta>> {
    stored ??= (async () => {
      const out = new Map<string, TaskMeta>()
      for await (const [key, value] of store.iterate(KEYS.prefix)) {
        if (key.endsWith('/meta')) {
          const m = readMeta(value)
          out.set(m.task, m)
        }
      }
      return out
    })()
    return stored
  }

  async function onTaskPosted(url: URL, body: Uint8Array): Promise<{ task: string; status: 'stored' | 'known'; records: number; fragments: number }> {
    const pkg = taskPackageFromBytes(body, MAX_BODY_BYTES)
    const task = toHex(pkg.hash)
    const known = await metas()
    if (known.has(task)) return { task, status: 'known', records: pkg.dataset.count, fragments: pkg.fragments.length }
    // a task with a fee on chain is stored past the cap: a flood of free uploads must not keep a paid task's replica out
    if (known.size >= MAX_CLIENT_TASKS && !(await chain.taskFees()).has(task)) {
      throw new HttpError(503, `this relay stores at most ${MAX_CLIENT_TASKS} client tasks without a fee on chain`)
    }
    const meta: TaskMeta = {
      task, storedAt: Date.now(), records: pkg.dataset.count, bytes: pkg.fragments.reduce((a, f) => a + f.length, 0),
      fragments: pkg.fragments.length, model: describeNet(pkg.spec.net), parameters: parameterCount(pkg.spec), epochs: pkg.spec.epochs,
    }
    await store.batch([
      { type: 'put', key: KEYS.spec(task), value: taskToBytes(pkg.spec) },
      ...pkg.fragments.map((f, i) => ({ type: 'put' as const, key: KEYS.fragment(task, i), value: f })),
      { type: 'put', key: KEYS.meta(task), value: new TextEncoder().encode(JSON.stringify(meta)) },
    ])
    known.set(task, meta)
    log('client task stored', { task, records: meta.records, bytes: meta.bytes, model: meta.model })
    // a replica on every supervisor (§4.2.3): hand it on, unless it came from one of them
    // once: replicate() hands a missing replica on again while the join window is open (a retried package of up to 8 MiB
    // would be held in memory per relay that is down)
    if (url.searchParams.get('from') !== 'relay') handOnToRelays(deps.otherRelays(), REPLICA_ROUTE, body, log, { retryMs: [] })
    return { task, status: 'stored', records: meta.records, fragments: meta.fragments }
  }

  type PendingFees = Map<string, { amount: bigint; client: string; revokeBefore: number; outpoint: string }[]>

  /** the task fees the mempool holds, by task */
  function pendingFees(): PendingFees {
    const pending: PendingFees = new Map()
    for (const e of mempool.all()) {
      e.tx.outputs.forEach((o, index) => {
        if (o.lock.kind !== 'task-fee') return
        const t = toHex(o.lock.taskHash)
        pending.set(t, [...(pending.get(t) ?? []), { amount: o.amount, client: toHex(o.recipient), revokeBefore: o.lock.revokeBefore, outpoint: outpointText({ txHash: e.hash, index }) }])
      })
    }
    return pending
  }

  async function listing(): Promise<TaskListing[]> {
    const [onChain, pending] = [await chain.taskFees(), pendingFees()]
    return Promise.all([...(await metas()).values()].map((m) => withFee(m, onChain, pending)))
  }

  /** A stored task with its fee's state. */
  async function withFee(m: TaskMeta, onChain: TaskFees, pending: PendingFees): Promise<TaskListing> {
    const coins = onChain.get(m.task) ?? []
    if (coins.length > 0) {
      const amount = coins.reduce((a, c) => a + c.coin.amount, 0n)
      const revokeBefore = feeRevokeBefore(coins)
      const reclaimFrom = taskFeeReclaimHeight(revokeBefore)
      const next = chain.tip().height + 1
      return {
        ...m, fee: {
          state: next < revokeBefore ? 'revocable' : next < reclaimFrom ? 'committed' : 'reclaimable', amount: amount.toString(), client: toHex(coins[0]!.coin.recipient),
          revokeBefore, reclaimFrom, outpoints: coins.map((c) => outpointText(c.outpoint)),
        },
      }
    }
    const p = pending.get(m.task) ?? []
    if (p.length > 0) {
      const revokeBefore = p[0]!.revokeBefore
      return {
        ...m,
        fee: { state: 'pending', amount: p.reduce((a, x) => a + x.amount, 0n).toString(), client: p[0]!.client, revokeBefore, reclaimFrom: taskFeeReclaimHeight(revokeBefore), outpoints: p.map((x) => x.outpoint) },
      }
    }
    const charge = await chain.chargeOf(m.task)
    if (charge !== undefined) return { ...m, fee: { state: 'charged', amount: charge.paid.toString(), client: null, revokeBefore: null, reclaimFrom: null, outpoints: [], charge: charge.tx } }
    return { ...m, fee: { state: 'unpaid', amount: '0', client: null, revokeBefore: null, reclaimFrom: null, outpoints: [] } }
  }

  return {
    get: {
      '/api/tasks': async () => listing(),
      '/api/task': async (url) => {
        const task = url.searchParams.get('hash') ?? ''
        if (!/^[0-9a-f]{64}$/.test(task)) throw new HttpError(400, 'hash must be a task hash (64 lowercase hex digits)')
        const [spec, meta] = [await store.get(KEYS.spec(task)), (await metas()).get(task)]
        if (spec === undefined || meta === undefined) throw new HttpError(404, `no task ${task} on this relay`)
        return { ...await withFee(meta, await chain.taskFees(), pendingFees()), spec: toHex(spec) }
      },
    },
    post: {
      '/api/tasks': async (url, body) => {
        try {
          return await onTaskPosted(url, body)
        } catch (e) {
          if (isPouwError(e)) log('client task refused', { code: e.code, detail: e.message })
          throw e
        }
      },
    },
    loadSpec: (task) => store.get(KEYS.spec(task)),
    loadFragment: (task, i) => store.get(KEYS.fragment(task, i)),
    replicate: async (task) => {
      const spec = await store.get(KEYS.spec(task))
      if (spec === undefined) return false
      let body: Uint8Array | undefined
      let all = true
      for (const base of deps.otherRelays()) {
        try {
          const res = await fetch(new URL(`api/task?hash=${task}`, base), { signal: AbortSignal.timeout(5_000) })
          if (res.ok) continue
          if (res.status !== 404) { all = false; continue }
          if (body === undefined) {
            const s = taskFromBytes(spec)
            const fragments = await Promise.all(s.fragmentHashes.map((_, i) => store.get(KEYS.fragment(task, i))))
            if (fragments.some((f) => f === undefined)) return false
            body = taskPackageToBytes(s, fragments as Uint8Array[])
          }
          const put = await postToRelay(base, REPLICA_ROUTE, body)
          if (!put.ok) all = false
          log(put.ok ? 'task replica made good' : 'task replica refused', { task, relay: base, status: put.status })
        } catch (e) {
          all = false
          log('task replica not checked', { task, relay: base, error: String(e) })
        }
      }
      return all
    },
  }
}
