import type { Dataset } from '../../mnist.js'
import type { ImportLimits } from './limits.js'

export type DatasetFormat = 'csv' | 'idx' | 'images'

/**
 * How CSV features became bytes: byte = round(255 · (x − min) / (max − min)),
 * 0 where max = min. A model user applies the same to new inputs (clamping to
 * 0..255 values outside the range seen here).
 */
export interface FeatureScaling {
  columns: string[]
  min: number[]
  max: number[]
}

export interface ImportSummary {
  format: DatasetFormat
  rows: number
  features: number
  /** records per class, indexed like `classes` */
  classCounts: number[]
  /** always 0: a bad record refuses the whole upload */
  skipped: 0
  /** files that are not data and were left out: OS metadata such as `.DS_Store`, `__MACOSX/` */
  ignoredFiles: string[]
  /** things worth knowing that are not errors (a class with no records, labels sorted in blocks) */
  warnings: string[]
}

export interface ImportResult {
  dataset: Dataset
  /** label byte -> class name */
  classes: string[]
  features: number
  /** [height, width] for images */
  shape?: [number, number]
  /** CSV only */
  featureScaling?: FeatureScaling
  summary: ImportSummary
  /** CSV only: the header and the first few rows as written, for a preview */
  sample?: { header: string[]; rows: string[][] }
}

export interface ImportOptions {
  /**
   * The class names, in label order. When given, a label outside it is
   * refused (DATASET_UNKNOWN_LABEL); when absent, the classes are the labels
   * found, sorted (numerically when all are integers).
   */
  classes?: readonly string[]
  limits?: Partial<ImportLimits>
}

/** One file of an upload: a path relative to the upload's root (`label/img.png`) and its bytes. */
export interface FileEntry {
  path: string
  bytes: Uint8Array
}
