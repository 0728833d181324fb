/**
 * The supervisors' epoch records as this tab knows them (paper 003 §4.2.2,
 * §4.3): each says which miners train epoch ξ, threshold-signed by the
 * committee. They come from gossip and, as a fallback for missed gossip,
 * from the relay's /api/epochs; either way only the committee's group
 * signature makes one count, never who delivered it.
 */
import { bytesEqual, epochMessageFromBytes, fromHex, toHex, verifyEpochRecord, PouwError } from '@pouw/protocol'

export interface VerifiedEpoch {
  epoch: number
  /** the members' Ed25519 keys, hex, in the record's (canonical) order */
  miners: string[]
}

/** 'new': the newest record so far; 'old': not newer than one we have; 'ignored': not a record of this task; 'no-key': no group key yet to check it. */
export type OfferResult = 'new' | 'old' | 'ignored' | 'no-key'

export interface EpochBook {
  readonly latest: VerifiedEpoch | null
  readonly hasGroupKey: boolean
  setGroupKey(hex: string | null): void
  /**
   * An EpochMessage's bytes. Joins and proposals are ignored. Throws a
   * PouwError for a malformed message (PROTOCOL_*) or a record whose
   * threshold signature fails (EPOCH_BAD_SIGNATURE): the sender broke a rule.
   */
  offer(bytes: Uint8Array): OfferResult
  /** Resolves once a record newer than `epoch` is known, when `signal` aborts, or after `timeoutMs`. */
  waitForNewer(epoch: number, signal: AbortSignal, timeoutMs?: number): Promise<void>
  onNew(handler: (e: VerifiedEpoch) => void): () => void
}

/** Records refused for their signature, remembered so that polling does not check them again. */
const REFUSED_LIMIT = 256

export function createEpochBook(taskId: Uint8Array, epochs: number): EpochBook {
  let latest: VerifiedEpoch | null = null
  let groupKey: Uint8Array | null = null
  const refused = new Set<string>()
  const handlers = new Set<(e: VerifiedEpoch) => void>()

  const verified = (m: Parameters<typeof verifyEpochRecord>[0], key: Uint8Array): boolean => {
    try {
      return verifyEpochRecord(m, key)
    } catch {
      return false // a signature that is not even a curve point
    }
  }

  const book: EpochBook = {
    get latest() { return latest },
    get hasGroupKey() { return groupKey !== null },

    setGroupKey(hex) {
      const key = hex === null ? null : fromHex(hex)
      if (key !== null && groupKey !== null && bytesEqual(key, groupKey)) return
      groupKey = key
      refused.clear()
    },

    offer(bytes) {
      const m = epochMessageFromBytes(bytes)
      if (m.kind !== 'record' || !bytesEqual(m.taskId, taskId) || m.epoch >= epochs) return 'ignored'
      if (latest !== null && m.epoch <= latest.epoch) return 'old'
      if (groupKey === null) return 'no-key'
      const id = toHex(bytes)
      if (refused.has(id) || !verified(m, groupKey)) {
        refused.add(id)
        if (refused.size > REFUSED_LIMIT) refused.delete(refused.values().next().value!)
        throw new PouwError('EPOCH_BAD_SIGNATURE', `the record of epoch ${m.epoch} does not carry the committee's threshold signature`)
      }
      latest = { epoch: m.epoch, miners: m.miners.map(toHex) }
      for (const h of handlers) h(latest)
      return 'new'
    },

    waitForNewer(epoch, signal, timeoutMs = 5000) {
      if ((latest !== null && latest.epoch > epoch) || signal.aborted) return Promise.resolve()
      return new Promise((resolve) => {
        const done = (): void => { clearTimeout(timer); off(); signal.removeEventListener('abort', done); resolve() }
        const timer = setTimeout(done, timeoutMs)
        const off = book.onNew((e) => { if (e.epoch > epoch) done() })
        signal.addEventListener('abort', done)
      })
    },

    onNew(handler) {
      handlers.add(handler)
      return () => { handlers.delete(handler) }
    },
  }
  return book
}
