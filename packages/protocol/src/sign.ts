import { ed25519 } from '@noble/curves/ed25519.js'
import { concatBytes, toHex } from './bytes.js'

/**
 * Signatures: Ed25519 (RFC 8032), 32-byte public keys, 64-byte signatures.
 * Signing uses @noble/curves (deterministic, same bytes as WebCrypto).
 * Verification uses native WebCrypto where the platform has Ed25519 (Node,
 * Chromium), about ten times faster than noble, with noble as the fallback
 * and the reference the tests compare against. noble runs with
 * zip215: false so that both follow the strict RFC 8032 / FIPS 186-5 rules.
 */
export const PUBLIC_KEY_SIZE = 32
export const SECRET_KEY_SIZE = 32
export const SIGNATURE_SIZE = 64

export interface KeyPair { secretKey: Uint8Array; publicKey: Uint8Array }

export function generateKeyPair(seed?: Uint8Array): KeyPair {
  const secretKey = seed ?? ed25519.utils.randomSecretKey()
  return { secretKey, publicKey: ed25519.getPublicKey(secretKey) }
}

export function sign(secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  return ed25519.sign(message, secretKey)
}

interface SubtleSign {
  importKey(format: 'pkcs8', key: Uint8Array, alg: { name: string }, extractable: boolean, usages: string[]): Promise<unknown>
  sign(alg: { name: string }, key: unknown, data: Uint8Array): Promise<ArrayBuffer>
}
/** RFC 8410 PKCS#8 prefix for a raw 32-byte Ed25519 seed */
const PKCS8_ED25519_PREFIX = new Uint8Array([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20])
const signKeyCache = new Map<string, Promise<unknown>>()
let nativeSign: 'unknown' | 'yes' | 'no' = 'unknown'

/**
 * Same bytes as sign() (Ed25519 signatures are deterministic), through native
 * WebCrypto where available: the miner signs one IT_RES per iteration.
 */
export async function signAsync(secretKey: Uint8Array, message: Uint8Array): Promise<Uint8Array> {
  const s = (globalThis as { crypto?: { subtle?: SubtleSign } }).crypto?.subtle
  if (s !== undefined && nativeSign !== 'no') {
    try {
      const id = toHex(secretKey)
      let key = signKeyCache.get(id)
      if (key === undefined) {
        if (signKeyCache.size > 16) signKeyCache.clear()
        key = s.importKey('pkcs8', concatBytes(PKCS8_ED25519_PREFIX, secretKey), { name: 'Ed25519' }, false, ['sign'])
        signKeyCache.set(id, key)
      }
      const sig = new Uint8Array(await s.sign({ name: 'Ed25519' }, await key, message))
      nativeSign = 'yes'
      return sig
    } catch {
      nativeSign = 'no'
    }
  }
  return sign(secretKey, message)
}

/** Reference verification (noble, synchronous). Never throws: malformed input is `false`. */
export function verifyReference(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== PUBLIC_KEY_SIZE || signature.length !== SIGNATURE_SIZE) return false
  try {
    return ed25519.verify(signature, message, publicKey, { zip215: false })
  } catch {
    return false
  }
}

interface SubtleEd {
  importKey(format: 'raw', key: Uint8Array, alg: { name: string }, extractable: boolean, usages: string[]): Promise<unknown>
  verify(alg: { name: string }, key: unknown, signature: Uint8Array, data: Uint8Array): Promise<boolean>
}

let nativeState: 'unknown' | 'yes' | 'no' = 'unknown'
const keyCache = new Map<string, Promise<unknown>>()
const KEY_CACHE_MAX = 4096

function subtle(): SubtleEd | undefined {
  return (globalThis as { crypto?: { subtle?: SubtleEd } }).crypto?.subtle
}

/**
 * The key rules noble applies (zip215: false) and OpenSSL / BoringSSL do not:
 * a canonical encoding (y < p, no sign bit on x = 0) of a point that is not of
 * small order. Without this check WebCrypto accepts, for instance, any
 * (R = [S]B, S) for any message under the identity key 01 00..00.
 */
function strictPublicKey(publicKey: Uint8Array): boolean {
  try {
    return !ed25519.Point.fromBytes(publicKey, false).isSmallOrder()
  } catch {
    return false
  }
}

async function nativeVerify(s: SubtleEd, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  const id = toHex(publicKey)
  let key = keyCache.get(id)
  if (key === undefined) {
    if (keyCache.size >= KEY_CACHE_MAX) keyCache.clear()
    key = strictPublicKey(publicKey) ? s.importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify']) : Promise.resolve(null)
    keyCache.set(id, key)
  }
  const k = await key
  if (k === null) return false
  return s.verify({ name: 'Ed25519' }, k, signature, message)
}

/** Verification through WebCrypto when available, noble otherwise. Never throws. */
export async function verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  if (publicKey.length !== PUBLIC_KEY_SIZE || signature.length !== SIGNATURE_SIZE) return false
  const s = subtle()
  if (s !== undefined && nativeState !== 'no') {
    try {
      const ok = await nativeVerify(s, publicKey, message, signature)
      nativeState = 'yes'
      // WebCrypto checks the cofactorless equation, noble the cofactored one:
      // they differ when R or A has a small-order component. A native `true`
      // (with a strict key) implies the reference's; a native `false` is
      // settled by the reference, so every platform gives the same answer.
      return ok || verifyReference(publicKey, message, signature)
    } catch (e) {
      // A key WebCrypto refuses to import (not a valid point) is simply invalid;
      // a platform without Ed25519 (NotSupportedError) falls back to noble.
      if ((e as { name?: string }).name === 'NotSupportedError' && nativeState === 'unknown') nativeState = 'no'
      else if (nativeState === 'yes') return false
    }
  }
  return verifyReference(publicKey, message, signature)
}

export function nativeVerifyInUse(): boolean { return nativeState === 'yes' }

