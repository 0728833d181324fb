import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRelay } from './relay.js'
import { DEFAULT_DATA_DIR } from './keys.js'

/**
 * `npm start`: one relay of the local testnet, serving the page.
 * Environment: PORT (HTTP, default 8080), P2P_PORT (libp2p websockets,
 * default PORT + 1), DATA_DIR (default .data/relay), POUW_DIFFICULTY (about
 * this many header hashes per block at genesis and at the easiest, default 20000), POUW_BLOCK_SECONDS
 * (the block time difficulty adjustment holds, default 30), HOST (default 127.0.0.1), POUW_PEERS
 * (other relays' libp2p multiaddrs, comma-separated, each ending in /p2p/<peer id>: the relays
 * keep connected to each other and form one gossip mesh; they also learn of each other at runtime),
 * POUW_SUPERVISORS (the supervisor committee's size: the testnet's relay count, default 1),
 * POUW_MIN_MINERS (epoch 0 starts once this many miners joined, default 1), POUW_JOIN_GRACE_MS
 * (and this long after, default 3000), POUW_EPOCHS (the built-in task's stopping rule, default 20)
 * POUW_VERIFIERS (verifiers chosen per block from the committee, default 10) and
 * POUW_COINBASE_MATURITY (blocks before a block reward may be spent, default 10) and POUW_EVALUATORS
 * (the evaluators' keys, comma-separated hex: the relays' verifier keys, the same list on every relay;
 * default this relay's own key, see /api/status relay.verifier).
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
const port = Number(process.env.PORT ?? 8080)
const relay = await createRelay({
  host: process.env.HOST ?? '127.0.0.1',
  httpPort: port,
  p2pPort: Number(process.env.P2P_PORT ?? port + 1),
  dataDir: path.resolve(process.env.DATA_DIR ?? DEFAULT_DATA_DIR),
  difficulty: BigInt(process.env.POUW_DIFFICULTY ?? 20000),
  blockSeconds: process.env.POUW_BLOCK_SECONDS !== undefined ? Number(process.env.POUW_BLOCK_SECONDS) : undefined,
  webDir: path.join(root, 'apps/web/dist'),
  peers: (process.env.POUW_PEERS ?? '').split(',').map((a) => a.trim()).filter((a) => a !== ''),
  supervisors: Number(process.env.POUW_SUPERVISORS ?? 1),
  minMiners: Number(process.env.POUW_MIN_MINERS ?? 1),
  joinGraceMs: Number(process.env.POUW_JOIN_GRACE_MS ?? 3000),
  epochs: Number(process.env.POUW_EPOCHS ?? 20),
  verifiersPerBlock: process.env.POUW_VERIFIERS !== undefined ? Number(process.env.POUW_VERIFIERS) : undefined,
  coinbaseMaturity: process.env.POUW_COINBASE_MATURITY !== undefined ? Number(process.env.POUW_COINBASE_MATURITY) : undefined,
  evaluators: process.env.POUW_EVALUATORS !== undefined ? process.env.POUW_EVALUATORS.split(',').map((k) => k.trim()).filter((k) => k !== '') : undefined,
})
console.log(`pouw relay ready: ${relay.url}`)

let stopping = false
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (stopping) return
    stopping = true
    relay.stop().then(() => process.exit(0), () => process.exit(1))
  })
}
