/**
 * At-least-once delivery of a miner's IT_RES to every supervisor.
 *
 * Gossip is best effort: a message published while a tab's links are down, or dropped by an
 * overloaded relay, is simply gone, and a supervisor that lacks it can neither put it in a
 * history slot nor verify a block that depends on it. So the miner keeps what it sent, asks each
 * supervisor now and then which of its iterations it recorded (GET /api/recorded), and posts the
 * missing ones (POST /api/itres, a batch per request). A supervisor judges a re-delivered
 * message exactly like a gossiped one and gossips on the ones that are new to it.
 *
 * No clock or timer inside: the caller calls `sync()` periodically, and `now` comes in.
 */
import { MAX_ITRES_BATCH, itResBatchToBytes } from '@pouw/protocol'

export interface DeliveryOptions {
  /** the miner's public key, hex */
  miner: string
  /** the supervisors' HTTP base URLs (e.g. http://127.0.0.1:8080/), read at every sync */
  supervisors: () => string[]
  now: () => number
  fetch?: typeof fetch
  /** a message is re-delivered only once it is this old: gossip gets its chance first (default 5 s) */
  graceMs?: number
  /** messages kept for re-delivery; the oldest go first (default 4,096) */
  keep?: number
  /** batches posted to one supervisor per sync (default 4, i.e. 256 messages) */
  batchesPerSync?: number
  /** one request's time limit (default 10 s) */
  timeoutMs?: number
}

export interface DeliveryStats {
  /** messages posted again and recorded by the supervisor */
  redelivered: number
  /** refusals by code (a PROTOCOL_ or POUW_ refusal is final for that supervisor; a RELAY_ one is retried) */
  refused: Record<string, number>
  /** failed requests (supervisor unreachable, HTTP error) */
  failures: number
  lastError: string | null
}

interface Sent { bytes: Uint8Array; at: number; /** supervisors that hold it, or refused it for good */ done: Set<string> }

/** Refusals that will not change on a retry: the message itself is at fault. */
const isFinal = (code: string): boolean => code === 'duplicate' || code === 'recorded' || code.startsWith('PROTOCOL_') || code.startsWith('POUW_')

export class ItResDelivery {
  private readonly sent = new Map<number, Sent>()
  private readonly fetchFn: typeof fetch
  private syncing: Promise<void> | null = null
  readonly stats: DeliveryStats = { redelivered: 0, refused: {}, failures: 0, lastError: null }

  constructor(private readonly opts: DeliveryOptions) {
    this.fetchFn = opts.fetch ?? ((...a) => fetch(...a))
  }

  /** A message this miner published (its iteration number is its key). */
  add(iteration: number, bytes: Uint8Array): void {
    this.sent.set(iteration, { bytes, at: this.opts.now(), done: new Set() })
    const keep = this.opts.keep ?? 4_096
    while (this.sent.size > keep) this.sent.delete(this.sent.keys().next().value!)
  }

  /** Messages not yet known to be held by every supervisor. */
  pending(): number { return this.sent.size }

  /** One round over every supervisor; a call while one runs waits for that one. */
  sync(): Promise<void> {
    this.syncing ??= this.round().finally(() => { this.syncing = null })
    return this.syncing
  }

  private async round(): Promise<void> {
    const supervisors = [...new Set(this.opts.supervisors())]
    for (const url of supervisors) {
      try {
        await this.syncOne(url)
      } catch (e) {
        this.stats.failures++
        this.stats.lastError = `${url}: ${(e as Error).message}`
      }
    }
    // forget what every current supervisor holds
    for (const [it, s] of this.sent) if (supervisors.every((u) => s.done.has(u))) this.sent.delete(it)
  }

  private async syncOne(base: string): Promise<void> {
    const open = [...this.sent.entries()].filter(([, s]) => !s.done.has(base))
    if (open.length === 0) return
    const from = Math.min(...open.map(([it]) => it))
    const recorded = await this.request<{ iterations: number[] }>(new URL(`api/recorded?miner=${this.opts.miner}&from=${from}`, base))
    const have = new Set(Array.isArray(recorded.iterations) ? recorded.iterations : [])
    const cutoff = this.opts.now() - (this.opts.graceMs ?? 5_000)
    const missing: [number, Sent][] = []
    for (const [it, s] of open) {
      if (have.has(it)) s.done.add(base)
      else if (s.at <= cutoff) missing.push([it, s])
    }
    const batches = this.opts.batchesPerSync ?? 4
    for (let b = 0; b < batches && b * MAX_ITRES_BATCH < missing.length; b++) {
      const chunk = missing.slice(b * MAX_ITRES_BATCH, (b + 1) * MAX_ITRES_BATCH)
      const body = itResBatchToBytes(chunk.map(([, s]) => s.bytes))
      const { results } = await this.request<{ results: string[] }>(new URL('api/itres', base), body)
      chunk.forEach(([, s], i) => {
        const r = results[i] ?? 'missing-result'
        if (r === 'recorded') this.stats.redelivered++
        else if (r !== 'duplicate') this.stats.refused[r] = (this.stats.refused[r] ?? 0) + 1
        if (isFinal(r)) s.done.add(base)
      })
    }
  }

  private async request<T>(url: URL, body?: Uint8Array): Promise<T> {
    const res = await this.fetchFn(url, {
      method: body ? 'POST' : 'GET',
      cache: 'no-store',
      signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
      ...(body ? { body: body as BodyInit, headers: { 'content-type': 'application/octet-stream' } } : {}),
    })
    if (!res.ok) throw new Error(`HTTP ${res.status} from ${url.pathname}`)
    return (await res.json()) as T
  }
}

/**
 * Bytes handed to every supervisor over HTTP (POST <base>/<route>), besides gossip: a block
 * submission (`api/block`: a verifier that never receives a block cannot confirm it) or a
 * TASK_JOIN (`api/epochs`: a supervisor that hears nothing from a miner counts it as gone).
 * Resolves with each supervisor's answer (its `status`) or the error; never throws.
 */
export async function postToSupervisors(
  supervisors: readonly string[], route: 'api/block' | 'api/epochs', body: Uint8Array, fetchFn: typeof fetch = (...a) => fetch(...a),
): Promise<Array<{ url: string; status: string }>> {
  return Promise.all([...new Set(supervisors)].map(async (url) => {
    try {
      const res = await fetchFn(new URL(route, url), {
        method: 'POST', body: body as BodyInit, headers: { 'content-type': 'application/octet-stream' }, signal: AbortSignal.timeout(30_000),
      })
      const answer = (await res.json()) as { status?: string; code?: string; error?: string }
      return { url, status: res.ok ? String(answer.status) : `HTTP ${res.status} ${answer.code ?? answer.error ?? ''}`.trim() }
    } catch (e) {
      return { url, status: `unreachable: ${(e as Error).message}` }
    }
  }))
}
