import { datasetError } from './errors.js'

/**
 * Splits a path from an upload into its segments, refusing anything that
 * could name a place outside the upload's root when written out (zip-slip):
 * an absolute path, a drive letter, a backslash (a Windows separator that
 * some tools honour), `.` or `..` segments, empty segments, control characters.
 * A trailing `/` (a zip's directory entry) is allowed and dropped.
 */
export function safePathSegments(path: string): string[] {
  const refuse = (why: string): never => {
    throw datasetError('UNSAFE_PATH', `"${path.slice(0, 200)}": ${why}`, { path: path.slice(0, 1000), reason: why })
  }
  if (path === '') refuse('empty path')
  if (path.includes('\\')) refuse('backslash in a path')
  if (path.startsWith('/')) refuse('absolute path')
  if (/^[A-Za-z]:/.test(path)) refuse('drive letter')
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path)) refuse('control character in a path')
  const segments = (path.endsWith('/') ? path.slice(0, -1) : path).split('/')
  for (const s of segments) {
    if (s === '') refuse('empty path segment')
    if (s === '.' || s === '..') refuse(`"${s}" segment: the path leaves or names the upload's root`)
  }
  return segments
}

/** OS metadata that travels in zips and folders and is not data: `__MACOSX/...`, `.DS_Store`, `Thumbs.db`, any dot file. */
export function isMetadataPath(segments: readonly string[]): boolean {
  return segments.some((s) => s === '__MACOSX' || s.startsWith('.')) || segments[segments.length - 1] === 'Thumbs.db' || segments[segments.length - 1] === 'desktop.ini'
}
