// Run: node --import tsx --test packages/network/test/announcement.test.ts
// Announcements are untrusted gossip: a decoder that accepts only well-formed ones, and throws
// only NetworkError (NETWORK_BAD_ANNOUNCEMENT) for anything else.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import {
  MAX_ANNOUNCEMENT_BYTES, announcementFromBytes, announcementToBytes, isNetworkError, relayIdOf, transportOf, type Announcement,
} from '../src/index.js'
import { multiaddr } from '@multiformats/multiaddr'

const newId = async (): Promise<string> => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
const relayId = await newId()
const tabId = await newId()
const RELAY_ADDR = `/ip4/127.0.0.1/tcp/4001/ws/p2p/${relayId}`
const TAB_ADDR = `${RELAY_ADDR}/p2p-circuit/webrtc/p2p/${tabId}`

const relay: Announcement = { kind: 'relay', peerId: relayId, addrs: [RELAY_ADDR], url: 'http://127.0.0.1:8080/', time: 1_763_769_600_000 }
const peer: Announcement = { kind: 'peer', peerId: tabId, addrs: [TAB_ADDR], url: null, time: 1_763_769_600_001 }

const enc = (o: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(o))

function rejects(bytes: Uint8Array, why: RegExp): void {
  assert.throws(() => announcementFromBytes(bytes), (e: unknown) => isNetworkError(e) && e.code === 'NETWORK_BAD_ANNOUNCEMENT' && why.test(e.message))
}

describe('announcements', () => {
  it('round-trip, relay and peer', () => {
    assert.deepEqual(announcementFromBytes(announcementToBytes(relay)), relay)
    assert.deepEqual(announcementFromBytes(announcementToBytes(peer)), peer)
  })

  it('refuse what does not fit the kind, the peer id or the limits', () => {
    rejects(enc({ v: 2, ...relay }), /version/)
    rejects(enc({ v: 1, ...relay, kind: 'tab' }), /kind/)
    rejects(enc({ v: 1, ...relay, peerId: 'not-a-peer-id' }), /not a peer id/)
    rejects(enc({ v: 1, ...relay, addrs: [TAB_ADDR] }), /does not end in/)
    rejects(enc({ v: 1, ...peer, addrs: [RELAY_ADDR.replace(relayId, tabId)] }), /not a WebRTC/)
    rejects(enc({ v: 1, ...relay, addrs: [`/ip4/127.0.0.1/tcp/1/p2p/${relayId}`] }), /not a websocket/)
    rejects(enc({ v: 1, ...relay, addrs: ['/garbage'] }), /not a multiaddr/)
    rejects(enc({ v: 1, ...relay, addrs: Array(17).fill(RELAY_ADDR) }), /at most 16/)
    rejects(enc({ v: 1, ...relay, url: 'javascript:alert(1)' }), /url/)
    rejects(enc({ v: 1, ...peer, url: 'http://127.0.0.1/' }), /only a relay/)
    rejects(enc({ v: 1, ...relay, time: 'now' }), /time/)
    rejects(enc([relay]), /object/)
    rejects(new Uint8Array([0xff, 0xfe, 0x00]), /UTF-8 JSON/)
    rejects(new Uint8Array(MAX_ANNOUNCEMENT_BYTES + 1), /at most/)
    assert.throws(() => announcementToBytes({ ...relay, url: `http://x/${'a'.repeat(MAX_ANNOUNCEMENT_BYTES)}` }), RangeError)
  })

  it('throw only NetworkError on random and mutated bytes', () => {
    const good = announcementToBytes(peer)
    for (let i = 0; i < 500; i++) {
      const bytes = i % 2 === 0 ? randomBytes(1 + (i % 300)) : Uint8Array.from(good, (b, j) => (j === i % good.length ? b ^ (1 + (i % 255)) : b))
      try {
        announcementFromBytes(bytes)
      } catch (e) {
        assert.ok(isNetworkError(e), `not a NetworkError: ${String(e)}`)
      }
    }
  })

  it('address helpers: the relay in a circuit address, the transport of a connection address', () => {
    assert.equal(relayIdOf(multiaddr(TAB_ADDR)), relayId)
    assert.equal(relayIdOf(multiaddr(RELAY_ADDR)), undefined)
    assert.equal(transportOf(multiaddr(TAB_ADDR)), 'webrtc')
    assert.equal(transportOf(multiaddr(`${RELAY_ADDR}/p2p-circuit/p2p/${tabId}`)), 'circuit')
    assert.equal(transportOf(multiaddr(RELAY_ADDR)), 'websockets')
    assert.equal(transportOf(multiaddr(`/webrtc/p2p/${tabId}`)), 'webrtc')
  })
})
