/**
 * JSON forms of the protocol objects used in test/vectors/*.json: bytes as
 * lower-case hex, u64 amounts as decimal strings, message-map entries as
 * "+index" / "-index", floats as the (exact) numbers JSON prints for float32
 * values. Each kind also names its encoder, decoder and hash, so one test
 * loop covers every vector file.
 */
import {
  BACKENDS, type BackendName, type Block, type BlockHeader, type BlockSubmission, type Evidence, type ItRes,
  type MessageMap, type TaskSpec, type Tx, type Verdict,
  blockFromBytes, blockToBytes, entryIndex, entryPositive, evidenceFromBytes, evidenceToBytes, float32Bytes,
  fromHex, headerFromBytes, headerHash, headerToBytes, itResFromBytes, itResHash, itResToBytes, mapEntry,
  submissionFromBytes, submissionToBytes, taskFromBytes, taskHash, taskToBytes, toHex, txFromBytes, txHash,
  txToBytes, verdictFromBytes, verdictToBytes, TAGS, taggedHash,
} from '../src/index.js'

export const mapToJson = (m: MessageMap): string[] => Array.from(m, (e) => `${entryPositive(e) ? '+' : '-'}${entryIndex(e)}`)
export const mapFromJson = (j: string[]): MessageMap => Uint32Array.from(j, (s) => mapEntry(s[0] === '+', Number(s.slice(1))))

/** float32 arrays travel as the hex of their little-endian bytes (exact, NaN payloads included) */
export const f32ToJson = (a: Float32Array): string => toHex(float32Bytes(a))
export const f32FromJson = (s: string): Float32Array => new Float32Array(fromHex(s).buffer)

export interface ItResJson {
  version: number; taskId: string; backend: BackendName; miner: string; iteration: number; epoch: number; batchIndex: number
  map: string[]; metrics: number[]; tStart: number; tFinish: number
  batchHash: string; peerUpdatesHash: string; modelHash: string; residualHash: string; znbHash: string
  nextPeerMessagesHash: string; signature: string
}

export const itResJson = {
  to: (m: ItRes): ItResJson => ({
    version: m.version, taskId: toHex(m.taskId), backend: m.backend, miner: toHex(m.miner), iteration: m.iteration,
    epoch: m.epoch, batchIndex: m.batchIndex, map: mapToJson(m.map), metrics: [...m.metrics], tStart: m.tStart, tFinish: m.tFinish,
    batchHash: toHex(m.batchHash), peerUpdatesHash: toHex(m.peerUpdatesHash), modelHash: toHex(m.modelHash),
    residualHash: toHex(m.residualHash), znbHash: toHex(m.znbHash), nextPeerMessagesHash: toHex(m.nextPeerMessagesHash),
    signature: toHex(m.signature),
  }),
  from: (j: ItResJson): ItRes => {
    if (!BACKENDS.includes(j.backend)) throw new Error(`bad backend ${j.backend}`)
    return {
      version: j.version, taskId: fromHex(j.taskId), backend: j.backend, miner: fromHex(j.miner), iteration: j.iteration,
      epoch: j.epoch, batchIndex: j.batchIndex, map: mapFromJson(j.map), metrics: [...j.metrics], tStart: j.tStart, tFinish: j.tFinish,
      batchHash: fromHex(j.batchHash), peerUpdatesHash: fromHex(j.peerUpdatesHash), modelHash: fromHex(j.modelHash),
      residualHash: fromHex(j.residualHash), znbHash: fromHex(j.znbHash), nextPeerMessagesHash: fromHex(j.nextPeerMessagesHash),
      signature: fromHex(j.signature),
    }
  },
}

export interface HeaderJson {
  version: number; prevHash: string; merkleRoot: string; time: number; bits: string
  nonce: string; hashMsg: string; hashMsgHist: string
}

export const headerJson = {
  to: (h: BlockHeader): HeaderJson => ({
    version: h.version, prevHash: toHex(h.prevHash), merkleRoot: toHex(h.merkleRoot), time: h.time,
    bits: `0x${h.bits.toString(16).padStart(8, '0')}`, nonce: toHex(h.nonce), hashMsg: toHex(h.hashMsg),
    hashMsgHist: toHex(h.hashMsgHist),
  }),
  from: (j: HeaderJson): BlockHeader => ({
    version: j.version, prevHash: fromHex(j.prevHash), merkleRoot: fromHex(j.merkleRoot), time: j.time,
    bits: Number(j.bits), nonce: fromHex(j.nonce), hashMsg: fromHex(j.hashMsg), hashMsgHist: fromHex(j.hashMsgHist),
  }),
}

export interface TxJson { type: 'coinbase'; height: number; outputs: { amount: string; recipient: string }[] }

export const txJson = {
  to: (tx: Tx): TxJson => {
    if (tx.type !== 'coinbase') throw new Error('the frozen vectors hold coinbases only; transfers are tested in tx.test.ts')
    return { type: tx.type, height: tx.height, outputs: tx.outputs.map((o) => ({ amount: o.amount.toString(), recipient: toHex(o.recipient) })) }
  },
  from: (j: TxJson): Tx => ({
    type: j.type, height: j.height,
    outputs: j.outputs.map((o) => ({ amount: BigInt(o.amount), recipient: fromHex(o.recipient) })),
  }),
}

export interface BlockJson { header: HeaderJson; txs: TxJson[] }

export const blockJson = {
  to: (b: Block): BlockJson => ({ header: headerJson.to(b.header), txs: b.txs.map(txJson.to) }),
  from: (j: BlockJson): Block => ({ header: headerJson.from(j.header), txs: j.txs.map(txJson.from) }),
}

export interface TaskJson extends Omit<TaskSpec, 'taskId' | 'fragmentHashes'> { taskId: string; fragmentHashes: string[] }

export const taskJson = {
  to: (t: TaskSpec): TaskJson => ({ ...t, taskId: toHex(t.taskId), fragmentHashes: t.fragmentHashes.map(toHex) }),
  from: (j: TaskJson): TaskSpec => ({ ...j, taskId: fromHex(j.taskId), fragmentHashes: j.fragmentHashes.map(fromHex) }),
}

export interface EvidenceJson { slot: string[]; model: string; residual: string; peerUpdates: string[] }

export const evidenceJson = {
  to: (e: Evidence): EvidenceJson => ({
    slot: e.slot.map(toHex), model: f32ToJson(e.model), residual: f32ToJson(e.residual),
    peerUpdates: e.peerUpdates.map(toHex),
  }),
  from: (j: EvidenceJson): Evidence => ({
    slot: j.slot.map(fromHex), model: f32FromJson(j.model), residual: f32FromJson(j.residual),
    peerUpdates: j.peerUpdates.map(fromHex),
  }),
}

export interface SubmissionJson { block: string; evidence: string }

export const submissionJson = {
  to: (s: BlockSubmission): SubmissionJson => ({ block: toHex(s.block), evidence: toHex(s.evidence) }),
  from: (j: SubmissionJson): BlockSubmission => ({ block: fromHex(j.block), evidence: fromHex(j.evidence) }),
}

export interface VerdictJson extends Omit<Verdict, 'blockHash' | 'tipHash' | 'seal' | 'verifier' | 'signature' | 'nextBits'> {
  blockHash: string; tipHash: string; seal: string; verifier: string; signature: string; nextBits: string
}

export const verdictJson = {
  to: (v: Verdict): VerdictJson => ({
    ...v, blockHash: toHex(v.blockHash), tipHash: toHex(v.tipHash), seal: toHex(v.seal), verifier: toHex(v.verifier),
    signature: toHex(v.signature), nextBits: `0x${v.nextBits.toString(16).padStart(8, '0')}`,
  }),
  from: (j: VerdictJson): Verdict => ({
    ...j, blockHash: fromHex(j.blockHash), tipHash: fromHex(j.tipHash), seal: fromHex(j.seal), verifier: fromHex(j.verifier),
    signature: fromHex(j.signature), nextBits: Number(j.nextBits),
  }),
}

/** One kind of encoded object: how to (de)serialise it and which hash names it. */
export interface Kind<T, J> {
  to(x: T): J
  from(j: J): T
  encode(x: T): Uint8Array
  decode(b: Uint8Array): T
  hash?(x: T, bytes: Uint8Array): Uint8Array
}

function kind<T, J>(k: Kind<T, J>): Kind<T, J> { return k }

/** Every decoder of the package, by the name the vector files use. */
export const KINDS = {
  itres: kind({ ...itResJson, encode: itResToBytes, decode: itResFromBytes, hash: (_m, b) => itResHash(b) }),
  header: kind({ ...headerJson, encode: headerToBytes, decode: headerFromBytes, hash: (h) => headerHash(h) }),
  tx: kind({ ...txJson, encode: txToBytes, decode: txFromBytes, hash: (t) => txHash(t) }),
  block: kind({ ...blockJson, encode: blockToBytes, decode: blockFromBytes, hash: (b) => headerHash(b.header) }),
  task: kind({ ...taskJson, encode: taskToBytes, decode: taskFromBytes, hash: (t) => taskHash(t) }),
  evidence: kind({ ...evidenceJson, encode: evidenceToBytes, decode: evidenceFromBytes }),
  submission: kind({ ...submissionJson, encode: submissionToBytes, decode: submissionFromBytes }),
  verdict: kind({
    ...verdictJson, encode: verdictToBytes, decode: verdictFromBytes,
    hash: (_v, b) => taggedHash(TAGS.verdictSig, b.subarray(0, b.length - 64)),
  }),
} as const

export type KindName = keyof typeof KINDS

/** The shape of an encoding vector file. */
export interface EncodingVectors {
  description: string
  valid: { name: string; object: unknown; bytes: string; hash?: string }[]
  invalid: { name: string; bytes: string; error: string }[]
}
