/**
 * Announcements: how relays and tabs find each other. Every node gossips, on ANNOUNCE_TOPIC,
 * where it can be reached: a relay its websocket addresses and HTTP URL, a tab its
 * `/p2p-circuit/webrtc` addresses (one per relay it holds a reservation on). Relays subscribe
 * to the topic, so announcements cross the relay mesh.
 *
 * The bytes are untrusted: `announcementFromBytes` checks sizes and shapes and throws a
 * NetworkError (code NETWORK_BAD_ANNOUNCEMENT) for anything else. An announcement is not signed;
 * what it claims is checked when it is used: a dial authenticates the peer id (noise), and
 * the receivers decide whom they believe (see relayNode.ts and client.ts).
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { WebRTC, WebSockets, WebSocketsSecure } from '@multiformats/multiaddr-matcher'
import { peerIdOf } from './util.js'

export const ANNOUNCE_TOPIC = 'pouw/net/announce/1'
export const MAX_ANNOUNCEMENT_BYTES = 4096
export const MAX_ANNOUNCED_ADDRS = 16
const MAX_ADDR_CHARS = 512
const MAX_URL_CHARS = 256
const VERSION = 1

export interface Announcement {
  kind: 'relay' | 'peer'
  peerId: string
  /** relay: its websocket addresses; peer: its /p2p-circuit/webrtc addresses. Each ends in /p2p/<peerId>. */
  addrs: string[]
  /** relay: where it serves the page and API; peer: null */
  url: string | null
  /** ms since the epoch when sent: makes each announcement's bytes, hence its gossip id, unique */
  time: number
}

export type NetworkErrorCode = 'NETWORK_BAD_ANNOUNCEMENT'

export class NetworkError extends Error {
  override readonly name = 'NetworkError'
  constructor(readonly code: NetworkErrorCode, message: string) {
    super(message)
  }
}

export function isNetworkError(e: unknown): e is NetworkError {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'NetworkError' && typeof (e as { code?: unknown }).code === 'string'
}

const bad = (message: string): NetworkError => new NetworkError('NETWORK_BAD_ANNOUNCEMENT', message)

export function announcementToBytes(a: Announcement): Uint8Array {
  const bytes = new TextEncoder().encode(JSON.stringify({ v: VERSION, ...a }))
  if (bytes.byteLength > MAX_ANNOUNCEMENT_BYTES) throw new RangeError(`announcement of ${bytes.byteLength} bytes exceeds ${MAX_ANNOUNCEMENT_BYTES}`)
  return bytes
}

export function announcementFromBytes(bytes: Uint8Array): Announcement {
  if (bytes.byteLength > MAX_ANNOUNCEMENT_BYTES) throw bad(`expected at most ${MAX_ANNOUNCEMENT_BYTES} bytes, got ${bytes.byteLength}`)
  let raw: unknown
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch {
    throw bad('expected UTF-8 JSON')
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('expected a JSON object')
  const o = raw as Record<string, unknown>
  if (o.v !== VERSION) throw bad(`expected version ${VERSION}, got ${JSON.stringify(o.v)}`)
  const { kind, peerId, addrs, url, time } = o
  if (kind !== 'relay' && kind !== 'peer') throw bad(`expected kind 'relay' or 'peer', got ${JSON.stringify(kind)}`)
  if (typeof peerId !== 'string' || peerId.length > 128) throw bad('expected peerId: a string of at most 128 characters')
  try {
    peerIdFromString(peerId)
  } catch {
    throw bad(`peerId ${JSON.stringify(peerId.slice(0, 64))} is not a peer id`)
  }
  if (!Array.isArray(addrs) || addrs.length > MAX_ANNOUNCED_ADDRS) throw bad(`expected addrs: an array of at most ${MAX_ANNOUNCED_ADDRS}`)
  for (const addr of addrs) {
    if (typeof addr !== 'string' || addr.length > MAX_ADDR_CHARS) throw bad(`expected each addr: a string of at most ${MAX_ADDR_CHARS} characters`)
    let ma
    try {
      ma = multiaddr(addr)
    } catch {
      throw bad(`${JSON.stringify(addr.slice(0, 64))} is not a multiaddr`)
    }
    if (peerIdOf(ma) !== peerId) throw bad(`addr ${addr} does not end in /p2p/${peerId}`)
    const fits = kind === 'peer' ? WebRTC.exactMatch(ma) : WebSockets.exactMatch(ma) || WebSocketsSecure.exactMatch(ma)
    if (!fits) throw bad(`addr ${addr} is not a ${kind === 'peer' ? 'WebRTC (via a relay)' : 'websocket'} address`)
  }
  if (url !== null) {
    if (kind !== 'relay') throw bad('only a relay announces a url')
    if (typeof url !== 'string' || url.length > MAX_URL_CHARS || !/^https?:\/\//.test(url)) throw bad(`expected url: http(s)://..., at most ${MAX_URL_CHARS} characters`)
    try {
      new URL(url)
    } catch {
      throw bad(`url ${JSON.stringify(url.slice(0, 64))} does not parse`)
    }
  }
  if (typeof time !== 'number' || !Number.isFinite(time)) throw bad('expected time: a finite number')
  return { kind, peerId, addrs: addrs as string[], url: url as string | null, time }
}
