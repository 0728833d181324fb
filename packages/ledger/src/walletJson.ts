import { fromHex, protocolError, toHex, transferOutputFromBytes, transferOutputToBytes, type OutPoint } from '@pouw/protocol'
import type { Supply } from './chain.js'
import { outpointKey, type Coin } from './utxo.js'
import type { OwnedCoin, WalletBalance, WalletSource } from './wallet.js'

/**
 * What a relay serves about a key's coins (GET /api/wallet) and what a page
 * reads back into a WalletSource, so that Wallet builds and signs transfers
 * in the browser exactly as it does in Node. The output travels in its
 * consensus encoding (transferOutputToBytes: amount, lock, recipient), so no
 * lock kind needs a JSON shape of its own; the amount is repeated in decimal
 * for people reading the JSON and must agree with the encoding.
 */
export interface CoinJson {
  txHash: string
  index: number
  /** decimal base units */
  amount: string
  /** transferOutputToBytes of the coin's output, hex */
  output: string
  /** height of the block that created it */
  height: number
  coinbase: boolean
  /** spent by a transfer waiting in the relay's mempool */
  pending: boolean
}

export interface WalletJson {
  key: string
  /** the tip's height: a transfer made now goes into a block at height + 1 */
  height: number
  balance: { total: string; spendable: string; immature: string; locked: string }
  coins: CoinJson[]
}

export function coinToJson(c: OwnedCoin, pending: boolean): CoinJson {
  return {
    txHash: toHex(c.outpoint.txHash), index: c.outpoint.index, amount: c.coin.amount.toString(),
    output: toHex(transferOutputToBytes({ amount: c.coin.amount, recipient: c.coin.recipient, lock: c.coin.lock })),
    height: c.coin.height, coinbase: c.coin.coinbase, pending,
  }
}

function field<T>(o: Record<string, unknown>, name: string, ok: (v: unknown) => boolean): T {
  const v = o[name]
  if (!ok(v)) throw protocolError('BAD_VALUE', `wallet coin: field ${name} is missing or malformed`)
  return v as T
}

const isU32 = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff
const isHex = (n: number) => (v: unknown): boolean => typeof v === 'string' && v.length === 2 * n && /^[0-9a-f]*$/.test(v)

/** Reads one coin back; throws PROTOCOL_BAD_VALUE (or the output's decoding error) on anything malformed. */
export function coinFromJson(j: unknown): OwnedCoin & { pending: boolean } {
  if (typeof j !== 'object' || j === null) throw protocolError('BAD_VALUE', 'wallet coin: not an object')
  const o = j as Record<string, unknown>
  const outpoint: OutPoint = { txHash: fromHex(field<string>(o, 'txHash', isHex(32))), index: field<number>(o, 'index', isU32) }
  const out = transferOutputFromBytes(fromHex(field<string>(o, 'output', (v) => typeof v === 'string')))
  if (out.amount.toString() !== field<string>(o, 'amount', (v) => typeof v === 'string')) {
    throw protocolError('BAD_VALUE', `wallet coin: amount ${String(o.amount)} disagrees with the encoded output's ${out.amount}`)
  }
  const coin: Coin = {
    amount: out.amount, recipient: out.recipient, lock: out.lock,
    height: field<number>(o, 'height', isU32), coinbase: field<boolean>(o, 'coinbase', (v) => typeof v === 'boolean'),
  }
  return { outpoint, coin, pending: field<boolean>(o, 'pending', (v) => typeof v === 'boolean') }
}

export function balanceToJson(b: WalletBalance): WalletJson['balance'] {
  return { total: b.total.toString(), spendable: b.spendable.toString(), immature: b.immature.toString(), locked: b.locked.toString() }
}

export interface SupplyJson { height: number; tip: string; coinbases: string; fees: string; utxo: string; coins: number }

export function supplyToJson(s: Supply): SupplyJson {
  return { height: s.height, tip: s.tip, coinbases: s.coinbases.toString(), fees: s.fees.toString(), utxo: s.utxo.toString(), coins: s.coins }
}

/**
 * A WalletSource over one /api/wallet answer: the key's coins at that
 * answer's tip. `pending(outpoint)` says which coins a mempool transfer
 * already spends (pass it to Wallet as `exclude`).
 */
export function walletSourceFromJson(j: WalletJson, params: WalletSource['params']): WalletSource & { pending: (o: OutPoint) => boolean } {
  if (typeof j !== 'object' || j === null || !Array.isArray(j.coins) || !isU32(j.height)) throw protocolError('BAD_VALUE', 'wallet: not a wallet answer')
  const coins = j.coins.map(coinFromJson)
  const key = fromHex(j.key)
  const pending = new Set(coins.filter((c) => c.pending).map((c) => outpointKey(c.outpoint)))
  return {
    params,
    tip: () => ({ height: j.height }),
    coinsOf: async (recipient) => (toHex(recipient) === toHex(key) ? coins.map(({ outpoint, coin }) => ({ outpoint, coin })) : []),
    pending: (o) => pending.has(outpointKey(o)),
  }
}
