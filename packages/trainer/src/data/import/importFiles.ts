import { datasetError } from './errors.js'
import { importCsv, type CsvImportOptions } from './importCsv.js'
import { importIdx } from './importIdx.js'
import { importImageZip, importImages } from './importImages.js'
import { isGzip } from './inflateCapped.js'
import type { FileEntry, ImportResult } from './types.js'

function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && (bytes[2] === 0x03 || bytes[2] === 0x05)
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1).toLowerCase()
}

/** idx dimension count from the magic, or from the conventional name (`...-idx3-ubyte.gz`) when gzipped */
function idxDims(f: FileEntry): number | undefined {
  if (!isGzip(f.bytes)) return f.bytes.length >= 4 && f.bytes[0] === 0 && f.bytes[1] === 0 && f.bytes[2] === 0x08 ? f.bytes[3] : undefined
  const m = /idx(\d)/.exec(baseName(f.path))
  return m ? Number(m[1]) : undefined
}

/**
 * One upload, whatever its format, as the page hands it over:
 * - one `.csv` (or `.txt`) file: importCsv;
 * - one zip: importImageZip;
 * - two idx files (plain or gzipped), in any order: importIdx;
 * - otherwise files with paths `label/file.png` (a picked folder): importImages.
 */
export function importFiles(files: readonly FileEntry[], options: CsvImportOptions = {}): ImportResult {
  if (files.length === 0) throw datasetError('EMPTY', 'no files chosen')
  if (files.length === 1) {
    const f = files[0]!
    const name = baseName(f.path)
    if (isZip(f.bytes)) return importImageZip(f.bytes, options)
    if (name.endsWith('.csv') || name.endsWith('.txt')) return importCsv(f.bytes, options)
    if (idxDims(f) !== undefined) throw datasetError('BAD_LAYOUT', `${f.path} is an idx file: choose the images and the labels file together`, { path: f.path })
    if (f.bytes.length === 0) throw datasetError('EMPTY', `${f.path} is empty`, { path: f.path })
    throw datasetError('UNSUPPORTED', `${f.path}: expected a .csv file, a .zip of label folders, two idx files or a folder`, { path: f.path })
  }
  if (files.length === 2) {
    const [a, b] = files as [FileEntry, FileEntry]
    const da = idxDims(a)
    const db = idxDims(b)
    if (da !== undefined && db !== undefined) {
      if (da === 1 && db !== 1) return importIdx(b.bytes, a.bytes, options)
      if (db === 1 && da !== 1) return importIdx(a.bytes, b.bytes, options)
      throw datasetError('BAD_LAYOUT', `two idx files but not one images (idx2/idx3) and one labels (idx1) file: ${a.path} has ${da} dimensions, ${b.path} ${db}`, {
        paths: [a.path, b.path],
      })
    }
  }
  const csv = files.find((f) => /\.(csv|zip)$/i.test(f.path))
  if (csv) throw datasetError('BAD_LAYOUT', `${csv.path}: choose a CSV or zip file on its own`, { path: csv.path })
  return importImages(files, options)
}
