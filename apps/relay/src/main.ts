import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRelay } from './relay.js'

/**
 * `npm start`: one relay of the local testnet, serving the page.
 * Environment: PORT (HTTP, default 8080), P2P_PORT (libp2p websockets,
 * default PORT + 1), DATA_DIR (default .data/relay), POUW_DIFFICULTY (about
 * this many header hashes per block, default 20000), HOST (default 127.0.0.1).
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
const port = Number(process.env.PORT ?? 8080)
const relay = await createRelay({
  host: process.env.HOST ?? '127.0.0.1',
  httpPort: port,
  p2pPort: Number(process.env.P2P_PORT ?? port + 1),
  dataDir: path.resolve(process.env.DATA_DIR ?? path.join(root, '.data/relay')),
  difficulty: BigInt(process.env.POUW_DIFFICULTY ?? 20000),
  webDir: path.join(root, 'apps/web/dist'),
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
