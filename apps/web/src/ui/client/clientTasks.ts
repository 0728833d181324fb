import { fromHex } from '@pouw/protocol'
import type { WalletHandle } from '../../wallet'

/** GET /api/tasks: one task's listing (apps/relay clientTasks.ts). */
export interface TaskListing {
  task: string
  records: number
  model: string
  epochs: number
  fee: {
    state: 'unpaid' | 'pending' | 'revocable' | 'committed' | 'reclaimable' | 'charged'
    amount: string; client: string | null; revokeBefore: number | null; reclaimFrom: number | null; outpoints: string[]; charge?: string
  }
}

const KEY = 'pouw-client-tasks'
/** tasks remembered per browser profile, newest first */
const MAX_REMEMBERED = 50

/** The tasks this profile paid for (task hashes, newest first), kept in localStorage across reloads. */
export function rememberedTasks(): string[] {
  try {
    const v: unknown = JSON.parse(localStorage.getItem(KEY) ?? '[]')
    return Array.isArray(v) ? v.filter((t): t is string => typeof t === 'string' && /^[0-9a-f]{64}$/.test(t)) : []
  } catch {
    return []
  }
}

export function rememberTask(task: string): void {
  const tasks = [task, ...rememberedTasks().filter((t) => t !== task)].slice(0, MAX_REMEMBERED)
  try { localStorage.setItem(KEY, JSON.stringify(tasks)) } catch { /* over the quota: the relay's listing still names the client */ }
}

/**
 * REVOKE_TASK below revokeBefore, or the reclaim of a fee no charge spent: the same spend back to
 * the client. Each of the task's fee coins is tried on its own: some may be another payer's, or
 * have a later revokeBefore than the one the state is of. Resolves with the refusals when every
 * coin was refused, else with null.
 */
export async function takeFeeBack(wallet: WalletHandle, listing: TaskListing): Promise<string | null> {
  const refused: string[] = []
  for (const op of listing.fee.outpoints) {
    const [txHex, index] = op.split(':') as [string, string]
    await wallet.transact((w, source) => w.revokeTask(source, { txHash: fromHex(txHex), index: Number(index) }))
      .catch((err: Error) => { refused.push(err.message) })
  }
  return refused.length > 0 && refused.length === listing.fee.outpoints.length ? refused.join('; ') : null
}
