import { unzipSync } from 'fflate'
import { datasetError } from './errors.js'
import { assertFileSize, type ImportLimits } from './limits.js'
import { safePathSegments } from './safePath.js'
import type { FileEntry } from './types.js'

/**
 * The files of a zip, with every path checked (safePathSegments) and every
 * size capped before anything is inflated: the sizes the central directory
 * declares must fit `maxFileBytes` each and `maxTotalBytes` together, and
 * each file must inflate to exactly its declared size (fflate never writes
 * past it), so a lying header cannot make a bomb. Directory entries are
 * dropped. A duplicate path is refused. Any path problem refuses the whole zip.
 */
export function unzipEntries(zip: Uint8Array, limits: ImportLimits): FileEntry[] {
  assertFileSize(zip.length, limits, 'zip file')
  const declared = new Map<string, number>()
  let total = 0
  let files = 0
  let raw: Record<string, Uint8Array>
  try {
    raw = unzipSync(zip, {
      filter: (f) => {
        safePathSegments(f.name)
        if (declared.has(f.name)) throw datasetError('UNSAFE_PATH', `"${f.name}" is in the zip twice`, { path: f.name, reason: 'duplicate' })
        if (f.name.endsWith('/')) return false
        if (++files > limits.maxFiles) throw datasetError('TOO_LARGE', `more than ${limits.maxFiles} files in the zip`, { max: limits.maxFiles })
        if (f.compression !== 0 && f.compression !== 8) {
          throw datasetError('UNSUPPORTED', `${f.name}: zip compression method ${f.compression}; only stored and deflate are read`, { path: f.name, method: f.compression })
        }
        assertFileSize(f.originalSize, limits, f.name)
        total += f.originalSize
        if (total > limits.maxTotalBytes) {
          throw datasetError('TOO_LARGE', `the zip inflates to more than ${limits.maxTotalBytes} bytes`, { bytes: total, max: limits.maxTotalBytes })
        }
        declared.set(f.name, f.originalSize)
        return true
      },
    })
  } catch (e) {
    if ((e as { name?: unknown }).name === 'PouwError') throw e
    throw datasetError('CORRUPT', `not a readable zip file (${(e as Error).message})`)
  }
  const out: FileEntry[] = []
  for (const [path, size] of declared) {
    const bytes = raw[path]
    if (!bytes || bytes.length !== size) {
      throw datasetError('CORRUPT', `${path}: inflates to ${bytes?.length ?? 0} bytes, the zip says ${size}`, { path, bytes: bytes?.length ?? 0, declared: size })
    }
    out.push({ path, bytes })
  }
  return out
}
