/**
 * The page's wallet: one Ed25519 key per browser profile, kept in IndexedDB
 * (always, unlike the miner key: see minerKey.ts), which every tab's block
 * rewards pay (TrainerInit.payTo). Its coins come from the relay
 * (GET /api/wallet); transfers are built and signed here by @pouw/ledger's
 * Wallet, exactly as in Node, and handed to the relay (POST /api/tx), which
 * gossips them to the other relays' mempools.
 */
import { useCallback, useEffect, useRef, useState } from 'react'
import { fromHex, generateKeyPair, toHex, txHash, txToBytes, SECRET_KEY_SIZE, type KeyPair, type OutPoint, type TransferTx } from '@pouw/protocol'
import { Wallet, walletSourceFromJson, type ChainParams, type WalletJson, type WalletSource } from '@pouw/ledger'

const DB_NAME = 'pouw-wallet'
const STORE = 'keys'
const SLOT = 'default'
const POLL_MS = 4000
/** base units per coin */
export const UNITS_PER_COIN = 100_000_000n

export interface WalletView {
  /** hex public key: the address others pay */
  key: string | null
  persisted: boolean | null
  /** the relay's answer, null until the first one */
  balance: { total: bigint; spendable: bigint; immature: bigint; locked: bigint } | null
  coins: number
  height: number | null
  /** transfers this page sent, newest first */
  sent: { tx: string; to: string; amount: bigint; fee: bigint; at: number }[]
  error: string | null
}

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result)
    r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'))
  })
}

/**
 * The profile's wallet key: read, or created and stored with `add` (so two tabs that start at once
 * cannot overwrite each other's key: the loser reads the winner's). Without IndexedDB the key lives
 * as long as the tab, and the view says so.
 */
export async function loadWalletKey(): Promise<{ keys: KeyPair; persisted: boolean }> {
  if (typeof indexedDB === 'undefined') return { keys: generateKeyPair(), persisted: false }
  const open = indexedDB.open(DB_NAME, 1)
  open.onupgradeneeded = () => { if (!open.result.objectStoreNames.contains(STORE)) open.result.createObjectStore(STORE) }
  const db = await request(open)
  try {
    const read = async (): Promise<KeyPair | undefined> => {
      const stored: unknown = await request(db.transaction(STORE, 'readonly').objectStore(STORE).get(SLOT))
      const secret = (stored as { secretKey?: unknown } | undefined)?.secretKey
      return secret instanceof Uint8Array && secret.length === SECRET_KEY_SIZE ? generateKeyPair(secret) : undefined
    }
    const have = await read()
    if (have !== undefined) return { keys: have, persisted: true }
    const fresh = generateKeyPair()
    try {
      await request(db.transaction(STORE, 'readwrite').objectStore(STORE).add({ secretKey: fresh.secretKey, created: Date.now() }, SLOT))
    } catch { /* another tab stored its key first: use that one */ }
    const stored = await read()
    if (stored === undefined) throw new Error('the wallet key could not be stored in IndexedDB')
    return { keys: stored, persisted: true }
  } finally {
    db.close()
  }
}

/** "12.5" → 1_250_000_000n; a clear error for anything that is not a positive amount with at most 8 decimals. */
export function parseCoins(text: string): bigint {
  const m = /^\s*(\d{1,8})(?:\.(\d{1,8}))?\s*$/.exec(text)
  if (!m) throw new Error(`"${text}" is not an amount of coins (digits, at most 8 after the point)`)
  const units = BigInt(m[1]!) * UNITS_PER_COIN + BigInt((m[2] ?? '').padEnd(8, '0'))
  if (units <= 0n) throw new Error('the amount must be more than zero')
  return units
}

/** 1_250_000_000n → "12.50000000" */
export function formatCoins(units: bigint): string {
  const neg = units < 0n
  const a = neg ? -units : units
  return `${neg ? '-' : ''}${a / UNITS_PER_COIN}.${(a % UNITS_PER_COIN).toString().padStart(8, '0')}`
}

/** GET /api/status's chain parameters: what a WalletSource needs to judge maturity and locks. */
interface StatusChain {
  network: string; genesisTime: number; bits: number; subsidy: string; maxFutureSeconds: number; coinbaseMaturity: number
}

function paramsOf(c: StatusChain): ChainParams {
  return {
    networkName: c.network, genesisTime: c.genesisTime, bits: c.bits, subsidy: BigInt(c.subsidy),
    maxFutureSeconds: c.maxFutureSeconds, coinbaseMaturity: c.coinbaseMaturity,
  }
}

async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(path, { cache: 'no-store' })
  const body = (await res.json()) as T & { error?: string; code?: string }
  if (!res.ok) throw new Error(body.code !== undefined ? `${body.code}: ${body.error}` : `HTTP ${res.status}: ${body.error ?? ''}`)
  return body
}

/** Builds a signed transfer with the profile's wallet over its coins (send, payForTask, revokeTask, ...). */
export type BuildTransfer = (wallet: Wallet, source: WalletSource & { pending: (o: OutPoint) => boolean }) => Promise<TransferTx>

export interface WalletHandle {
  view: WalletView
  /** pays `amount` base units to `to` (hex public key); resolves with the transaction's hash once the relay's mempool took it */
  send(toHex: string, amount: bigint): Promise<string>
  /** any transfer: built and signed here, handed to the relay; resolves with its hash, or throws the relay's refusal */
  transact(build: BuildTransfer): Promise<string>
}

export function useWallet(): WalletHandle {
  const [view, setView] = useState<WalletView>({ key: null, persisted: null, balance: null, coins: 0, height: null, sent: [], error: null })
  const keys = useRef<KeyPair | null>(null)

  const refresh = useCallback(async (): Promise<WalletJson | null> => {
    const k = keys.current
    if (k === null) return null
    const w = await getJson<WalletJson>(`/api/wallet?key=${toHex(k.publicKey)}`)
    const b = w.balance
    setView((v) => ({
      ...v, height: w.height, coins: w.coins.length, error: null,
      balance: { total: BigInt(b.total), spendable: BigInt(b.spendable), immature: BigInt(b.immature), locked: BigInt(b.locked) },
    }))
    return w
  }, [])

  useEffect(() => {
    let stopped = false
    let timer: ReturnType<typeof setInterval> | undefined
    loadWalletKey().then(({ keys: k, persisted }) => {
      if (stopped) return
      keys.current = k
      setView((v) => ({ ...v, key: toHex(k.publicKey), persisted }))
      const tick = (): void => { refresh().catch((e: Error) => setView((v) => ({ ...v, error: `wallet: ${e.message}` }))) }
      tick()
      timer = setInterval(tick, POLL_MS)
    }).catch((e: Error) => setView((v) => ({ ...v, error: `wallet key: ${e.message}` })))
    return () => { stopped = true; if (timer) clearInterval(timer) }
  }, [refresh])

  const submit = useCallback(async (build: BuildTransfer): Promise<{ tx: string; fee: bigint }> => {
    const k = keys.current
    if (k === null) throw new Error('the wallet key is not loaded yet')
    const [status, w] = await Promise.all([getJson<{ chain: StatusChain }>('/api/status'), refresh()])
    if (w === null) throw new Error('the wallet key is not loaded yet')
    const tx = await build(new Wallet(k), walletSourceFromJson(w, paramsOf(status.chain)))
    const res = await fetch('/api/tx', { method: 'POST', body: txToBytes(tx) as BodyInit })
    const body = (await res.json()) as { tx?: string; fee?: string; error?: string; code?: string }
    if (!res.ok) throw new Error(`${body.code ?? `HTTP ${res.status}`}: ${body.error ?? ''}`)
    void refresh().catch(() => {})
    return { tx: toHex(txHash(tx)), fee: BigInt(body.fee ?? '0') }
  }, [refresh])

  const transact = useCallback(async (build: BuildTransfer): Promise<string> => (await submit(build)).tx, [submit])

  const send = useCallback(async (to: string, amount: bigint): Promise<string> => {
    if (!/^[0-9a-f]{64}$/.test(to)) throw new Error('the recipient must be a public key: 64 lowercase hex digits')
    const { tx, fee } = await submit((wallet, source) => wallet.send(source, fromHex(to), amount, { exclude: source.pending }))
    setView((v) => ({ ...v, sent: [{ tx, to, amount, fee, at: Date.now() }, ...v.sent].slice(0, 20) }))
    return tx
  }, [submit])

  return { view, send, transact }
}
