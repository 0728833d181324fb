// Run: node --import ./scripts/node-polyfills.mjs --import tsx --test apps/relay/test/mesh.test.ts
// Three relays in one process on 127.0.0.1, configured as a line (A -> B <- C): they learn of each
// other from announcements and close the mesh; a client on A reaches a client on C; when B stops,
// its client fails over and gossip goes around B; two WebRTC clients on different relays link
// directly and gossip over that link.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { ANNOUNCE_TOPIC, announcementToBytes, createNodeClientNetwork, createRelayNetwork, type PubSubNetwork } from '@pouw/network/node'

const TOPICS = ['pouw/test/blocks', 'pouw/test/itres']
const [TOPIC] = TOPICS as [string]
/** subscribed by clients only: the relays do not forward it, so it can only travel client to client */
const DIRECT_TOPIC = 'pouw/test/direct'
const WAIT_MS = 20_000

type Relay = PubSubNetwork & { privateKeyBytes: Uint8Array }

async function waitFor(what: string, cond: () => boolean, ms = WAIT_MS): Promise<number> {
  const started = Date.now()
  while (!cond()) {
    if (Date.now() - started > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return Date.now() - started
}

interface Received { topic: string; data: Uint8Array; from: string }

function nextMessage(net: PubSubNetwork, data: Uint8Array, ms = WAIT_MS): Promise<Received> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off()
      reject(new Error(`no matching message on ${net.peerId} within ${ms} ms`))
    }, ms)
    const off = net.onMessage((topic, d, from) => {
      if (!Buffer.from(d).equals(Buffer.from(data))) return
      clearTimeout(timer)
      off()
      resolve({ topic, data: d, from })
    })
  })
}

/** Publishes fresh messages until one reaches every receiver (gossip meshes take a heartbeat or two to re-form). */
async function deliver(from: PubSubNetwork, to: PubSubNetwork[], topic = TOPIC): Promise<Received[]> {
  const deadline = Date.now() + WAIT_MS
  for (;;) {
    const data = randomBytes(48)
    const got = to.map((n) => nextMessage(n, data, 1_000))
    await from.publish(topic, data)
    const results = await Promise.allSettled(got)
    if (results.every((r) => r.status === 'fulfilled')) return results.map((r) => (r as PromiseFulfilledResult<Received>).value)
    assert.ok(Date.now() < deadline, `no message from ${from.peerId} reached all of ${to.map((n) => n.peerId).join(', ')}`)
  }
}

const wsAddr = (n: PubSubNetwork): string => n.addrs().find((a) => a.includes('/ws/p2p/'))!
const linked = (a: PubSubNetwork, b: PubSubNetwork, transport: string): boolean =>
  a.connections().some((c) => c.peerId === b.peerId && c.transport === transport)
const relayOf = (client: PubSubNetwork): string[] => client.connections().filter((c) => c.relay && c.transport === 'websockets').map((c) => c.peerId)

describe('relay mesh', () => {
  let a: Relay
  let b: Relay
  let c: Relay
  const clients: PubSubNetwork[] = []

  before(async () => {
    b = await createRelayNetwork({ port: 0, topics: TOPICS, url: 'http://127.0.0.1:2/' })
    ;[a, c] = await Promise.all([
      createRelayNetwork({ port: 0, topics: TOPICS, peers: [wsAddr(b)], url: 'http://127.0.0.1:1/' }),
      createRelayNetwork({ port: 0, topics: TOPICS, peers: [wsAddr(b)], url: 'http://127.0.0.1:3/' }),
    ])
  })

  after(async () => {
    await Promise.all(clients.map((n) => n.stop()))
    await Promise.all([a?.stop(), b?.stop(), c?.stop()])
  })

  it('relays configured as a line learn of each other and connect as a full mesh', async () => {
    const all = [a, b, c]
    const ms = await waitFor('every relay to know the other two, and A and C to connect', () =>
      all.every((r) => r.relays().length === 3) && linked(a, c, 'websockets') && linked(c, a, 'websockets'))
    for (const r of all) {
      const relays = r.relays()
      assert.equal(relays[0]!.peerId, r.peerId, 'a relay lists itself first')
      assert.deepEqual(new Set(relays.map((x) => x.peerId)), new Set(all.map((x) => x.peerId)))
      for (const other of all) {
        const info = relays.find((x) => x.peerId === other.peerId)!
        assert.deepEqual(info.addrs, [wsAddr(other)])
      }
    }
    await waitFor('URLs to spread', () => a.relays().find((x) => x.peerId === c.peerId)?.url === 'http://127.0.0.1:3/')
    console.log(`mesh: A and C connected ${ms} ms after start, through announcements relayed by B`)
  })

  it('a message published by a client on A reaches a client on C (and one on B)', async () => {
    const [ca, cb, cc] = await Promise.all([
      createNodeClientNetwork({ relayAddr: wsAddr(a), topics: TOPICS }),
      createNodeClientNetwork({ relayAddr: wsAddr(b), relayAddrs: [wsAddr(a), wsAddr(c)], topics: TOPICS }),
      createNodeClientNetwork({ relayAddr: wsAddr(c), topics: TOPICS }),
    ])
    clients.push(ca!, cb!, cc!)
    assert.deepEqual(relayOf(cb!), [b.peerId])
    const [atB, atC] = await deliver(ca!, [cb!, cc!])
    assert.equal(atB!.from, b.peerId)
    assert.equal(atC!.from, c.peerId)
    await deliver(cc!, [ca!, cb!])
  })

  it('a client that announces itself as a relay is not believed', async () => {
    const [ca, , cc] = clients as [PubSubNetwork, PubSubNetwork, PubSubNetwork]
    const fake = announcementToBytes({ kind: 'relay', peerId: ca.peerId, addrs: [`/ip4/127.0.0.1/tcp/9/ws/p2p/${ca.peerId}`], url: 'http://127.0.0.1:9/', time: Date.now() })
    await ca.publish(ANNOUNCE_TOPIC, fake)
    // a message sent after it on the same path arrives: the fake announcement had time to arrive too
    await deliver(ca, [cc])
    await new Promise((resolve) => setTimeout(resolve, 500))
    for (const n of [a, b, c, cc]) assert.ok(n.relays().every((r) => r.peerId !== ca.peerId), `${n.peerId} believed the fake relay`)
  })

  it('when relay B stops, its client fails over to another relay and gossip goes around B', async () => {
    const [ca, cb, cc] = clients as [PubSubNetwork, PubSubNetwork, PubSubNetwork]
    const stopped = Date.now()
    await b.stop()
    const failoverMs = await waitFor('the client of B to connect to A or C', () => {
      const r = relayOf(cb)
      return r.length > 0 && !r.includes(b.peerId)
    })
    // every route A -> C now avoids B; the client of B hears both sides again
    await deliver(ca, [cc, cb])
    await deliver(cc, [ca, cb])
    await deliver(cb, [ca, cc])
    console.log(`mesh: B's client linked to another relay ${failoverMs} ms after B stopped; gossip flowing again after ${Date.now() - stopped} ms`)
  })

  it('two WebRTC clients on different relays link directly and gossip over that link only', async () => {
    const started = Date.now()
    const [wa, wc] = await Promise.all([
      createNodeClientNetwork({ relayAddr: wsAddr(a), topics: [...TOPICS, DIRECT_TOPIC], relayTopics: TOPICS, webrtc: true }),
      createNodeClientNetwork({ relayAddr: wsAddr(c), topics: [...TOPICS, DIRECT_TOPIC], relayTopics: TOPICS, webrtc: true }),
    ])
    clients.push(wa!, wc!)
    await waitFor('a WebRTC link between the two clients', () => linked(wa!, wc!, 'webrtc') && linked(wc!, wa!, 'webrtc'), 45_000)
    const linkMs = Date.now() - started
    // the relays do not subscribe to DIRECT_TOPIC, so this can only have come over the WebRTC link
    const [m] = await deliver(wa!, [wc!], DIRECT_TOPIC)
    assert.equal(m!.from, wa!.peerId)
    const [back] = await deliver(wc!, [wa!], DIRECT_TOPIC)
    assert.equal(back!.from, wc!.peerId)
    for (const n of [wa!, wc!]) {
      assert.ok(n.addrs().some((x) => x.includes('/p2p-circuit/webrtc/p2p/')), `${n.peerId} has no WebRTC address: ${n.addrs().join(' ')}`)
    }
    const s = [wa!.stats(), wc!.stats()]
    const dials = s.reduce((acc, x) => ({ attempts: acc.attempts + x.dials.attempts, ok: acc.ok + x.dials.ok }), { attempts: 0, ok: 0 })
    console.log(`mesh: WebRTC link ${linkMs} ms after the clients started; dials ${dials.ok}/${dials.attempts} ok (${s.map((x) => x.dials.lastError).filter(Boolean).join('; ') || 'no errors'})`)
  })
})
