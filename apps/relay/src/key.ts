import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { toHex } from '@pouw/protocol'
import { relayVerifierKeys } from './relay.js'

/**
 * `npm run relay-key`: prints the verifier key (hex) of the relay whose data directory is DATA_DIR
 * (default .data/relay), making it if the directory has none yet. A testnet of several relays
 * gives every relay the list of these keys (POUW_EVALUATORS) before any of them starts.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
console.log(toHex(relayVerifierKeys(path.resolve(process.env.DATA_DIR ?? path.join(root, '.data/relay'))).publicKey))
