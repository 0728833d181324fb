import { PouwError, TAGS, taggedHash } from '@pouw/protocol'
import { DATA_ERRORS } from './errors.js'

/** A labelled image data set held as bytes: one byte per pixel, one per label. */
export interface Dataset {
  count: number
  features: number // pixels per record (784 for MNIST)
  images: Uint8Array // count * features
  labels: Uint8Array // count
}

const MAX_IDX_BYTES = 64 * 1024 * 1024

function bad(message: string): PouwError {
  return new PouwError(DATA_ERRORS.BAD_IDX, message)
}

/**
 * Parse an IDX file (the MNIST format): magic 0x0000 08 NDIM, then NDIM
 * big-endian u32 dimensions, then unsigned bytes. Only type 0x08 (ubyte).
 */
export function parseIdx(bytes: Uint8Array, what: string): { dims: number[]; data: Uint8Array } {
  if (bytes.length > MAX_IDX_BYTES) throw bad(`${what}: ${bytes.length} bytes, at most ${MAX_IDX_BYTES}`)
  if (bytes.length < 4) throw bad(`${what}: ${bytes.length} bytes is too short for an IDX header`)
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (v.getUint16(0) !== 0 || v.getUint8(2) !== 0x08) throw bad(`${what}: not an unsigned-byte IDX file (magic ${v.getUint32(0).toString(16)})`)
  const ndim = v.getUint8(3)
  if (ndim < 1 || ndim > 4 || bytes.length < 4 + 4 * ndim) throw bad(`${what}: ${ndim} dimensions`)
  const dims: number[] = []
  let size = 1
  for (let i = 0; i < ndim; i++) { const d = v.getUint32(4 + 4 * i); dims.push(d); size *= d }
  const offset = 4 + 4 * ndim
  if (bytes.length - offset !== size) throw bad(`${what}: dimensions ${dims.join('x')} need ${size} data bytes, file has ${bytes.length - offset}`)
  return { dims, data: bytes.subarray(offset) }
}

export function datasetFromIdx(imagesIdx: Uint8Array, labelsIdx: Uint8Array): Dataset {
  const img = parseIdx(imagesIdx, 'images')
  const lab = parseIdx(labelsIdx, 'labels')
  if (lab.dims.length !== 1) throw bad(`labels: expected 1 dimension, got ${lab.dims.length}`)
  if (img.dims[0] !== lab.dims[0]) throw bad(`${img.dims[0]} images but ${lab.dims[0]} labels`)
  const count = img.dims[0]!
  const features = img.dims.slice(1).reduce((a, b) => a * b, 1)
  for (let i = 0; i < lab.data.length; i++) if (lab.data[i]! > 9) throw bad(`label ${i} is ${lab.data[i]}, expected 0-9`)
  return { count, features, images: img.data, labels: lab.data }
}

/** H_dataset(images || labels): what a task publishes and loaders check. */
export function datasetHash(d: Dataset): Uint8Array {
  return taggedHash(TAGS.dataset, d.images, d.labels)
}
