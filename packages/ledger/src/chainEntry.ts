import {
  HEADER_SIZE, Reader, Writer, bigIntToBytes, bytesToBigInt, headerFromBytes, headerHash, headerToBytes, protocolError, toHex,
  type Block, type BlockHeader,
} from '@pouw/protocol'

/** What the chain knows about a stored block, without its transactions. */
export interface ChainEntry {
  hash: Uint8Array
  hashHex: string
  header: BlockHeader
  height: number
  /** sum of workFromBits(bits) from genesis to this block, both included */
  cumulativeWork: bigint
  /** recipient of the coinbase's first output; null when it has none */
  miner: Uint8Array | null
  /** the `now` (UNIX seconds) at which this node accepted the block */
  receivedAt: number
}

export const CHAIN_ENTRY_VERSION = 1
const MAX_WORK_BYTES = 64

export function createChainEntry(block: Block, height: number, cumulativeWork: bigint, receivedAt: number, hash = headerHash(block.header)): ChainEntry {
  const first = block.txs[0]?.outputs[0]
  return {
    hash, hashHex: toHex(hash), header: block.header, height, cumulativeWork,
    miner: first === undefined ? null : first.recipient, receivedAt: Math.floor(receivedAt),
  }
}

/**
 * u8 version | header (HEADER_SIZE) | u32 height | u8 n, n bytes of
 * cumulative work (big-endian, minimal) | u8 hasMiner [| 32-byte miner] |
 * u32 receivedAt. The hash is not stored: it is recomputed from the header.
 */
export function chainEntryToBytes(e: ChainEntry): Uint8Array {
  const work = e.cumulativeWork === 0n ? new Uint8Array(0) : bigIntToBytes(e.cumulativeWork, Math.ceil(e.cumulativeWork.toString(16).length / 2))
  const w = new Writer().u8(CHAIN_ENTRY_VERSION).bytes(headerToBytes(e.header)).u32(e.height)
    .u8(work.length).bytes(work).u8(e.miner === null ? 0 : 1)
  if (e.miner !== null) w.fixed(e.miner, 32)
  return w.u32(e.receivedAt).finish()
}

/** Throws PROTOCOL_* errors on malformed bytes; the chain turns them into LEDGER_STORE_CORRUPT. */
export function chainEntryFromBytes(bytes: Uint8Array): ChainEntry {
  const r = new Reader(bytes, 'chain entry')
  const version = r.u8('version')
  if (version !== CHAIN_ENTRY_VERSION) throw protocolError('BAD_VERSION', `chain entry version ${version}, expected ${CHAIN_ENTRY_VERSION}`)
  const header = headerFromBytes(r.bytes(HEADER_SIZE, 'header'))
  const height = r.u32('height')
  const cumulativeWork = bytesToBigInt(r.bytes(r.count(MAX_WORK_BYTES, 'work length', 1), 'work'))
  const miner = r.u8('has miner') === 1 ? r.bytes(32, 'miner') : null
  const receivedAt = r.u32('receivedAt')
  r.end()
  const hash = headerHash(header)
  return { hash, hashHex: toHex(hash), header, height, cumulativeWork, miner, receivedAt }
}
