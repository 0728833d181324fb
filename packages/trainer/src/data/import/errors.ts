import { PouwError } from '@pouw/protocol'

/**
 * Why an uploaded data set was refused. These are the client's own files, so
 * every one is "the input broke a rule": the importer refuses the whole upload
 * (it never skips a bad record) and returns nothing. `details` names where:
 * `line`/`row`/`column` for CSV, `path` for a file in a folder or zip,
 * `record` for idx.
 */
export const DATASET_ERRORS = {
  /** nothing to import: no file, an empty file, a header without rows, zero records */
  EMPTY: 'DATASET_EMPTY',
  /** a CSV row with more or fewer cells than the header */
  RAGGED_ROW: 'DATASET_RAGGED_ROW',
  /** a feature cell that is not a finite decimal number */
  NOT_NUMERIC: 'DATASET_NOT_NUMERIC',
  /** a label not in the declared class list, or an empty label */
  UNKNOWN_LABEL: 'DATASET_UNKNOWN_LABEL',
  /** more than 256 classes (a label is one byte) */
  TOO_MANY_CLASSES: 'DATASET_TOO_MANY_CLASSES',
  /** a file, an image, a record or the whole upload over its cap */
  TOO_LARGE: 'DATASET_TOO_LARGE',
  /** a path outside the upload's root: `..`, absolute, a drive letter, a backslash, a duplicate */
  UNSAFE_PATH: 'DATASET_UNSAFE_PATH',
  /** bytes that are not what they claim: bad zip, bad PNG, bad idx, bad UTF-8, unclosed CSV quote */
  CORRUPT: 'DATASET_CORRUPT',
  /** a file type we do not read (JPEG, GIF, ...) */
  UNSUPPORTED: 'DATASET_UNSUPPORTED',
  /** files not laid out as one format: no label column, not label/file, images of different sizes */
  BAD_LAYOUT: 'DATASET_BAD_LAYOUT',
  /** the importer was called with bad options (a class list with duplicates, ...) */
  BAD_OPTIONS: 'DATASET_BAD_OPTIONS',
} as const

export type DatasetErrorCode = (typeof DATASET_ERRORS)[keyof typeof DATASET_ERRORS]

export function datasetError(code: keyof typeof DATASET_ERRORS, message: string, details?: Record<string, unknown>): PouwError {
  return new PouwError(DATASET_ERRORS[code], message, details)
}
