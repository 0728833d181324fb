// WebRTC dial figures between Node clients (node-datachannel) through two meshed relays on 127.0.0.1.
// Run: node --import ./scripts/node-polyfills.mjs --import tsx bench/webrtc_dials.ts
// Env: CLIENTS (default 4), ROUNDS (default 3). Each round starts CLIENTS clients spread over the
// two relays, waits until every pair has a direct WebRTC link (or 60 s), and stops them.
// Prints per round: dial attempts, successes, timeouts, other failures, time to the first direct
// link and to the full mesh of links. Compare `node scripts/patch-webrtc.mjs --revert` with the patch.
import { createNodeClientNetwork, createRelayNetwork, type PubSubNetwork } from '@pouw/network/node'

const CLIENTS = Number(process.env.CLIENTS ?? 4)
const ROUNDS = Number(process.env.ROUNDS ?? 3)
const MESH_TIMEOUT_MS = 60_000
const TOPICS = ['pouw/bench/t']

const wsAddr = (n: PubSubNetwork): string => n.addrs().find((a) => a.includes('/ws/p2p/'))!
const linkedPairs = (clients: PubSubNetwork[]): number => {
  let n = 0
  for (let i = 0; i < clients.length; i++) {
    for (let j = i + 1; j < clients.length; j++) {
      if (clients[i]!.connections().some((c) => c.peerId === clients[j]!.peerId && c.transport === 'webrtc')) n++
    }
  }
  return n
}

const relayA = await createRelayNetwork({ port: 0, topics: TOPICS })
const relayB = await createRelayNetwork({ port: 0, topics: TOPICS, peers: [wsAddr(relayA)] })
const total = { attempts: 0, ok: 0, timedOut: 0, failed: 0 }
const errors = new Map<string, number>()
for (let round = 1; round <= ROUNDS; round++) {
  const started = Date.now()
  const clients = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => {
    const [home, other] = i % 2 === 0 ? [relayA, relayB] : [relayB, relayA]
    return createNodeClientNetwork({ relayAddr: wsAddr(home), relayAddrs: [wsAddr(other)], topics: TOPICS, webrtc: true })
  }))
  const pairs = (CLIENTS * (CLIENTS - 1)) / 2
  while (linkedPairs(clients) < pairs && Date.now() - started < MESH_TIMEOUT_MS) await new Promise((r) => setTimeout(r, 50))
  const meshMs = Date.now() - started
  const stats = clients.map((c) => c.stats())
  const r = { attempts: 0, ok: 0, timedOut: 0, failed: 0 }
  for (const s of stats) {
    for (const k of Object.keys(r) as (keyof typeof r)[]) r[k] += s.dials[k]
    if (s.dials.lastError) errors.set(s.dials.lastError, (errors.get(s.dials.lastError) ?? 0) + 1)
  }
  for (const k of Object.keys(r) as (keyof typeof r)[]) total[k] += r[k]
  const first = Math.min(...stats.map((s) => s.firstDirectAt ?? Infinity)) - started
  const dialMs = stats.flatMap((s) => s.dialMs).sort((x, y) => x - y)
  console.log(`round ${round}: ${linkedPairs(clients)}/${pairs} pairs linked in ${meshMs} ms; first link ${first} ms; ` +
    `dials ${r.ok}/${r.attempts} ok, ${r.timedOut} timed out, ${r.failed} failed; dial ms median ${dialMs[dialMs.length >> 1]} max ${dialMs.at(-1)}`)
  await Promise.all(clients.map((c) => c.stop()))
}
console.log(`total: dials ${total.ok}/${total.attempts} ok (${((100 * total.ok) / Math.max(1, total.attempts)).toFixed(1)}%), ${total.timedOut} timed out, ${total.failed} failed`)
for (const [e, n] of errors) console.log(`  last error x${n}: ${e}`)
await Promise.all([relayA.stop(), relayB.stop()])
process.exit(0)
