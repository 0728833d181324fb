import {
  PouwError, TOPICS, bytesEqual, chooseVerifiers, compareBytes, fromHex, revealFromBytes, revealToBytes, signVerifierApproval,
  toHex, verdictSeal, verifyVerifierApproval, type Collect, type VerifierApproval,
} from '@pouw/protocol'
import { collectRule, collectedSubsidy, type Chain, type ChainEntry, type KeyValueStore } from '@pouw/ledger'
import type { PubSubNetwork } from '@pouw/network/node'

/**
 * §5.2's commit-reveal of the verifiers' digests, and the COLLECT_VERIFICATIONS a block's template
 * carries (ledger collect.ts):
 * - a verifier that accepts a block seals the nonce precursor it rebuilt in its signed verdict
 *   (the commit, gossiped with the verdict);
 * - once it holds a verdict from every chosen verifier of the block, or REVEAL_AFTER_MS after its
 *   own, it gossips its signed approval with the precursor (the reveal, TOPICS.reveals);
 * - a relay admits a reveal into the next block's collect only if the same verifier's accepting
 *   verdict reached it before any reveal for that block did, with the seal of that precursor: a
 *   verifier that saw another's reveal first cannot copy it. This ordering is each relay's own
 *   policy; consensus checks what can be checked by anyone (chosen verifier, signature, the
 *   precursor gives the block's nonce).
 * The precursor is not a secret of the re-run: it follows from the evidence's model and the
 * claimed map without the gradient, as in the paper. What the commit-reveal stops is a verifier
 * copying another's verdict; what makes a verifier re-run is being one of the few the block's
 * hash chose, with the block's subsidy depending on it.
 */

/**
 * How long a verifier waits for the other chosen verifiers' verdicts before it reveals anyway: a
 * block time. A verifier slower than that (one that waited out the message history, say) loses
 * its approval of that block on the relays, which is the price of the commit-before-reveal order.
 */
export const REVEAL_AFTER_MS = 30_000
/** how many blocks' first-reveal times are kept in memory (the store keeps them all) */
const FIRST_REVEALS_MAX = 1024

const KEYS = {
  reveal: (blockHex: string, verifierHex: string) => `relay/reveal/${blockHex}/${verifierHex}`,
  revealPrefix: (blockHex: string) => `relay/reveal/${blockHex}/`,
  /** when this relay first saw a reveal of the block (u64 ms, big-endian): later verdicts are not admitted */
  firstReveal: (blockHex: string) => `relay/first-reveal/${blockHex}`,
  /** our precursor of a block we accepted and have not revealed yet: a restart reveals it */
  sealed: (blockHex: string) => `relay/sealed/${blockHex}`,
  sealedPrefix: 'relay/sealed/',
}

/** What a block on a parent may carry: its collect (approvals sorted by verifier), the subsidy they prove, and their reveals (hex) as served. */
export interface Collected { collect?: Collect; subsidy: bigint; reveals: string[] }

/** A verifier's verdict on a block as the relay recorded it: whether it accepted, its seal, when it arrived. */
export interface HeldVerdict { accepted: boolean; seal: Uint8Array; at: number }

export interface VerificationsOptions {
  store: KeyValueStore
  chain: Chain
  network: Pick<PubSubNetwork, 'publish'>
  keys: { publicKey: Uint8Array; secretKey: Uint8Array }
  /** the verdict this relay holds from `verifier` on `block` (hex) */
  heldVerdict: (blockHex: string, verifierHex: string) => Promise<HeldVerdict | undefined>
  log: (msg: string, ctx?: Record<string, unknown>) => void
  now?: () => number
}

export function createVerifications(opts: VerificationsOptions) {
  const { store, chain, network, keys, log } = opts
  const now = opts.now ?? Date.now
  const params = chain.params
  /** when this relay first saw a reveal for each block (its own included) */
  const firstReveal = new Map<string, number>()
  /**
   * the reveals held on recent blocks, verifier (hex) -> revealToBytes; loaded from the store once per
   * block. The load itself is kept, so that callers that come while it runs share its map: two maps of
   * one block would leave a reveal kept in one unseen by the collect reading the other.
   */
  const reveals = new Map<string, Promise<Map<string, Uint8Array>>>()
  /** what a block on each recent parent collects, by how many reveals of the parent were held then */
  const collected = new Map<string, { held: number; result: Collected }>()

  /** Keeps at most FIRST_REVEALS_MAX recent blocks in a per-block memory (the store keeps them all). */
  function remember<V>(m: Map<string, V>, key: string, value: V): V {
    if (!m.has(key) && m.size >= FIRST_REVEALS_MAX) m.delete(m.keys().next().value!)
    m.set(key, value)
    return value
  }

  function revealsOf(blockHex: string): Promise<Map<string, Uint8Array>> {
    const held = reveals.get(blockHex)
    if (held !== undefined) return held
    const load = (async () => {
      const loaded = new Map<string, Uint8Array>()
      const prefix = KEYS.revealPrefix(blockHex)
      for await (const [key, value] of store.iterate(prefix)) loaded.set(key.slice(prefix.length), value)
      return loaded
    })()
    // a failed read is not remembered: the next caller reads again
    load.catch(() => { if (reveals.get(blockHex) === load) reveals.delete(blockHex) })
    return remember(reveals, blockHex, load)
  }
  let closed = false
  const timers = new Set<ReturnType<typeof setTimeout>>()

  function chosenFor(hash: Uint8Array): Uint8Array[] {
    const v = params.verification
    return v === undefined ? [] : chooseVerifiers(hash, v.verifiers, v.perBlock)
  }

  /** When this relay first saw a reveal of the block (memory, else the store); undefined before any. */
  async function firstRevealOf(blockHex: string): Promise<number | undefined> {
    const at = firstReveal.get(blockHex)
    if (at !== undefined) return at
    const raw = await store.get(KEYS.firstReveal(blockHex))
    return raw === undefined ? undefined : Number(new DataView(raw.buffer, raw.byteOffset, raw.byteLength).getBigUint64(0))
  }

  /** keep() one at a time: two reveals of one block arriving together must not both take the first-reveal time */
  let keeping: Promise<void> = Promise.resolve()
  function keep(blockHash: Uint8Array, a: VerifierApproval): Promise<void> {
    const next = keeping.then(() => keepNow(blockHash, a))
    keeping = next.catch(() => {})
    return next
  }

  async function keepNow(blockHash: Uint8Array, a: VerifierApproval): Promise<void> {
    const blockHex = toHex(blockHash)
    const bytes = revealToBytes({ blockHash, approval: a })
    const ops = [{ type: 'put' as const, key: KEYS.reveal(blockHex, toHex(a.verifier)), value: bytes }]
    const held = await revealsOf(blockHex)
    if ((await firstRevealOf(blockHex)) === undefined) {
      const at = now()
      remember(firstReveal, blockHex, at)
      const v = new Uint8Array(8)
      new DataView(v.buffer).setBigUint64(0, BigInt(at))
      ops.push({ type: 'put', key: KEYS.firstReveal(blockHex), value: v })
    }
    await store.batch(ops)
    held.set(toHex(a.verifier), bytes)
  }

  /**
   * Our seal for an accepting verdict on `blockHash`. The precursor is kept first (until revealed),
   * so that a relay that stops after its verdict went out still reveals it after a restart.
   */
  async function seal(blockHash: Uint8Array, precursor: Uint8Array): Promise<Uint8Array> {
    await store.batch([{ type: 'put', key: KEYS.sealed(toHex(blockHash)), value: precursor }])
    return verdictSeal(blockHash, keys.publicKey, precursor)
  }

  /** After our sealing verdict went out: the reveal is due when every chosen verdict is in, or REVEAL_AFTER_MS from now. */
  function afterVerdict(blockHash: Uint8Array, precursor: Uint8Array): void {
    revealWhenDue(blockHash, precursor, now() + REVEAL_AFTER_MS)
  }

  function revealWhenDue(blockHash: Uint8Array, precursor: Uint8Array, deadline: number): void {
    const blockHex = toHex(blockHash)
    const chosen = chosenFor(blockHash).map(toHex)
    const check = async (): Promise<void> => {
      if (closed) return
      const held = await Promise.all(chosen.map((v) => opts.heldVerdict(blockHex, v)))
      if (held.some((h) => h === undefined) && now() < deadline) { later(check, 250); return }
      const approval = signVerifierApproval(blockHash, precursor, keys)
      await keep(blockHash, approval)
      await store.batch([{ type: 'del', key: KEYS.sealed(blockHex) }])
      await network.publish(TOPICS.reveals, revealToBytes({ blockHash, approval })).catch(() => {})
      log('verifier revealed', { block: blockHex, verdicts: held.filter((h) => h !== undefined).length, chosen: chosen.length })
    }
    later(check, 0)
  }

  /** After a restart: the reveals that were still due (the verdicts were out long enough: reveal now). */
  async function start(): Promise<void> {
    for await (const [key, precursor] of store.iterate(KEYS.sealedPrefix)) revealWhenDue(fromHex(key.slice(KEYS.sealedPrefix.length)), precursor, now())
  }

  /** checks under way: stop() waits for them before the store closes */
  const running = new Set<Promise<void>>()
  function later(f: () => Promise<void>, ms: number): void {
    if (closed) return
    const t = setTimeout(() => {
      timers.delete(t)
      const run = f().catch((e: unknown) => log('reveal failed', { error: String(e) })).finally(() => running.delete(run))
      running.add(run)
    }, ms)
    timers.add(t)
  }

  /**
   * A reveal by gossip or from another relay's /api/verdicts: by one of the verifiers the block's hash
   * chose, signed. Kept (once); judged when collected.
   */
  async function onReveal(data: Uint8Array, from: string): Promise<void> {
    const r = revealFromBytes(data)
    const a = r.approval
    if (!chosenFor(r.blockHash).some((k) => bytesEqual(k, a.verifier))) {
      throw new PouwError('RELAY_NOT_VERIFIER', `reveal from ${from} by ${toHex(a.verifier).slice(0, 16)}, not one of the block's chosen verifiers`)
    }
    // kept already: asked of the memory, else of the store for this one key (loading the block's reveals into memory
    // before the signature is checked would let any peer fill the memory with hashes of its choosing)
    const [blockHex, verifier] = [toHex(r.blockHash), toHex(a.verifier)]
    const inMemory = reveals.get(blockHex)
    if (inMemory !== undefined ? (await inMemory).has(verifier) : (await store.get(KEYS.reveal(blockHex, verifier))) !== undefined) return
    if (!(await verifyVerifierApproval(r.blockHash, a))) throw new PouwError('POUW_BAD_SIGNATURE', `reveal from ${from} has an invalid signature`)
    await keep(r.blockHash, a)
  }


  /**
   * What a block on `parent` may carry: the admitted approvals of its chosen verifiers (sorted, each
   * one the chain would accept) and the subsidy they prove.
   */
  async function collectFor(parent: ChainEntry): Promise<Collected> {
    if (params.verification === undefined || parent.height === 0) return { subsidy: params.subsidy, reveals: [] }
    // the same as last time while no reveal came: a verdict that comes later is not admitted anyway
    const held = await revealsOf(parent.hashHex)
    const cached = collected.get(parent.hashHex)
    if (cached?.held === held.size) return cached.result
    return remember(collected, parent.hashHex, { held: held.size, result: await collectNow(parent, held) }).result
  }

  async function collectNow(parent: ChainEntry, held: ReadonlyMap<string, Uint8Array>): Promise<Collected> {
    const first = (await firstRevealOf(parent.hashHex)) ?? Infinity
    const approvals: { a: VerifierApproval; bytes: Uint8Array }[] = []
    for (const [verifierHex, bytes] of held) {
      const a = revealFromBytes(bytes).approval
      const v = await opts.heldVerdict(parent.hashHex, verifierHex)
      // committed before any reveal of this block reached us, to this very precursor
      if (v === undefined || !v.accepted || v.at > first || !bytesEqual(v.seal, verdictSeal(parent.hash, a.verifier, a.precursor))) continue
      try {
        collectRule({ type: 'coinbase', height: parent.height + 1, outputs: [], collect: { block: parent.hash, approvals: [a] } }, parent, params)
        approvals.push({ a, bytes })
      } catch { /* not one of the chosen, or a precursor that does not give the nonce: the chain would refuse it */ }
    }
    if (approvals.length === 0) return { subsidy: 0n, reveals: [] }
    approvals.sort((x, y) => compareBytes(x.a.verifier, y.a.verifier))
    return {
      collect: { block: parent.hash, approvals: approvals.map((x) => x.a) },
      subsidy: collectedSubsidy(params.subsidy, approvals.length, chosenFor(parent.hash).length),
      reveals: approvals.map((x) => toHex(x.bytes)),
    }
  }

  return {
    seal, afterVerdict, onReveal, collectFor, start,
    /** The reveals held on a block, by verifier (hex): revealToBytes. */
    held: (blockHex: string): Promise<ReadonlyMap<string, Uint8Array>> => revealsOf(blockHex),
    /**
     * A verdict on the block was recorded: its collect is worked out again (one stamped before the first reveal but
     * written after the collect was read would be left out until the next reveal).
     */
    verdictRecorded(blockHex: string): void { collected.delete(blockHex) },
    /** No reveal is scheduled from now on; resolves once the checks and writes under way are done. */
    async stop(): Promise<void> {
      closed = true
      for (const t of timers) clearTimeout(t)
      timers.clear()
      await Promise.all(running)
      await keeping
    },
  }
}

export type Verifications = ReturnType<typeof createVerifications>
