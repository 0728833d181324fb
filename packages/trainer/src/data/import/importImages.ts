import type { Dataset } from '../../mnist.js'
import { classWarnings, countPerClass, declaredClassIndex, sortClassNames, tooManyClasses, unknownLabel } from './classes.js'
import { decodeGrayPng } from './decodeGrayPng.js'
import { datasetError } from './errors.js'
import { MAX_CLASSES, assertFileSize, assertRecordBytes, assertTotalSize, resolveLimits } from './limits.js'
import { isMetadataPath, safePathSegments } from './safePath.js'
import type { FileEntry, ImportOptions, ImportResult } from './types.js'
import { unzipEntries } from './unzipEntries.js'

interface Placed { label: string; path: string; bytes: Uint8Array }

/**
 * Finds `label/file` in each path. One common top folder is dropped first when
 * every file sits one level deeper (`digits/3/a.png`, as a zip of a folder or
 * a browser's folder picker gives). Anything else is refused: a file at the
 * root, a file nested deeper than its label folder.
 */
function placeEntries(entries: readonly FileEntry[], ignored: string[]): Placed[] {
  const files: { segments: string[]; entry: FileEntry }[] = []
  const seen = new Set<string>()
  for (const entry of entries) {
    const segments = safePathSegments(entry.path)
    if (entry.path.endsWith('/')) continue
    if (isMetadataPath(segments)) { ignored.push(entry.path); continue }
    const key = segments.join('/')
    if (seen.has(key)) throw datasetError('UNSAFE_PATH', `"${entry.path}" is in the upload twice`, { path: entry.path, reason: 'duplicate' })
    seen.add(key)
    files.push({ segments, entry })
  }
  if (files.length === 0) throw datasetError('EMPTY', 'no image files in the upload')
  const top = files[0]!.segments[0]
  const strip = files.every((f) => f.segments.length === 3 && f.segments[0] === top) ? 1 : 0
  return files.map(({ segments, entry }) => {
    const rest = segments.slice(strip)
    if (rest.length !== 2) {
      throw datasetError('BAD_LAYOUT', `"${entry.path}": images must be laid out as label/file.png (one folder per label)`, { path: entry.path })
    }
    return { label: rest[0]!, path: entry.path, bytes: entry.bytes }
  })
}

/**
 * Images laid out one folder per label (`cat/1.png`, `dog/7.png`), decoded
 * to grey bytes (decodeGrayPng). All images must have the same size: mixed
 * sizes are refused (DATASET_BAD_LAYOUT naming both sizes) rather than
 * resized, so no pixel is invented. Records are ordered so the data set does
 * not depend on the order files were listed in and fragments mix classes:
 * each class's files sorted by path, then taken round-robin across classes
 * in label order (class 0's first, class 1's first, ..., class 0's second, ...).
 */
export function importImages(entries: readonly FileEntry[], options: ImportOptions = {}): ImportResult {
  const limits = resolveLimits(options.limits)
  const declared = options.classes ? declaredClassIndex(options.classes) : undefined
  if (entries.length > limits.maxFiles) throw datasetError('TOO_LARGE', `${entries.length} files, at most ${limits.maxFiles}`, { files: entries.length, max: limits.maxFiles })
  let total = 0
  for (const e of entries) { assertFileSize(e.bytes.length, limits, e.path); total += e.bytes.length }
  assertTotalSize(total, limits)

  const ignored: string[] = []
  const placed = placeEntries(entries, ignored)
  let classes: string[]
  if (declared) {
    for (const p of placed) if (!declared.has(p.label)) throw unknownLabel(p.label, options.classes!, p.path, { path: p.path, folder: p.label })
    classes = [...options.classes!]
  } else {
    classes = sortClassNames(placed.map((p) => p.label))
    if (classes.length > MAX_CLASSES) throw tooManyClasses(classes.length)
  }
  const index = declared ?? new Map(classes.map((c, i) => [c, i]))

  const byClass: Placed[][] = classes.map(() => [])
  for (const p of placed) byClass[index.get(p.label)!]!.push(p)
  for (const list of byClass) list.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  const order: Placed[] = []
  for (let round = 0; order.length < placed.length; round++) {
    for (const list of byClass) if (round < list.length) order.push(list[round]!)
  }

  let width = 0
  let height = 0
  let first = ''
  let images = new Uint8Array(0)
  const labels = new Uint8Array(order.length)
  order.forEach((p, i) => {
    const img = decodeGrayPng(p.bytes, p.path, limits)
    if (i === 0) {
      width = img.width; height = img.height; first = p.path
      assertRecordBytes(order.length, width * height, limits)
      images = new Uint8Array(order.length * width * height)
    } else if (img.width !== width || img.height !== height) {
      throw datasetError('BAD_LAYOUT', `${p.path} is ${img.width}x${img.height}, ${first} is ${width}x${height}: all images must have one size (resize them first)`, {
        path: p.path, width: img.width, height: img.height, expectedWidth: width, expectedHeight: height,
      })
    }
    images.set(img.pixels, i * width * height)
    labels[i] = index.get(p.label)!
  })

  const features = width * height
  const dataset: Dataset = { count: order.length, features, images, labels }
  const classCounts = countPerClass(labels, classes.length)
  return {
    dataset,
    classes,
    features,
    shape: [height, width],
    summary: {
      format: 'images', rows: order.length, features, classCounts, skipped: 0, ignoredFiles: ignored,
      warnings: classWarnings(classes, classCounts, labels),
    },
  }
}

/** A zip of the folder-per-label layout (see importImages and unzipEntries). */
export function importImageZip(zip: Uint8Array, options: ImportOptions = {}): ImportResult {
  const limits = resolveLimits(options.limits)
  return importImages(unzipEntries(zip, limits), options)
}
