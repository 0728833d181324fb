/// <reference lib="webworker" />
/**
 * The tab's miner key (Ed25519), kept in IndexedDB so that a reload keeps
 * the identity, and so the epoch membership the supervisors granted it.
 *
 * Tabs of one browser profile share IndexedDB, and two tabs with one key
 * would sign two different IT_RES for one iteration (equivocation). So keys
 * live in slots, and a tab holds its slot through a Web Lock for as long as
 * its worker lives: the first tab gets slot 0's key, a second tab slot 1's,
 * and a reload gets its old slot back once the old worker is gone. Without
 * IndexedDB or Web Locks the key lives only as long as the tab.
 *
 * Opt-in (`?key=keep`) for now: see TrainerInit.persistKey for why.
 */
import { SECRET_KEY_SIZE, generateKeyPair, type KeyPair } from '@pouw/protocol'

const DB_NAME = 'pouw'
const DB_VERSION = 1
const STORE = 'minerKeys'
const SLOTS = 32
const LOCK_PREFIX = 'pouw-miner-key-'

export interface MinerKey { keys: KeyPair; persisted: boolean; slot: number | null }

/** Holds the lock `name` until the worker ends; false if another tab holds it. */
function claim(name: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    navigator.locks.request(name, { ifAvailable: true }, (lock) => {
      if (lock === null) { resolve(false); return undefined }
      resolve(true)
      return new Promise<never>(() => {})
    }).catch(reject)
  })
}

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result)
    r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'))
  })
}

function openDb(): Promise<IDBDatabase> {
  const r = indexedDB.open(DB_NAME, DB_VERSION)
  r.onupgradeneeded = () => { if (!r.result.objectStoreNames.contains(STORE)) r.result.createObjectStore(STORE) }
  return request(r)
}

async function slotKey(db: IDBDatabase, slot: number): Promise<KeyPair> {
  const stored: unknown = await request(db.transaction(STORE, 'readonly').objectStore(STORE).get(slot))
  const secret = (stored as { secretKey?: unknown } | undefined)?.secretKey
  if (secret instanceof Uint8Array && secret.length === SECRET_KEY_SIZE) return generateKeyPair(secret)
  const keys = generateKeyPair()
  const tx = db.transaction(STORE, 'readwrite')
  tx.objectStore(STORE).put({ secretKey: keys.secretKey, created: Date.now() }, slot)
  await new Promise<void>((resolve, reject) => {
    tx.oncomplete = () => resolve()
    tx.onerror = () => reject(tx.error ?? new Error('IndexedDB write failed'))
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB write aborted'))
  })
  return keys
}

/** The key of the first free slot, or a fresh one that is not kept (persist false, or no storage). */
export async function loadMinerKey(persist: boolean): Promise<MinerKey> {
  const ephemeral = (): MinerKey => ({ keys: generateKeyPair(), persisted: false, slot: null })
  if (!persist || typeof indexedDB === 'undefined' || !navigator.locks) return ephemeral()
  try {
    for (let slot = 0; slot < SLOTS; slot++) {
      if (!(await claim(`${LOCK_PREFIX}${slot}`))) continue
      const db = await openDb()
      try {
        return { keys: await slotKey(db, slot), persisted: true, slot }
      } finally {
        db.close()
      }
    }
  } catch (e) {
    console.warn('miner key: IndexedDB unavailable, using a key for this tab only', { error: (e as Error).message })
  }
  return ephemeral()
}
