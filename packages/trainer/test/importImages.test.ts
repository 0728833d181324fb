// Run: node --import ./scripts/node-polyfills.mjs --import tsx --test packages/trainer/test/importImages.test.ts
// Image upload: PNGs (encoded here with fast-png) one folder per label, as files or in a zip (built here
// with fflate), including malicious zips (zip-slip, bombs, lying headers) and corrupt images.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { encode } from 'fast-png'
import { zipSync, zlibSync, type Zippable } from 'fflate'
import {
  DATASET_ERRORS, DEFAULT_IMPORT_LIMITS, decodeGrayPng, importFiles, importImageZip, importImages, safePathSegments,
  unzipEntries, type FileEntry,
} from '../src/data/index.js'
import { throwsCode } from './throwsCode.js'

const LIMITS = { ...DEFAULT_IMPORT_LIMITS }

/** a width x height grey PNG whose pixels are seed, seed+1, ... */
function png(width: number, height: number, seed = 0): Uint8Array {
  return encode({ width, height, channels: 1, depth: 8, data: Uint8Array.from({ length: width * height }, (_, i) => (seed + i) & 0xff) })
}

function entries(layout: Record<string, Uint8Array>): FileEntry[] {
  return Object.entries(layout).map(([path, bytes]) => ({ path, bytes }))
}

function crc32(bytes: Uint8Array): number {
  let c = ~0
  for (const b of bytes) { c ^= b; for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1)) }
  return ~c >>> 0
}

/** a PNG from hand-made chunks: IHDR fields and a raw IDAT payload */
function rawPng(width: number, height: number, idat: Uint8Array, colour = 0, depth = 8): Uint8Array {
  const chunk = (type: string, data: Uint8Array): Uint8Array => {
    const out = new Uint8Array(12 + data.length)
    const v = new DataView(out.buffer)
    v.setUint32(0, data.length)
    out.set(new TextEncoder().encode(type), 4)
    out.set(data, 8)
    v.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)))
    return out
  }
  const ihdr = new Uint8Array(13)
  const v = new DataView(ihdr.buffer)
  v.setUint32(0, width); v.setUint32(4, height); ihdr[8] = depth; ihdr[9] = colour
  const parts = [new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', new Uint8Array(0))]
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.length }
  return out
}

/** replaces every occurrence of one ASCII string by another of the same length */
function patch(bytes: Uint8Array, from: string, to: string): Uint8Array {
  const out = bytes.slice()
  const f = new TextEncoder().encode(from)
  const t = new TextEncoder().encode(to)
  for (let i = 0; i + f.length <= out.length; i++) if (f.every((b, k) => out[i + k] === b)) out.set(t, i)
  return out
}

describe('decodeGrayPng', () => {
  it('grey 8-bit comes back byte for byte', () => {
    const g = decodeGrayPng(png(3, 2, 10), 'a.png', LIMITS)
    assert.deepEqual([g.width, g.height, [...g.pixels]], [3, 2, [10, 11, 12, 13, 14, 15]])
  })

  it('colour is BT.601 luma in integers; alpha is composited over black; 16-bit keeps the high byte', () => {
    const rgb = encode({ width: 2, height: 1, channels: 3, depth: 8, data: new Uint8Array([255, 0, 0, 10, 200, 30]) })
    // (299·255 + 500) / 1000 = 76; (299·10 + 587·200 + 114·30 + 500) / 1000 = 124
    assert.deepEqual([...decodeGrayPng(rgb, 'rgb.png', LIMITS).pixels], [76, 124])
    const rgba = encode({ width: 2, height: 1, channels: 4, depth: 8, data: new Uint8Array([255, 255, 255, 255, 255, 255, 255, 128]) })
    assert.deepEqual([...decodeGrayPng(rgba, 'rgba.png', LIMITS).pixels], [255, 128])
    const ga = encode({ width: 1, height: 1, channels: 2, depth: 8, data: new Uint8Array([200, 0]) })
    assert.deepEqual([...decodeGrayPng(ga, 'ga.png', LIMITS).pixels], [0])
    const g16 = encode({ width: 2, height: 1, channels: 1, depth: 16, data: new Uint16Array([0xabcd, 0x0102]) })
    assert.deepEqual([...decodeGrayPng(g16, 'g16.png', LIMITS).pixels], [0xab, 0x01])
  })

  it('unpacks 1-bit grey and expands palettes', () => {
    const g1 = encode({ width: 9, height: 1, channels: 1, depth: 1, data: new Uint8Array([0b10100000, 0b10000000]) })
    assert.deepEqual([...decodeGrayPng(g1, 'g1.png', LIMITS).pixels], [255, 0, 255, 0, 0, 0, 0, 0, 255])
    const pal = encode({ width: 2, height: 1, channels: 1, depth: 8, data: new Uint8Array([1, 0]), palette: [[0, 0, 0], [255, 255, 255]] })
    assert.deepEqual([...decodeGrayPng(pal, 'p.png', LIMITS).pixels], [255, 0])
  })

  it('refuses a flipped byte (CRC), a truncated file, a non-PNG, a JPEG', () => {
    const good = png(4, 4)
    const flipped = good.slice(); flipped[good.length - 20]! ^= 0xff
    throwsCode(() => decodeGrayPng(flipped, 'x/f.png', LIMITS), DATASET_ERRORS.CORRUPT, /x\/f\.png/)
    throwsCode(() => decodeGrayPng(good.subarray(0, good.length - 15), 't.png', LIMITS), DATASET_ERRORS.CORRUPT, /truncated/)
    throwsCode(() => decodeGrayPng(new TextEncoder().encode('hello, world, not an image at all'), 'h.png', LIMITS), DATASET_ERRORS.CORRUPT, /signature/)
    throwsCode(() => decodeGrayPng(new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 0]), 'j.jpg', LIMITS), DATASET_ERRORS.UNSUPPORTED, /JPEG/)
    throwsCode(() => decodeGrayPng(rawPng(2, 2, zlibSync(new Uint8Array(6)), 7), 'c.png', LIMITS), DATASET_ERRORS.CORRUPT, /colour type 7/)
    throwsCode(() => decodeGrayPng(rawPng(2, 2, new Uint8Array([0x78, 0x9c, 0xff, 0xff, 0xff])), 'z.png', LIMITS), DATASET_ERRORS.CORRUPT, /z\.png/)
    assert.deepEqual([...decodeGrayPng(rawPng(2, 2, zlibSync(new Uint8Array([0, 1, 2, 0, 3, 4]))), 'ok.png', LIMITS).pixels], [1, 2, 3, 4])
  })

  it('refuses an image over the pixel cap from its header, before decoding', () => {
    const huge = rawPng(100_000, 100_000, zlibSync(new Uint8Array(10)))
    throwsCode(() => decodeGrayPng(huge, 'h.png', LIMITS), DATASET_ERRORS.TOO_LARGE, /100000x100000/)
  })

  it('refuses a PNG bomb: a 2x2 header over image data that inflates to megabytes', () => {
    const bomb = rawPng(2, 2, zlibSync(new Uint8Array(8 * 1024 * 1024)))
    assert.ok(bomb.length < 20_000)
    throwsCode(() => decodeGrayPng(bomb, 'b.png', LIMITS), DATASET_ERRORS.CORRUPT, /inflates past the 6 bytes/)
  })
})

describe('importImages (one folder per label)', () => {
  const layout = {
    'cat/b.png': png(2, 2, 1), 'cat/a.png': png(2, 2, 2), 'cat/c.png': png(2, 2, 3),
    'dog/z.png': png(2, 2, 4), 'dog/y.png': png(2, 2, 5),
  }

  it('labels by folder and orders records by path, round-robin across classes', () => {
    const r = importImages(entries(layout))
    assert.deepEqual(r.classes, ['cat', 'dog'])
    assert.deepEqual(r.shape, [2, 2])
    assert.equal(r.features, 4)
    assert.deepEqual([...r.dataset.labels], [0, 1, 0, 1, 0])
    // cat/a, dog/y, cat/b, dog/z, cat/c
    assert.deepEqual([...r.dataset.images].filter((_, i) => i % 4 === 0), [2, 5, 1, 4, 3])
    assert.deepEqual(r.summary.classCounts, [3, 2])
    assert.equal(r.summary.format, 'images')
  })

  it('does not depend on the order files are listed in, and drops one common top folder', () => {
    const a = importImages(entries(layout))
    const shuffled = entries(layout).reverse().map((e) => ({ path: `pets/${e.path}`, bytes: e.bytes }))
    assert.deepEqual(importImages(shuffled).dataset, a.dataset)
  })

  it('leaves out OS metadata files and says so', () => {
    const r = importImages(entries({ ...layout, 'cat/.DS_Store': new Uint8Array(3), '__MACOSX/cat/._a.png': new Uint8Array(3) }))
    assert.equal(r.dataset.count, 5)
    assert.deepEqual(r.summary.ignoredFiles.sort(), ['__MACOSX/cat/._a.png', 'cat/.DS_Store'])
  })

  it('sorts integer folder names numerically and honours declared classes', () => {
    const r = importImages(entries({ '10/a.png': png(1, 1), '9/a.png': png(1, 1), '0/a.png': png(1, 1) }))
    assert.deepEqual(r.classes, ['0', '9', '10'])
    throwsCode(() => importImages(entries(layout), { classes: ['cat', 'bird'] }), DATASET_ERRORS.UNKNOWN_LABEL, /dog\/[yz]\.png: label "dog"/)
  })

  it('refuses mixed sizes, naming both', () => {
    throwsCode(() => importImages(entries({ ...layout, 'dog/x.png': png(3, 2) })), DATASET_ERRORS.BAD_LAYOUT, /dog\/x\.png is 3x2, cat\/a\.png is 2x2/)
  })

  it('refuses files outside label folders, nothing, an unsafe path, a corrupt image', () => {
    throwsCode(() => importImages(entries({ 'a.png': png(1, 1) })), DATASET_ERRORS.BAD_LAYOUT, /label\/file\.png/)
    throwsCode(() => importImages(entries({ 'a/b/c/d.png': png(1, 1), 'x/y.png': png(1, 1) })), DATASET_ERRORS.BAD_LAYOUT)
    throwsCode(() => importImages([]), DATASET_ERRORS.EMPTY)
    throwsCode(() => importImages(entries({ '../cat/a.png': png(1, 1) })), DATASET_ERRORS.UNSAFE_PATH)
    throwsCode(() => importImages(entries({ ...layout, 'dog/w.png': new Uint8Array([1, 2, 3]) })), DATASET_ERRORS.CORRUPT, /dog\/w\.png/)
  })

  it('refuses a file over the cap, too many files, too much in all', () => {
    throwsCode(() => importImages(entries(layout), { limits: { maxFileBytes: 50 } }), DATASET_ERRORS.TOO_LARGE)
    throwsCode(() => importImages(entries(layout), { limits: { maxFiles: 4 } }), DATASET_ERRORS.TOO_LARGE)
    throwsCode(() => importImages(entries(layout), { limits: { maxTotalBytes: 200 } }), DATASET_ERRORS.TOO_LARGE)
    throwsCode(() => importImages(entries(layout), { limits: { maxImagePixels: 3 } }), DATASET_ERRORS.TOO_LARGE)
  })
})

describe('safePathSegments', () => {
  it('accepts relative paths and refuses everything that could leave the root', () => {
    assert.deepEqual(safePathSegments('a/b.png'), ['a', 'b.png'])
    assert.deepEqual(safePathSegments('dir/'), ['dir'])
    for (const p of ['../x.png', 'a/../../x', '/etc/passwd', 'C:/x.png', 'c:x', 'a\\..\\x', 'a\\b.png', 'a//b', './a/b', 'a/./b', '', 'a/\u0000b']) {
      throwsCode(() => safePathSegments(p), DATASET_ERRORS.UNSAFE_PATH)
    }
  })
})

describe('importImageZip', () => {
  const layout: Zippable = { 'digits/0/a.png': png(2, 2, 1), 'digits/1/a.png': png(2, 2, 2), 'digits/1/b.png': png(2, 2, 3) }

  it('reads a zip of label folders, stored or deflated, with directory entries', () => {
    const r = importImageZip(zipSync(layout))
    assert.deepEqual(r.classes, ['0', '1'])
    assert.equal(r.dataset.count, 3)
    const stored = importImageZip(zipSync({ digits: {}, ...layout }, { level: 0 }))
    assert.deepEqual(stored.dataset, r.dataset)
    assert.deepEqual(importFiles([{ path: 'd.zip', bytes: zipSync(layout) }]).dataset, r.dataset)
  })

  it('refuses zip-slip: .., absolute paths, drive letters, backslashes', () => {
    for (const evil of ['../0/x.png', 'digits/../../0/x.png', '/0/x.png', 'C:/0/x.png', '0\\..\\..\\x.png']) {
      throwsCode(() => importImageZip(zipSync({ ...layout, [evil]: png(2, 2) })), DATASET_ERRORS.UNSAFE_PATH, undefined)
    }
  })

  it('refuses a duplicate path', () => {
    const zip = patch(zipSync(layout, { level: 0 }), 'digits/1/b.png', 'digits/1/a.png')
    throwsCode(() => importImageZip(zip), DATASET_ERRORS.UNSAFE_PATH, /twice/)
  })

  it('refuses a zip bomb by its declared sizes before inflating', () => {
    const bomb = zipSync({ '0/a.png': new Uint8Array(2 * 1024 * 1024), '1/a.png': new Uint8Array(2 * 1024 * 1024) })
    assert.ok(bomb.length < 20_000)
    throwsCode(() => importImageZip(bomb, { limits: { maxFileBytes: 1024 * 1024 } }), DATASET_ERRORS.TOO_LARGE, /0\/a\.png/)
    throwsCode(() => importImageZip(bomb, { limits: { maxTotalBytes: 3 * 1024 * 1024 } }), DATASET_ERRORS.TOO_LARGE, /inflates to more than/)
    throwsCode(() => importImageZip(zipSync(layout), { limits: { maxFiles: 2 } }), DATASET_ERRORS.TOO_LARGE)
  })

  it('a header that understates a size cannot inflate past it', () => {
    const zip = zipSync({ '0/a.png': new Uint8Array(4 * 1024 * 1024) })
    // the uncompressed size sits at offset 22 of the local header and 24 of the central directory entry
    const v = new DataView(zip.buffer, zip.byteOffset, zip.byteLength)
    const cd = v.getUint32(zip.length - 22 + 16, true)
    v.setUint32(cd + 24, 100, true)
    v.setUint32(22, 100, true)
    const files = unzipEntries(zip, LIMITS)
    assert.equal(files[0]!.bytes.length, 100)
  })

  it('refuses a corrupt or truncated zip', () => {
    const zip = zipSync(layout)
    throwsCode(() => importImageZip(zip.subarray(0, zip.length - 30)), DATASET_ERRORS.CORRUPT)
    throwsCode(() => importImageZip(new TextEncoder().encode('PK\u0003\u0004 not really a zip')), DATASET_ERRORS.CORRUPT)
    const damaged = zip.slice()
    for (let i = 40; i < 120; i++) damaged[i] = 0xaa // inside the first entry's data
    throwsCode(() => importImageZip(damaged), DATASET_ERRORS.CORRUPT)
    throwsCode(() => importImageZip(zip, { limits: { maxFileBytes: 100 } }), DATASET_ERRORS.TOO_LARGE, /zip file/)
  })
})

describe('importFiles', () => {
  it('picks the importer from what was chosen', () => {
    assert.equal(importFiles([{ path: 'd.csv', bytes: new TextEncoder().encode('label,x\na,1\n') }]).summary.format, 'csv')
    assert.equal(importFiles(entries({ 'pick/a/1.png': png(1, 1), 'pick/b/1.png': png(1, 1) })).summary.format, 'images')
    throwsCode(() => importFiles([]), DATASET_ERRORS.EMPTY)
    throwsCode(() => importFiles([{ path: 'x.bin', bytes: new Uint8Array([1, 2, 3]) }]), DATASET_ERRORS.UNSUPPORTED)
    throwsCode(() => importFiles([{ path: 'a.csv', bytes: new Uint8Array(1) }, { path: 'b.csv', bytes: new Uint8Array(1) }]), DATASET_ERRORS.BAD_LAYOUT)
    throwsCode(() => importFiles(entries({ '1.png': png(1, 1), '2.png': png(1, 1) })), DATASET_ERRORS.BAD_LAYOUT, /one folder per label/)
  })
})
