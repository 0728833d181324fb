/**
 * The relay's HTTP API as the page calls it: JSON answers, and binary
 * bodies posted. A refusal throws an Error whose message starts with the
 * relay's error code (e.g. "RELAY_TASK_CLOSED: ..."), so the page can show it.
 */

function refusal(status: number, body: { error?: string; code?: string }): Error {
  return new Error(`${body.code ?? `HTTP ${status}`}: ${body.error ?? ''}`)
}

/** The answer's JSON body, or the refusal it carries. */
async function answer<T>(res: Response): Promise<T> {
  const body = (await res.json()) as T & { error?: string; code?: string }
  if (!res.ok) throw refusal(res.status, body)
  return body
}

export async function getJson<T>(path: string): Promise<T> {
  return answer<T>(await fetch(path, { cache: 'no-store' }))
}

/** getJson, or null when the relay answers 404 (it holds no such thing). */
export async function getJsonOrNull<T>(path: string): Promise<T | null> {
  const res = await fetch(path, { cache: 'no-store' })
  return res.status === 404 ? null : answer<T>(res)
}

export async function postBytes<T>(path: string, bytes: Uint8Array): Promise<T> {
  return answer<T>(await fetch(path, { method: 'POST', body: bytes as BodyInit }))
}

export interface TaskJoinJson { outpoint: string; key: string; stake: string; height: number }

/** GET /api/task/run?hash=: one client task's run as a relay sees it (apps/relay taskRuns.ts). */
export interface TaskRunJson {
  task: string
  /**
   * 'reporting': the relay holds no definition of the task (its data never came): its joined workers report it malformed;
   * 'unresolved': the evaluators agreed in no round, and no charge comes from this relay;
   * 'reclaimed': the client took the fee back once no charge came
   */
  phase: 'waiting' | 'joining' | 'training' | 'reporting' | 'evaluating' | 'unresolved' | 'charging' | 'charged' | 'reclaimed'
  definitionBlock: { height: number; hash: string } | null
  joinUntil: number | null
  /** from this height the client may take back a fee no charge spent */
  reclaimFrom: number | null
  /** the stakes that joined in the window (JOIN_TASK outputs: outpointKey, owner, amount, block height) */
  joins: TaskJoinJson[]
  /** a miner's `ticket` is its joined stake; `joined` every stake the charge returns */
  selection: { miners: { key: string; ticket: string; stake: string }[]; outcome: 'completed' | 'not-run' | 'unavailable'; joined: TaskJoinJson[] } | null
  /** the selected miners whose final model the relay holds */
  models: string[]
  evaluators: string[]
  commits: string[]
  reveals: string[]
  approvals: string[]
  /** an unavailable task's reports the relay holds, by worker key */
  reports: string[]
  /** each selected miner's latest training progress the relay heard (epoch and batch from 0; `at` when it came, ms) */
  progress: { miner: string; epoch: number; batch: number; batches: number; loss: number; accuracy: number; at: number }[]
  /** this relay's own scores (it is an evaluator), ppm */
  myScores: { miner: string; scorePpm: number }[] | null
  result: {
    conclusion: string; bestMiner: string | null; bestScorePpm: number | null; charge: string; submitted: string | null
    payouts: { recipient: string; amount: string }[]; model: string | null
  } | null
  charged: boolean
}

/** What a charged run's payouts give `key` (base units) beyond the stakes it gets back. */
export function paidTo(run: TaskRunJson, key: string | null): bigint {
  const paid = (run.result?.payouts ?? []).filter((p) => p.recipient === key).reduce((a, p) => a + BigInt(p.amount), 0n)
  // the stakes this key joined with come back in the same charge: they are not pay
  const staked = (run.selection?.joined ?? []).filter((j) => j.key === key).reduce((a, j) => a + BigInt(j.stake), 0n)
  return paid > staked ? paid - staked : 0n
}
