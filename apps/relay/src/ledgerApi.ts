/**
 * The relay as a full node's money side: a mempool over its chain, the
 * transactions topic, and the HTTP routes wallets and miners use.
 *
 * - POST /api/tx: a signed transfer (txToBytes) for the mempool. Accepted:
 *   gossiped on TOPICS.txs so that every relay, and so every miner's block
 *   template, gets it. Refused: 400 with the rule it breaks (bad signature,
 *   double spend, immature coinbase, fee too low, ...); nothing is kept.
 * - GET /api/template?parent=<block hash>: the transfers a miner building on
 *   `parent` should include, and the fees its coinbase may claim on top of
 *   the subsidy. Transfers only for our own tip: on any other parent (a
 *   peer's block we have not verified yet) there are none, since our mempool
 *   is checked against our tip's UTXO set and nothing else. For any parent we
 *   hold, `approvals` (the verifiers' reveals, hex) make the coinbase's
 *   COLLECT_VERIFICATIONS, and `subsidy` is what they let it claim; for a
 *   parent we lack, none and 0. `history`: the supervisors' latest agreed
 *   MESSAGE_HISTORY slot with the DKG proof of its key, for the coinbase.
 * - GET /api/wallet?key=<public key>: the key's coins, balance and which of
 *   them a mempool transfer already spends (walletJson.ts).
 * - GET /api/mempool: the waiting transfers, highest fee rate first.
 * - GET /api/supply: the money audit of the main chain (Chain.supply).
 */
import {
  TOPICS, fromHex, historyAnchorToBytes, isPouwError, toHex, txFromBytes, txToBytes, type HistoryAnchor, type OutPoint, type Tx,
} from '@pouw/protocol'
import {
  Mempool, balanceOf, balanceToJson, coinToJson, supplyToJson, type AddResult, type Chain, type ChainEntry, type MempoolEntry, type WalletJson,
} from '@pouw/ledger'
import type { PubSubNetwork } from '@pouw/network/node'
import { HttpError, type ApiHandler, type PostHandler } from './http.js'

export interface LedgerApi {
  mempool: Mempool
  /** a transfer from gossip: judged like a posted one, kept or refused (the error says why) */
  onTx(data: Uint8Array, from: string): Promise<MempoolEntry>
  /** a transaction this relay made (a charge): admitted like a posted one, then gossiped */
  submit(tx: Tx): Promise<MempoolEntry>
  /** after every Chain.addBlock: the mempool follows the new tip */
  afterBlock(result: AddResult): Promise<void>
  get: Record<string, ApiHandler>
  post: Record<string, PostHandler>
  stats: { txAccepted: number; txRefused: number }
}

const HEX64 = /^[0-9a-f]{64}$/
/**
 * Most bytes of transfers one template carries (policy: a tab holds its template in memory and
 * commits to it k iterations ahead; consensus allows MAX_BLOCK_BYTES).
 */
export const TEMPLATE_BYTES = 1_000_000

/**
 * A block template as served: transfers, their fees, the parent's collected approvals and the
 * subsidy they prove, and the supervisors' latest MESSAGE_HISTORY anchor (historyAnchorToBytes hex, or null).
 */
export interface TemplateJson { parent: string; txs: string[]; fees: string; approvals: string[]; subsidy: string; history: string | null }

export function createLedgerApi(
  chain: Chain, network: PubSubNetwork, log: (msg: string, ctx?: Record<string, unknown>) => void,
  collectFor: (parent: ChainEntry) => Promise<{ subsidy: bigint; reveals: string[] }>,
  historyAnchor: () => HistoryAnchor | undefined,
): LedgerApi {
  const mempool = new Mempool(chain)
  const stats = { txAccepted: 0, txRefused: 0 }

  async function admit(tx: Tx, from: string): Promise<MempoolEntry> {
    try {
      const entry = await mempool.add(tx)
      stats.txAccepted++
      log('transaction accepted', { tx: entry.hashHex, fee: entry.fee.toString(), size: entry.size, from })
      return entry
    } catch (e) {
      if (isPouwError(e) && e.code !== 'LEDGER_MEMPOOL_DUPLICATE') stats.txRefused++
      throw e
    }
  }

  /** bytes that do not decode are refused (and counted) like a transfer that breaks a rule */
  function decode(data: Uint8Array): Tx {
    try {
      return txFromBytes(data)
    } catch (e) {
      if (isPouwError(e)) stats.txRefused++
      throw e
    }
  }

  async function onTx(data: Uint8Array, from: string): Promise<MempoolEntry> {
    return admit(decode(data), from)
  }

  async function submit(tx: Tx): Promise<MempoolEntry> {
    const entry = await admit(tx, 'self')
    void network.publish(TOPICS.txs, txToBytes(tx)).catch(() => {})
    return entry
  }

  async function onTxPosted(body: Uint8Array): Promise<{ tx: string; fee: string; size: number; status: 'accepted' }> {
    const tx = decode(body)
    const entry = await admit(tx, 'http')
    void network.publish(TOPICS.txs, txToBytes(tx)).catch(() => {})
    return { tx: entry.hashHex, fee: entry.fee.toString(), size: entry.size, status: 'accepted' }
  }

  async function template(url: URL): Promise<TemplateJson> {
    const parent = url.searchParams.get('parent') ?? ''
    if (!HEX64.test(parent)) throw new HttpError(400, 'parent must be a block hash (64 lowercase hex digits)')
    // transfers only on our tip, once the mempool was checked against its UTXO set: the tip moves first, and a
    // template without them now would be kept by a miner that is told nothing changed (it asks again after a 503)
    const tip = chain.tip()
    const onTip = parent === tip.hashHex
    if (onTip && parent !== mempool.syncedTo) throw new HttpError(503, 'the mempool is catching up with the new tip: ask again')
    const entry = onTip ? tip : await chain.getEntry(parent)
    const c = entry === undefined ? { subsidy: 0n, reveals: [] } : await collectFor(entry)
    // (asked again: the tip may have moved while the collect was read)
    const t = onTip && parent === chain.tip().hashHex && parent === mempool.syncedTo ? mempool.selectForBlock(TEMPLATE_BYTES) : { txs: [], fees: 0n }
    return { parent, txs: t.txs.map((tx) => toHex(txToBytes(tx))), fees: t.fees.toString(), approvals: c.reveals, subsidy: c.subsidy.toString(), history: anchorHex() }
  }

  /** The supervisors' latest anchor as served (encoded once per record) */
  let anchorBytes: { record: HistoryAnchor['record']; hex: string } | undefined
  function anchorHex(): string | null {
    const a = historyAnchor()
    if (a === undefined) return null
    if (anchorBytes?.record !== a.record) anchorBytes = { record: a.record, hex: toHex(historyAnchorToBytes(a)) }
    return anchorBytes.hex
  }

  async function wallet(url: URL): Promise<WalletJson> {
    const key = url.searchParams.get('key') ?? ''
    if (!HEX64.test(key)) throw new HttpError(400, 'key must be an Ed25519 public key (64 lowercase hex digits)')
    const pending = (o: OutPoint): boolean => mempool.isSpent(o)
    const height = chain.tip().height
    const coins = await chain.coinsOf(fromHex(key))
    return {
      key, height,
      balance: balanceToJson(balanceOf(coins, height + 1, chain.params, pending)),
      coins: coins.map((c) => coinToJson(c, pending(c.outpoint))),
    }
  }

  return {
    mempool, onTx, stats, submit,
    afterBlock: (result) => mempool.update(result),
    get: {
      '/api/template': template,
      '/api/wallet': wallet,
      '/api/mempool': async () => mempool.byFeeRate().slice(0, 500).map((e) => ({ tx: e.hashHex, fee: e.fee.toString(), size: e.size, inputs: e.tx.inputs.length, outputs: e.tx.outputs.length })),
      '/api/supply': async () => supplyToJson(await chain.supply()),
    },
    post: { '/api/tx': async (_url, body) => onTxPosted(body) },
  }
}
