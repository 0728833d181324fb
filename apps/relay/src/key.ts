import path from 'node:path'
import { toHex } from '@pouw/protocol'
import { DEFAULT_DATA_DIR, relayVerifierKeys } from './keys.js'

/**
 * `npm run relay-key`: prints the verifier key (hex) of the relay whose data directory is DATA_DIR
 * (default .data/relay), making it if the directory has none yet. A testnet of several relays
 * gives every relay the list of these keys (POUW_EVALUATORS) before any of them starts.
 */
console.log(toHex(relayVerifierKeys(path.resolve(process.env.DATA_DIR ?? DEFAULT_DATA_DIR)).publicKey))
