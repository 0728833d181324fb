// Run: node --import ./scripts/node-polyfills.mjs --import tsx --test apps/relay/test/p2p.test.ts
// (the relay module also imports the polyfills itself, so plain `node --import tsx --test` works too)
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { noise } from '@libp2p/noise'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import {
  MAX_MESSAGE_BYTES,
  createNodeClientNetwork,
  createRelayNetwork,
  type PubSubNetwork,
} from '@pouw/network/node'

const TOPICS = ['pouw/test/blocks', 'pouw/test/itres']
const [TOPIC, OTHER_TOPIC] = TOPICS as [string, string]
const WAIT_MS = 10_000

async function waitFor(what: string, cond: () => boolean, ms = WAIT_MS): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

interface Received { topic: string; data: Uint8Array; from: string }

/** Resolves with the first message on `net` that matches, or rejects after `ms`. */
function nextMessage(net: PubSubNetwork, match: (m: Received) => boolean, ms = WAIT_MS): Promise<Received> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off()
      reject(new Error(`no matching message on ${net.peerId} within ${ms} ms`))
    }, ms)
    const off = net.onMessage((topic, data, from) => {
      const m = { topic, data, from }
      if (!match(m)) return
      clearTimeout(timer)
      off()
      resolve(m)
    })
  })
}

const sameBytes = (a: Uint8Array) => (m: Received) => Buffer.from(m.data).equals(Buffer.from(a))

function portOf(addr: string): number {
  const port = multiaddr(addr).getComponents().find((c) => c.name === 'tcp')?.value
  assert.ok(port != null, `no tcp port in ${addr}`)
  return Number(port)
}

describe('relay p2p network', () => {
  let relay: PubSubNetwork & { privateKeyBytes: Uint8Array }
  let relayAddr: string
  let a: PubSubNetwork
  let b: PubSubNetwork
  const extra: Array<{ stop(): unknown }> = [] // anything else to stop at the end

  before(async () => {
    relay = await createRelayNetwork({ port: 0, topics: TOPICS })
    relayAddr = relay.addrs().find((x) => x.startsWith('/ip4/127.0.0.1/tcp/') && x.includes('/ws/p2p/'))!
    assert.ok(relayAddr, `no ws address among ${relay.addrs().join(' ')}`)
    ;[a, b] = await Promise.all([
      createNodeClientNetwork({ relayAddr, topics: TOPICS }),
      createNodeClientNetwork({ relayAddr, topics: TOPICS }),
    ])
  })

  after(async () => {
    await Promise.all([a?.stop(), b?.stop(), relay?.stop(), ...extra.map((n) => n.stop())])
  })

  it('listens on /ip4/127.0.0.1/tcp/PORT/ws/p2p/ID', () => {
    assert.match(relayAddr, new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/ws/p2p/${relay.peerId}$`))
    assert.ok(portOf(relayAddr) > 0)
  })

  it('delivers a message from client A to the relay and to client B', async () => {
    const data = new TextEncoder().encode(`hello ${Date.now()}`)
    const atRelay = nextMessage(relay, sameBytes(data))
    const atB = nextMessage(b, sameBytes(data))
    await a.publish(TOPIC, data)
    const [r, m] = await Promise.all([atRelay, atB])
    assert.equal(r.topic, TOPIC)
    assert.equal(r.from, a.peerId)
    assert.equal(m.topic, TOPIC)
    assert.equal(m.from, relay.peerId) // `from` is the forwarding peer, not the author
  })

  it('does not deliver a topic to its publisher, and keeps topics apart', async () => {
    const data = randomBytes(64)
    let echoed = false
    const off = a.onMessage((_t, d) => { if (Buffer.from(d).equals(data)) echoed = true })
    const atB = nextMessage(b, sameBytes(data))
    await a.publish(OTHER_TOPIC, data)
    assert.equal((await atB).topic, OTHER_TOPIC)
    off()
    assert.equal(echoed, false)
  })

  it('delivers a 2 MiB message, and one of MAX_MESSAGE_BYTES (3.75 MiB)', async () => {
    for (const size of [2 * 1024 * 1024, MAX_MESSAGE_BYTES]) {
      const data = randomBytes(size)
      const atRelay = nextMessage(relay, sameBytes(data))
      const atB = nextMessage(b, sameBytes(data))
      await a.publish(TOPIC, data)
      const [r, m] = await Promise.all([atRelay, atB])
      assert.equal(r.data.byteLength, size)
      assert.equal(m.data.byteLength, size)
    }
  })

  it('rejects a message above MAX_MESSAGE_BYTES locally, and ignores duplicates', async () => {
    await assert.rejects(a.publish(TOPIC, new Uint8Array(MAX_MESSAGE_BYTES + 1)), RangeError)
    const data = randomBytes(32)
    await a.publish(TOPIC, data)
    await a.publish(TOPIC, data) // same id (sha256 of the data): a no-op, not an error
  })

  it('publishing with no peers at all does not throw', async () => {
    const lonely = await createRelayNetwork({ port: 0, topics: ['pouw/test/none'] })
    extra.push(lonely)
    await lonely.publish('pouw/test/none', randomBytes(16))
    await lonely.publish('pouw/test/not-subscribed', randomBytes(16))
  })

  it('reports the links in connections()', () => {
    const toRelay = a.connections().filter((c) => c.peerId === relay.peerId)
    assert.equal(toRelay.length, 1)
    assert.equal(toRelay[0]!.transport, 'websockets')
    assert.equal(toRelay[0]!.direct, true)
    assert.match(toRelay[0]!.addr, /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/ws/)
    const atRelay = relay.connections()
    for (const client of [a, b]) {
      const c = atRelay.find((x) => x.peerId === client.peerId)
      assert.ok(c, `relay has no connection to ${client.peerId}`)
      assert.equal(c.transport, 'websockets')
      assert.equal(c.direct, true)
    }
  })

  it('survives garbage: throwing handlers, random payloads, raw bytes, a junk gossipsub stream', async () => {
    // 1. handlers that throw (sync and async) on random application payloads: logged, not fatal
    const offs = [
      relay.onMessage(() => { throw new Error('test: handler throws') }),
      relay.onMessage(async () => { throw new Error('test: async handler rejects') }),
    ]
    const consoleError = console.error
    let logged = 0
    console.error = (...args: unknown[]) => { if (String(args[0]).includes('message handler')) logged++; else consoleError(...args) }
    try {
      for (let i = 0; i < 20; i++) await a.publish(TOPIC, randomBytes(1 + Math.floor(Math.random() * 4096)))
      await waitFor('handler errors to be logged', () => logged >= 40) // >=: a message from an earlier test may still arrive
    } finally {
      console.error = consoleError
      for (const off of offs) off()
    }

    // 2. raw bytes on the websocket port (no noise handshake)
    const ws = new WebSocket(`ws://127.0.0.1:${portOf(relayAddr)}`)
    await new Promise((resolve, reject) => {
      ws.addEventListener('open', resolve, { once: true })
      ws.addEventListener('error', reject, { once: true })
    })
    ws.send(randomBytes(10_000))
    ws.send('not even binary')
    ws.close()

    // 3. a real libp2p peer that opens a gossipsub stream and writes junk RPCs
    const rogue = await createLibp2p({
      transports: [webSockets()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionGater: { denyDialMultiaddr: () => false },
    })
    extra.push(rogue)
    const stream = await rogue.dialProtocol(multiaddr(relayAddr), '/meshsub/1.1.0')
    stream.send(Uint8Array.from([0x05, 1, 2, 3, 4, 5])) // length 5, junk protobuf
    stream.send(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f])) // claims a ~4 GiB frame
    stream.send(randomBytes(4096))
    await new Promise((resolve) => setTimeout(resolve, 300))
    await rogue.stop()

    // the relay still works
    const data = randomBytes(100)
    const atRelay = nextMessage(relay, sameBytes(data))
    const atB = nextMessage(b, sameBytes(data))
    await a.publish(TOPIC, data)
    await Promise.all([atRelay, atB])
  })

  it('a relay restarted with the same key keeps its peer id, and clients reconnect by themselves', async () => {
    const port = portOf(relayAddr)
    const oldId = relay.peerId
    let changes = 0
    const off = a.onConnectionChange(() => { changes++ })
    await relay.stop()
    await waitFor('clients to notice the relay is gone', () =>
      a.connections().every((c) => c.peerId !== oldId) && b.connections().every((c) => c.peerId !== oldId))

    relay = await createRelayNetwork({ port, privateKey: relay.privateKeyBytes, topics: TOPICS })
    assert.equal(relay.peerId, oldId)
    assert.ok(relay.addrs().includes(relayAddr), `${relayAddr} not among ${relay.addrs().join(' ')}`)

    // the clients' redial loops (every <= 2 s) bring the links back; wait until messages flow again
    await waitFor('clients to reconnect', () =>
      a.connections().some((c) => c.peerId === oldId) && b.connections().some((c) => c.peerId === oldId))
    const deadline = Date.now() + WAIT_MS
    for (let delivered = false; !delivered;) {
      assert.ok(Date.now() < deadline, 'no message delivered through the restarted relay')
      const data = randomBytes(32)
      const atB = nextMessage(b, sameBytes(data), 500).then(() => true, () => false)
      await a.publish(TOPIC, data)
      delivered = await atB
    }
    off()
    assert.ok(changes >= 2, `expected close and open events, got ${changes}`)
  })

  it('a WebRTC client holds a reservation, and makes a new one when its relay restarts', async () => {
    const w = await createNodeClientNetwork({ relayAddr, topics: TOPICS, webrtc: true })
    extra.push(w)
    const reserved = (): boolean => w.addrs().includes(`${relayAddr}/p2p-circuit/webrtc/p2p/${w.peerId}`)
    await waitFor('a reservation on the relay', reserved)
    assert.deepEqual(w.stats().reservedOn, [relay.peerId])
    const port = portOf(relayAddr)
    await relay.stop()
    await waitFor('the reservation to go with the relay', () => !reserved())
    relay = await createRelayNetwork({ port, privateKey: relay.privateKeyBytes, topics: TOPICS })
    await waitFor('a new reservation on the restarted relay', reserved)
    assert.equal(w.stats().reservations, 2)
  })

  it('a restarted relay without a key gets a new identity; a key round-trips', async () => {
    const fresh = await createRelayNetwork({ port: 0, topics: TOPICS })
    extra.push(fresh)
    assert.notEqual(fresh.peerId, relay.peerId)
    const again = await createRelayNetwork({ port: 0, privateKey: fresh.privateKeyBytes, topics: TOPICS })
    extra.push(again)
    assert.equal(again.peerId, fresh.peerId)
    assert.deepEqual(again.privateKeyBytes, fresh.privateKeyBytes)
  })

  it('createNodeClientNetwork fails clearly when no relay answers', async () => {
    const dead = relayAddr.replace(/\/tcp\/\d+\//, '/tcp/1/')
    await assert.rejects(createNodeClientNetwork({ relayAddr: dead, topics: TOPICS, timeoutMs: 1_500 }), /could not connect to the relay/)
    await assert.rejects(createNodeClientNetwork({ relayAddr: '/ip4/127.0.0.1/tcp/1/ws', topics: TOPICS }), /\/p2p\//)
  })
})
