import { Reader, Writer, concatBytes } from './bytes.js'
import { protocolError } from './errors.js'
import { TAGS, taggedHash, taggedHashAsync } from './hash.js'
import { MessageMap, assertValidMessageMap } from './messageMap.js'
import { PUBLIC_KEY_SIZE, SIGNATURE_SIZE, sign, signAsync, verify } from './sign.js'

export const ITRES_VERSION = 2
export const MSG_TYPE_IT_RES = 1
export const MAX_MAP_ENTRIES = 1 << 21
export const MAX_METRICS = 16
export const MAX_ITRES_BYTES = 200 + 4 * MAX_MAP_ENTRIES + 4 * MAX_METRICS + 6 * 32 + SIGNATURE_SIZE

/** Which tfjs backend computed the gradient; verifiers pick their tolerance tier from it. */
export const BACKENDS = ['cpu', 'wasm', 'webgl', 'webgpu'] as const
export type BackendName = (typeof BACKENDS)[number]

/**
 * IT_RES: the result of one training iteration (paper 003, Table 1).
 * Fields beyond the paper's table: `backend`, `miner` (the signer's public key,
 * which the paper's table leaves implicit) and `iteration`. The map count is a
 * u32 (the paper's u16 caps a map at 65,535 entries, fewer than the model has
 * parameters). `batchIndex` names the mini-batch trained (its contents are
 * hashed in `batchHash`), so that anyone can check it against the epoch's
 * assignment without the data.
 */
export interface ItRes {
  version: number
  taskId: Uint8Array // 16 bytes
  backend: BackendName
  miner: Uint8Array // Ed25519 public key, 32 bytes
  iteration: number // u32, per miner, from 0
  epoch: number // u16
  batchIndex: number // u32: which mini-batch of the task's plan was trained
  map: MessageMap // delta(l), strictly increasing indices
  metrics: number[] // K(tr), float32: [loss, accuracy] for the MNIST task
  tStart: number // u32 UNIX seconds
  tFinish: number // u32 UNIX seconds
  batchHash: Uint8Array // hash(b_i)
  peerUpdatesHash: Uint8Array // hash(Delta(p)): peer updates applied in this iteration
  modelHash: Uint8Array // hash(theta) at the start of the iteration
  residualHash: Uint8Array // hash(g(r)) at the start of the iteration
  znbHash: Uint8Array // hash of the zero-nonce block to be mined k iterations later (zeros: none)
  nextPeerMessagesHash: Uint8Array // hash(delta(p)): peer messages received, to be applied next iteration
  signature: Uint8Array // Ed25519 over H_itres-sig(all fields above, encoded)
}

export type UnsignedItRes = Omit<ItRes, 'signature' | 'version'>

function writeBody(w: Writer, m: UnsignedItRes): void {
  w.u16(ITRES_VERSION).fixed(m.taskId, 16).u8(MSG_TYPE_IT_RES).u8(BACKENDS.indexOf(m.backend))
  w.fixed(m.miner, PUBLIC_KEY_SIZE).u32(m.iteration).u16(m.epoch).u32(m.batchIndex)
  w.u32(m.map.length)
  for (let i = 0; i < m.map.length; i++) w.u32(m.map[i]!)
  w.u16(m.metrics.length)
  for (const k of m.metrics) w.f32(k)
  w.u32(m.tStart).u32(m.tFinish)
  w.fixed(m.batchHash, 32).fixed(m.peerUpdatesHash, 32).fixed(m.modelHash, 32)
  w.fixed(m.residualHash, 32).fixed(m.znbHash, 32).fixed(m.nextPeerMessagesHash, 32)
}

export function itResSigningHash(m: UnsignedItRes): Uint8Array {
  const w = new Writer()
  writeBody(w, m)
  return taggedHash(TAGS.itresSig, w.finish())
}

export function signItRes(m: UnsignedItRes, secretKey: Uint8Array): ItRes {
  return { ...m, version: ITRES_VERSION, signature: sign(secretKey, itResSigningHash(m)) }
}

export async function verifyItResSignature(m: ItRes): Promise<boolean> {
  return verify(m.miner, itResSigningHash(m), m.signature)
}

/**
 * Encode, sign and hash in one pass (the miner's per-iteration path): the
 * body is encoded once, signed through WebCrypto where available, and hashed
 * natively. Same bytes as itResToBytes(signItRes(m)).
 */
export async function signItResToBytes(m: UnsignedItRes, secretKey: Uint8Array): Promise<{ bytes: Uint8Array; hash: Uint8Array }> {
  const w = new Writer()
  writeBody(w, m)
  const body = w.finish()
  const signature = await signAsync(secretKey, await taggedHashAsync(TAGS.itresSig, body))
  const bytes = concatBytes(body, signature)
  return { bytes, hash: await taggedHashAsync(TAGS.itres, bytes) }
}

export function itResToBytes(m: ItRes): Uint8Array {
  const w = new Writer()
  writeBody(w, m)
  return w.fixed(m.signature, SIGNATURE_SIZE).finish()
}

export function itResHash(bytes: Uint8Array): Uint8Array {
  return taggedHash(TAGS.itres, bytes)
}

/** Context-free decoding of untrusted bytes. Throws PouwError PROTOCOL_*; checks the map is canonical. */
export function itResFromBytes(bytes: Uint8Array): ItRes {
  if (bytes.length > MAX_ITRES_BYTES) throw protocolError('TOO_LARGE', `IT_RES is ${bytes.length} bytes, at most ${MAX_ITRES_BYTES}`)
  const r = new Reader(bytes, 'IT_RES')
  const version = r.u16('version')
  if (version !== ITRES_VERSION) throw protocolError('BAD_VERSION', `IT_RES version ${version}, expected ${ITRES_VERSION}`)
  const taskId = r.bytes(16, 'task id')
  const type = r.u8('message type')
  if (type !== MSG_TYPE_IT_RES) throw protocolError('BAD_TYPE', `message type ${type}, expected IT_RES (${MSG_TYPE_IT_RES})`)
  const backend = r.oneOf(BACKENDS, 'backend code')
  const miner = r.bytes(PUBLIC_KEY_SIZE, 'miner')
  const iteration = r.u32('iteration')
  const epoch = r.u16('epoch')
  const batchIndex = r.u32('batch index')
  const n = r.count(MAX_MAP_ENTRIES, 'message map entries')
  if (r.remaining < 4 * n) throw protocolError('TRUNCATED', `IT_RES: message map of ${n} entries needs ${4 * n} bytes, ${r.remaining} left`)
  const map = new Uint32Array(n)
  for (let i = 0; i < n; i++) map[i] = r.u32('map entry')
  assertValidMessageMap(map, 2 ** 31, 'IT_RES message map')
  const nk = r.count(MAX_METRICS, 'metrics', 2)
  const metrics: number[] = []
  for (let i = 0; i < nk; i++) {
    const v = r.f32('metric')
    if (!Number.isFinite(v)) throw protocolError('BAD_VALUE', `IT_RES metric ${i} is ${v}`)
    metrics.push(v)
  }
  const tStart = r.u32('start time')
  const tFinish = r.u32('finish time')
  const m: ItRes = {
    version, taskId, backend, miner, iteration, epoch, batchIndex, map, metrics, tStart, tFinish,
    batchHash: r.bytes(32, 'batch hash'),
    peerUpdatesHash: r.bytes(32, 'peer updates hash'),
    modelHash: r.bytes(32, 'model hash'),
    residualHash: r.bytes(32, 'residual hash'),
    znbHash: r.bytes(32, 'zero-nonce block hash'),
    nextPeerMessagesHash: r.bytes(32, 'next peer messages hash'),
    signature: r.bytes(SIGNATURE_SIZE, 'signature'),
  }
  r.end()
  return m
}

/**
 * Several IT_RES in one body (a miner re-delivering to a supervisor the messages gossip lost):
 * u16 count, then each message as u32 length + bytes. Only the framing is checked here; each
 * message is decoded and judged on its own by the receiver.
 */
export const MAX_ITRES_BATCH = 64

export function itResBatchToBytes(messages: readonly Uint8Array[]): Uint8Array {
  if (messages.length > MAX_ITRES_BATCH) throw new RangeError(`${messages.length} IT_RES in one batch, at most ${MAX_ITRES_BATCH}`)
  const w = new Writer().u16(messages.length)
  for (const m of messages) w.varBytes(m)
  return w.finish()
}

export function itResBatchFromBytes(bytes: Uint8Array): Uint8Array[] {
  const r = new Reader(bytes, 'IT_RES batch')
  const n = r.count(MAX_ITRES_BATCH, 'messages', 2)
  const out: Uint8Array[] = []
  for (let i = 0; i < n; i++) out.push(r.varBytes(MAX_ITRES_BYTES, `message ${i}`))
  r.end()
  return out
}
