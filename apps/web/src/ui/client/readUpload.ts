import { datasetError, type FileEntry, type ImportLimits } from '@pouw/trainer'

/** The path an importer sees: relative to the picked folder when a folder was picked, else the file's name. */
export function uploadPath(file: File): string {
  return file.webkitRelativePath || file.name
}

/**
 * Reads the chosen files into memory, after checking their count and sizes
 * against the caps (File.size is known before a byte is read, so an oversized
 * pick costs nothing). Nothing is written anywhere.
 */
export async function readUpload(files: readonly File[], limits: ImportLimits): Promise<FileEntry[]> {
  if (files.length > limits.maxFiles) {
    throw datasetError('TOO_LARGE', `${files.length} files chosen, at most ${limits.maxFiles}`, { files: files.length, max: limits.maxFiles })
  }
  let total = 0
  for (const f of files) {
    const path = uploadPath(f)
    if (f.size > limits.maxFileBytes) {
      throw datasetError('TOO_LARGE', `${path}: ${f.size} bytes, at most ${limits.maxFileBytes} per file`, { path, bytes: f.size, max: limits.maxFileBytes })
    }
    total += f.size
  }
  if (total > limits.maxTotalBytes) {
    throw datasetError('TOO_LARGE', `${total} bytes chosen in all, at most ${limits.maxTotalBytes}`, { bytes: total, max: limits.maxTotalBytes })
  }
  const out: FileEntry[] = []
  for (const f of files) out.push({ path: uploadPath(f), bytes: new Uint8Array(await f.arrayBuffer()) })
  return out
}
