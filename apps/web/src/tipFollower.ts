/**
 * Which block a tab mines on. Every miner must build on the newest block it
 * heard of, whoever found it: a verdict takes a history slot and a re-run (tens
 * of seconds on a busy machine), and a miner that waited for verdicts on its
 * peers' blocks while building on its own at once would win nearly every race
 * (issue 3: one tab's blocks filled the main chain). So the tab follows:
 *
 * - its own blocks, as soon as its miner finds them;
 * - a peer's block heard by gossip, once its header passes the cheap checks
 *   (it decodes, its hash meets the target of the expected bits, it extends a
 *   block we know, at the next height);
 * - the relay's verified tip (status polls, verdicts);
 *
 * each time only if the new block wins the relays' fork choice (ledger
 * `beats`: more work, equal work to the lower hash), so tabs and relays
 * converge on one chain. A block not yet verified may turn out invalid: when
 * a verdict rejects one we followed, we go back to the relay's tip.
 *
 * The difficulty adjusts (ledger `nextBits`): each known block keeps its timing
 * window (its own and its last ancestors' time and bits), from which the bits
 * of a block on top of it follow, so a peer's block is checked against its own
 * parent's rule and the miner builds on its own block with the right bits.
 *
 * Work is compared by height, not by the relays' cumulative work (the tab does
 * not know every branch's work). Near enough while branches are short: one
 * block moves the target by at most ~19%, so of two branches a few blocks deep
 * the higher is nearly always the heavier. Deeper forks with timestamps pushed
 * forward can make a longer branch lighter; the tab may then mine on it until a
 * relay's verified tip that is higher arrives.
 */
import { DIFFICULTY_WINDOW, blockFromBytes, extendWindow, hashMeetsTarget, headerHash, submissionFromBytes, targetFromBits, toHex, type BlockHeader, type BlockTiming } from '@pouw/protocol'
import type { TipInfo } from '@pouw/trainer'

/** how many block hashes (and their heights) the follower remembers */
const KNOWN_MAX = 4096

export type PeerBlockOutcome =
  | { adopted: true; tip: TipInfo }
  | { adopted: false; reason: 'malformed' | 'wrong-bits' | 'high-hash' | 'parent-unknown' | 'bad-height' | 'not-better' }

/** The relays' fork choice, by height: higher wins; at equal height the lower hash. */
export function tipBeats(candidate: { hashHex: string; height: number }, tip: { hashHex: string; height: number } | null): boolean {
  if (tip === null) return true
  if (candidate.height !== tip.height) return candidate.height > tip.height
  return candidate.hashHex < tip.hashHex // lowercase hex of equal length: the byte order
}

/** The difficulty rule: the bits of a block whose parent's timing window is `window` (the parent last). */
export type NextBitsRule = (window: readonly BlockTiming[]) => number

/**
 * A block on `parent` as a tip: without the parent's template (its transfers and approvals are not
 * this block's; without one, a block on it claims fees only: trainer chainTipFromInfo).
 */
function unverifiedChild(parent: TipInfo, hashHex: string, height: number, next: Pick<TipInfo, 'nextBits' | 'window'>): TipInfo {
  const { template: _parents, ...rest } = parent
  return { ...rest, hashHex, height, ...next }
}

interface KnownBlock { height: number; window?: BlockTiming[] }

export class TipFollower {
  private current: TipInfo | null = null
  /** blocks we know exist (verified tips, ours, peers' that passed the checks): height and timing window */
  private readonly known = new Map<string, KnownBlock>()
  /** blocks we built on before any verdict: a rejection of one of them sends us back */
  private readonly unverified = new Set<string>()

  /** @param rule the network's difficulty rule; absent, every block has the bits the relay gave */
  constructor(private rule?: NextBitsRule) {}

  get tip(): TipInfo | null { return this.current }

  /**
   * The relay's block template for block `hashHex`: kept with the tip while it is that block (a
   * verified tip of the same block keeps it, onVerified). False, and nothing kept, when the tip has
   * moved on meanwhile.
   */
  setTemplate(hashHex: string, template: NonNullable<TipInfo['template']>): boolean {
    if (this.current?.hashHex !== hashHex) return false
    this.current = { ...this.current, template }
    return true
  }

  /** The network's difficulty rule, once the relay's status told it. */
  setRule(rule: NextBitsRule | undefined): void { this.rule = rule }

  /** the blocks we follow that no verdict has settled yet, newest last (the page asks the relay about them) */
  unverifiedBlocks(): string[] { return [...this.unverified] }

  /**
   * A tip the relay verified (its status, a verdict): followed when it wins, or always when `force`.
   * Its window is kept only when whole (the tip and min(3, height) ancestors) and when the rule
   * over it gives the relay's own next bits; otherwise the miner pauses after its own block there.
   */
  onVerified(tip: TipInfo, force = false): boolean {
    const { window: _given, ...rest } = tip
    const window = this.checkedWindow(tip)
    const t: TipInfo = window === undefined ? rest : { ...rest, window }
    this.remember(t.hashHex, t.height, t.window)
    this.unverified.delete(t.hashHex)
    const same = this.current?.hashHex === t.hashHex
    // the same block with other bits: ours computed from a window that a relay now corrects
    if (same && this.current!.nextBits === t.nextBits) return false
    if (!same && !force && !tipBeats(t, this.current)) return false
    // (the same block keeps the block template the page fetched for it)
    this.current = same && this.current!.template !== undefined ? { ...t, template: this.current!.template } : t
    return true
  }

  private checkedWindow(t: TipInfo): BlockTiming[] | undefined {
    const w = t.window
    if (w === undefined || w.length !== Math.min(DIFFICULTY_WINDOW, t.height + 1)) return undefined
    if (this.rule === undefined) return w
    try {
      return this.rule(w) === t.nextBits ? w : undefined
    } catch {
      return undefined
    }
  }

  /** A verifier accepted this block: it exists at this height. */
  onAccepted(hashHex: string, height: number): void {
    this.remember(hashHex, height)
    this.unverified.delete(hashHex)
  }

  /**
   * Our miner found a block on `parentHex` and already builds on it, with the bits and window it
   * computed for the next block (`next`; null when it could not tell, and then pauses until a
   * relay's tip arrives). The parent may no longer be our tip (a peer's block came in meanwhile):
   * the block is then followed only if it wins.
   */
  onOwnBlock(hashHex: string, height: number, parentHex: string, next: Pick<TipInfo, 'nextBits' | 'window'> | null): void {
    const t = this.current
    this.remember(hashHex, height, next?.window)
    this.unverified.add(hashHex)
    if (t === null || next === null) return
    if (t.hashHex === parentHex || tipBeats({ hashHex, height }, t)) this.current = unverifiedChild(t, hashHex, height, next)
  }

  /** The bits expected of a block on top of the known block `parentHex`; undefined when its window is unknown. */
  private bitsAfter(parentHex: string, parent: KnownBlock): number | undefined {
    if (this.rule === undefined) return this.current?.nextBits
    if (parentHex === this.current?.hashHex) return this.current.nextBits
    if (parent.window === undefined) return undefined
    try {
      return this.rule(parent.window)
    } catch {
      return undefined
    }
  }

  /** The window and next bits of a block with `header` on top of `parent`. */
  private child(parent: Pick<TipInfo, 'nextBits' | 'window'>, header: BlockHeader): Pick<TipInfo, 'nextBits' | 'window'> | undefined {
    if (this.rule === undefined) return { nextBits: parent.nextBits }
    if (parent.window === undefined) return undefined
    const window = extendWindow(parent.window, { time: header.time, bits: header.bits })
    try {
      return { nextBits: this.rule(window), window }
    } catch {
      return undefined // bits that do not decode: not a block to build on
    }
  }

  /** A peer's block submission heard by gossip: follow it when its header checks out and it wins. */
  onPeerBlock(submission: Uint8Array): PeerBlockOutcome {
    const t = this.current
    if (t === null) return { adopted: false, reason: 'not-better' }
    let header
    let coinbaseHeight: number | undefined
    try {
      const block = blockFromBytes(submissionFromBytes(submission).block)
      header = block.header
      const cb = block.txs[0]
      coinbaseHeight = cb?.type === 'coinbase' ? cb.height : undefined
    } catch {
      return { adopted: false, reason: 'malformed' }
    }
    const parentHex = toHex(header.prevHash)
    const parent = this.known.get(parentHex)
    const expected = parent === undefined ? undefined : this.bitsAfter(parentHex, parent)
    if (parent === undefined || expected === undefined) return { adopted: false, reason: 'parent-unknown' }
    if (header.bits !== expected) return { adopted: false, reason: 'wrong-bits' }
    const hash = headerHash(header)
    if (!hashMeetsTarget(hash, targetFromBits(header.bits))) return { adopted: false, reason: 'high-hash' }
    const height = parent.height + 1
    if (coinbaseHeight !== height) return { adopted: false, reason: 'bad-height' }
    const hashHex = toHex(hash)
    const next = this.child({ nextBits: expected, window: parent.window }, header)
    this.remember(hashHex, height, next?.window)
    if (next === undefined || !tipBeats({ hashHex, height }, t)) return { adopted: false, reason: 'not-better' }
    this.unverified.add(hashHex)
    this.current = unverifiedChild(t, hashHex, height, next)
    return { adopted: true, tip: this.current }
  }

  /**
   * A verifier rejected a block. If we built on it (it is ours, or a peer's we followed), every
   * block above it is dead too: go back to the verifier's tip. Returns whether the tip moved.
   */
  onRejected(hashHex: string, relayTip: TipInfo): boolean {
    this.known.delete(hashHex)
    if (!this.unverified.delete(hashHex) && this.current?.hashHex !== hashHex) return false
    return this.onVerified(relayTip, true)
  }

  private remember(hashHex: string, height: number, window?: BlockTiming[]): void {
    const had = this.known.get(hashHex)
    this.known.delete(hashHex)
    this.known.set(hashHex, { height, window: window ?? had?.window })
    if (this.known.size > KNOWN_MAX) this.known.delete(this.known.keys().next().value!)
    if (this.unverified.size > KNOWN_MAX) this.unverified.delete(this.unverified.values().next().value!)
  }
}
