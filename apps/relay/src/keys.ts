import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateKeyPair, type KeyPair } from '@pouw/protocol'

/** A relay's data directory when DATA_DIR is not set: .data/relay in the repository. */
export const DEFAULT_DATA_DIR = path.join(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..'), '.data/relay')

/**
 * The relay's Ed25519 verifier key (signs verdicts, reveals, DKG and history messages, approvals),
 * kept in DATA_DIR/verifier.key and made, with the directory, on first use (`npm run relay-key` prints it).
 */
export function relayVerifierKeys(dataDir: string): KeyPair {
  mkdirSync(dataDir, { recursive: true })
  const file = path.join(dataDir, 'verifier.key')
  if (existsSync(file)) return generateKeyPair(new Uint8Array(readFileSync(file)))
  const keys = generateKeyPair()
  writeFileSync(file, keys.secretKey, { mode: 0o600 })
  return keys
}
