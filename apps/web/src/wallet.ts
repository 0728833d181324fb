/**
 * The page's wallet: one Ed25519 key per browser profile, kept in IndexedDB
 * (always, unlike the miner key: see minerKey.ts), which every tab's block
 * rewards pay (TrainerInit.payTo). Its coins come from the relay
 * (GET /api/wallet); transfers are built and signed here by @pouw/ledger's
 * Wallet, exactly as in Node, and handed to the relay (POST /api/tx), which
 * gossips them to the other relays' mempools.
 */
import { useCallback, useEffect, useRef, useState } from 'react'
import { deriveVrfSecretKey, fromHex, generateKeyPair, vrfPublicKey, toHex, txHash, txToBytes, SECRET_KEY_SIZE, type KeyPair, type OutPoint, type TransferTx } from '@pouw/protocol'
import { Wallet, coinFromJson, walletSourceFromJson, type ChainParams, type WalletJson, type WalletSource } from '@pouw/ledger'
import { getJson, postBytes } from './api'

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
  /** BUY_TICKETS stakes this key holds (paper 003 §3.3): what a client task's selection draws from */
  tickets: TicketView[]
  error: string | null
}

export interface TicketView {
  /** "txHash:index" */
  outpoint: string
  txHash: string
  index: number
  amount: bigint
  /** index in SELECTION_ROLES (0: miner) */
  role: number
  preferences: number[]
  /** the block that bought it */
  height: number
  /** the stake comes back from this height on */
  expiry: number
  /** the task (hash) this ticket joined (JOIN_TASK): its stake comes back with the task's charge */
  joined: string | null
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
  tickets?: { price: string | null }
}

function paramsOf(c: StatusChain): ChainParams {
  return {
    networkName: c.network, genesisTime: c.genesisTime, bits: c.bits, subsidy: BigInt(c.subsidy),
    maxFutureSeconds: c.maxFutureSeconds, coinbaseMaturity: c.coinbaseMaturity,
  }
}

/** Builds a signed transfer with the profile's wallet over its coins (send, payForTask, revokeTask, ...). */
export type BuildTransfer = (wallet: Wallet, source: WalletSource & { pending: (o: OutPoint) => boolean }, rules?: TaskRunRules) => Promise<TransferTx>

export interface WalletHandle {
  view: WalletView
  /** pays `amount` base units to `to` (hex public key); resolves with the transaction's hash once the relay's mempool took it */
  send(toHex: string, amount: bigint): Promise<string>
  /** any transfer: built and signed here, handed to the relay; resolves with its hash, or throws the relay's refusal */
  transact(build: BuildTransfer): Promise<string>
  /** BUY_TICKETS: stakes `amount` as a miner ticket valid for `blocks` blocks (the relay's TASK_RUN_RULES give role and preferences) */
  buyTicket(amount: bigint, blocks: number): Promise<string>
  /** the profile's key pair, once loaded: it also proves what a ticket's owner proves (VRF proofs, final models) */
  keys(): KeyPair | null
}

/** GET /api/status `taskRuns`: how this relay runs client tasks (apps/relay taskRuns.ts TASK_RUN_RULES). */
export interface TaskRunRules {
  ticketRole: number; ticketMinPrice: string; ticketMaturity: number; preferences: number[]; joinBlocks: number; trainBlocks: number; chargeBlocks: number
  /** how deep a block must be before the relays trust it not to be reorganised away (they select once the join window is this deep) */
  selectDepth: number
  /** the price a ticket bought now stakes at least (GET /api/status chain.tickets.price: Decred's adjustment moves it) */
  ticketPrice?: string
}

export function useWallet(): WalletHandle {
  const [view, setView] = useState<WalletView>({ key: null, persisted: null, balance: null, coins: 0, height: null, sent: [], tickets: [], error: null })
  const keys = useRef<KeyPair | null>(null)

  const refresh = useCallback(async (): Promise<WalletJson | null> => {
    const k = keys.current
    if (k === null) return null
    const w = await getJson<WalletJson>(`/api/wallet?key=${toHex(k.publicKey)}`)
    const b = w.balance
    const tickets: TicketView[] = []
    for (const c of w.coins.map(coinFromJson)) {
      const lock = c.coin.lock
      if (lock.kind !== 'stake' && lock.kind !== 'joined') continue
      const { role, preferences, expiry } = lock
      const txHash = toHex(c.outpoint.txHash)
      tickets.push({
        outpoint: `${txHash}:${c.outpoint.index}`, txHash, index: c.outpoint.index, amount: c.coin.amount, role, preferences,
        height: lock.kind === 'joined' ? lock.purchaseHeight : c.coin.height, expiry, joined: lock.kind === 'joined' ? toHex(lock.taskHash) : null,
      })
    }
    setView((v) => ({
      ...v, height: w.height, coins: w.coins.length, tickets, error: null,
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
    const [status, w] = await Promise.all([getJson<{ chain: StatusChain; taskRuns?: TaskRunRules }>('/api/status'), refresh()])
    if (w === null) throw new Error('the wallet key is not loaded yet')
    const rules = status.taskRuns === undefined ? undefined : { ...status.taskRuns, ticketPrice: status.chain.tickets?.price ?? undefined }
    const tx = await build(new Wallet(k), walletSourceFromJson(w, paramsOf(status.chain)), rules)
    const body = await postBytes<{ tx?: string; fee?: string }>('/api/tx', txToBytes(tx))
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

  const buyTicket = useCallback(async (amount: bigint, blocks: number): Promise<string> => {
    if (!Number.isInteger(blocks) || blocks < 1 || blocks > 1_000_000) throw new Error('a ticket is valid for a whole number of blocks in [1, 1000000]')
    return (await submit(async (wallet, source, rules) => {
      if (rules === undefined) throw new Error('this relay runs no client tasks (its status has no taskRuns)')
      const price = BigInt(rules.ticketPrice ?? rules.ticketMinPrice)
      if (amount < price) throw new Error(`a miner ticket stakes at least the ticket price, ${formatCoins(price)} coins now`)
      const expiry = source.tip().height + 1 + blocks
      // the ticket's VRF key, derived from the wallet key: fixed now, it proves selection for every task the ticket joins
      const vrf = vrfPublicKey(deriveVrfSecretKey(wallet.keys.secretKey))
      return wallet.buyTickets(source, amount, { role: rules.ticketRole, preferences: rules.preferences, expiry, vrfPublicKey: vrf }, { exclude: source.pending })
    })).tx
  }, [submit])

  const getKeys = useCallback((): KeyPair | null => keys.current, [])

  return { view, send, transact, buyTicket, keys: getKeys }
}
