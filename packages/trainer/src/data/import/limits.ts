import { datasetError } from './errors.js'

/**
 * Caps checked before anything is allocated. Defaults fit a browser tab:
 * MNIST (47 MB of idx, or 70,000 PNGs) is well inside them.
 */
export interface ImportLimits {
  /** one input file, or one entry of a zip, uncompressed */
  maxFileBytes: number
  /** all input files together, zip entries counted uncompressed; also caps the imported records' bytes */
  maxTotalBytes: number
  /** files in a folder or a zip */
  maxFiles: number
  /** width x height of one image */
  maxImagePixels: number
  /** features per record */
  maxFeatures: number
}

export const DEFAULT_IMPORT_LIMITS: Readonly<ImportLimits> = Object.freeze({
  maxFileBytes: 64 * 1024 * 1024,
  maxTotalBytes: 256 * 1024 * 1024,
  maxFiles: 200_000,
  maxImagePixels: 1024 * 1024,
  maxFeatures: 1024 * 1024,
})

/** A label is one byte. */
export const MAX_CLASSES = 256

export function resolveLimits(limits?: Partial<ImportLimits>): ImportLimits {
  const out = { ...DEFAULT_IMPORT_LIMITS, ...limits }
  for (const [k, v] of Object.entries(out)) {
    if (!Number.isSafeInteger(v) || v <= 0) throw datasetError('BAD_OPTIONS', `limit ${k} must be a positive integer, got ${v}`, { limit: k, value: v })
  }
  return out
}

export function assertFileSize(bytes: number, limits: ImportLimits, what: string): void {
  if (bytes > limits.maxFileBytes) {
    throw datasetError('TOO_LARGE', `${what}: ${bytes} bytes, at most ${limits.maxFileBytes} per file`, { path: what, bytes, max: limits.maxFileBytes })
  }
}

export function assertTotalSize(bytes: number, limits: ImportLimits, what = 'upload'): void {
  if (bytes > limits.maxTotalBytes) {
    throw datasetError('TOO_LARGE', `${what}: ${bytes} bytes in all, at most ${limits.maxTotalBytes}`, { bytes, max: limits.maxTotalBytes })
  }
}

/** count x features bytes of records, checked before they are allocated */
export function assertRecordBytes(count: number, features: number, limits: ImportLimits): void {
  if (features > limits.maxFeatures) {
    throw datasetError('TOO_LARGE', `${features} features per record, at most ${limits.maxFeatures}`, { features, max: limits.maxFeatures })
  }
  assertTotalSize(count * features, limits, `${count} records of ${features} features`)
}
