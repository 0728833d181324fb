import type { PouwError } from '@pouw/protocol'
import { convertIndexedToRgb, decode, hasPngSignature, type DecodedPng } from 'fast-png'
import { datasetError } from './errors.js'
import { inflateCapped } from './inflateCapped.js'
import type { ImportLimits } from './limits.js'

export interface GrayImage {
  width: number
  height: number
  /** width x height bytes, row by row, 0 = black */
  pixels: Uint8Array
}

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }

function corrupt(path: string, message: string): PouwError {
  return datasetError('CORRUPT', `${path}: ${message}`, { path })
}

/**
 * Reads the chunk list before any pixel is decoded: IHDR first, its size
 * within `maxImagePixels`, every chunk inside the file, an IEND; then inflates
 * the IDAT stream with a cap just above what the header says it holds (a
 * small PNG cannot inflate to gigabytes).
 */
function assertSanePng(bytes: Uint8Array, path: string, limits: ImportLimits): void {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (bytes.length < 8 + 25 || v.getUint32(12) !== 0x49484452 /* IHDR */ || v.getUint32(8) !== 13) throw corrupt(path, 'no PNG header (IHDR)')
  const width = v.getUint32(16)
  const height = v.getUint32(20)
  const depth = v.getUint8(24)
  const colour = v.getUint8(25)
  const interlace = v.getUint8(28)
  const channels = CHANNELS[colour]
  if (width === 0 || height === 0) throw corrupt(path, `the image is ${width}x${height}`)
  if (width * height > limits.maxImagePixels) {
    throw datasetError('TOO_LARGE', `${path}: ${width}x${height} pixels, at most ${limits.maxImagePixels} per image`, { path, width, height, max: limits.maxImagePixels })
  }
  if (channels === undefined || ![1, 2, 4, 8, 16].includes(depth)) throw corrupt(path, `colour type ${colour} with bit depth ${depth} is not PNG`)
  const rowBytes = Math.ceil((width * channels * depth) / 8)
  // Adam7 adds at most one filter byte per pass row and a partial byte per pass row: < 15 · height extra
  const rawBytes = height * (1 + rowBytes) + (interlace ? 15 * height + 64 : 0)

  const idat: Uint8Array[] = []
  let at = 8
  let ended = false
  while (at + 12 <= bytes.length) {
    const length = v.getUint32(at)
    const type = v.getUint32(at + 4)
    if (length > bytes.length - at - 12) throw corrupt(path, `a chunk at byte ${at} runs past the end of the file (truncated?)`)
    if (type === 0x49444154 /* IDAT */) idat.push(bytes.subarray(at + 8, at + 8 + length))
    at += 12 + length
    if (type === 0x49454e44 /* IEND */) { ended = true; break }
  }
  if (!ended) throw corrupt(path, 'no IEND chunk (truncated?)')
  if (idat.length === 0) throw corrupt(path, 'no image data (IDAT)')
  let zlen = 0
  for (const c of idat) zlen += c.length
  const z = new Uint8Array(zlen)
  zlen = 0
  for (const c of idat) { z.set(c, zlen); zlen += c.length }
  inflateCapped(z, 'zlib', rawBytes, path, () => corrupt(path, `the image data inflates past the ${rawBytes} bytes a ${width}x${height} image holds`))
}

function unpackBits(d: DecodedPng): Uint8Array {
  // grey at depth 1, 2 or 4: rows padded to whole bytes; spread each sample to 0..255
  const { width, height, depth } = d
  const src = d.data as Uint8Array
  const rowBytes = Math.ceil((width * depth) / 8)
  const top = (1 << depth) - 1
  const out = new Uint8Array(width * height)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bit = x * depth
      const sample = (src[y * rowBytes + (bit >> 3)]! >> (8 - depth - (bit & 7))) & top
      out[y * width + x] = Math.round((sample * 255) / top)
    }
  }
  return out
}

/**
 * Decodes a PNG to one grey byte per pixel, with integers only so every
 * machine gets the same bytes: colour is luma (299 R + 587 G + 114 B + 500) / 1000
 * (ITU-R BT.601), 16-bit samples keep their high byte, and alpha is composited
 * over black (grey · alpha / 255, rounded). Palettes are expanded first.
 */
export function decodeGrayPng(bytes: Uint8Array, path: string, limits: ImportLimits): GrayImage {
  if (!hasPngSignature(bytes)) {
    if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) {
      throw datasetError('UNSUPPORTED', `${path}: JPEG images are not read yet; convert them to PNG`, { path, type: 'jpeg' })
    }
    throw corrupt(path, 'not a PNG file (bad signature)')
  }
  assertSanePng(bytes, path, limits)
  let d: DecodedPng
  try {
    d = decode(bytes, { checkCrc: true })
  } catch (e) {
    throw corrupt(path, `does not decode as PNG (${(e as Error).message})`)
  }
  const { width, height } = d
  const n = width * height
  let data: Uint8Array | Uint8ClampedArray | Uint16Array = d.data
  let channels = d.channels
  let shift = d.depth === 16 ? 8 : 0
  if (d.palette) {
    data = convertIndexedToRgb(d)
    channels = data.length / n
    shift = 0
  } else if (d.depth < 8) {
    data = unpackBits(d)
  }
  if (data.length !== n * channels || ![1, 2, 3, 4].includes(channels)) {
    throw corrupt(path, `decoded to ${data.length} samples for ${width}x${height} pixels of ${channels} channels`)
  }
  const pixels = new Uint8Array(n)
  const hasAlpha = channels === 2 || channels === 4
  for (let i = 0, s = 0; i < n; i++, s += channels) {
    let grey: number
    if (channels <= 2) grey = data[s]! >> shift
    else grey = Math.floor((299 * (data[s]! >> shift) + 587 * (data[s + 1]! >> shift) + 114 * (data[s + 2]! >> shift) + 500) / 1000)
    if (hasAlpha) grey = Math.floor((grey * (data[s + channels - 1]! >> shift) + 127) / 255)
    pixels[i] = grey
  }
  return { width, height, pixels }
}
