import { isPouwError } from '@pouw/protocol'
import { parseIdx, type Dataset } from '../../mnist.js'
import { classWarnings, countPerClass, declaredClassIndex } from './classes.js'
import { datasetError } from './errors.js'
import { inflateCapped, isGzip } from './inflateCapped.js'
import { assertFileSize, assertRecordBytes, assertTotalSize, resolveLimits, type ImportLimits } from './limits.js'
import type { ImportOptions, ImportResult } from './types.js'

function unpack(bytes: Uint8Array, what: string, limits: ImportLimits): Uint8Array {
  assertFileSize(bytes.length, limits, what)
  if (!isGzip(bytes)) return bytes
  return inflateCapped(bytes, 'gzip', limits.maxFileBytes, what, (n) =>
    datasetError('TOO_LARGE', `${what}: inflates past ${limits.maxFileBytes} bytes, the cap per file`, { path: what, bytes: n, max: limits.maxFileBytes }))
}

function parse(bytes: Uint8Array, what: string): { dims: number[]; data: Uint8Array } {
  try {
    return parseIdx(bytes, what)
  } catch (e) {
    // parseIdx speaks for MNIST files on disk (DATA_BAD_IDX); an upload gets the dataset code
    if (isPouwError(e)) throw datasetError('CORRUPT', e.message.replace(/^[A-Z_]+: /, ''), { path: what })
    throw e
  }
}

/**
 * An MNIST-style pair: images idx3-ubyte (count x height x width) or an idx2
 * (count x features), and labels idx1-ubyte (count). Either may be gzipped,
 * as MNIST is distributed. Label bytes are the class indices; the classes are
 * '0'..max label unless declared. The dataset's images view the given (or
 * inflated) bytes without a copy.
 */
export function importIdx(imagesIdx: Uint8Array, labelsIdx: Uint8Array, options: ImportOptions = {}): ImportResult {
  const limits = resolveLimits(options.limits)
  const declared = options.classes ? declaredClassIndex(options.classes) : undefined
  assertTotalSize(imagesIdx.length + labelsIdx.length, limits)
  const img = parse(unpack(imagesIdx, 'images idx', limits), 'images idx')
  const lab = parse(unpack(labelsIdx, 'labels idx', limits), 'labels idx')
  if (lab.dims.length !== 1) {
    throw datasetError('BAD_LAYOUT', `the labels idx has ${lab.dims.length} dimensions (${lab.dims.join('x')}), expected 1: are the two files swapped?`, { dims: lab.dims })
  }
  if (img.dims.length !== 2 && img.dims.length !== 3) {
    throw datasetError('BAD_LAYOUT', `the images idx has ${img.dims.length} dimensions (${img.dims.join('x')}), expected count x height x width or count x features`, { dims: img.dims })
  }
  const count = img.dims[0]!
  if (count !== lab.dims[0]) throw datasetError('BAD_LAYOUT', `${count} images but ${lab.dims[0]} labels`, { images: count, labels: lab.dims[0] })
  if (count === 0) throw datasetError('EMPTY', 'the idx files hold no records')
  const features = img.dims.slice(1).reduce((a, b) => a * b, 1)
  if (features === 0) throw datasetError('EMPTY', `the images idx has records of ${img.dims.slice(1).join('x')} features`, { dims: img.dims })
  assertRecordBytes(count, features, limits)

  const labels = lab.data
  let top = 0
  for (let i = 0; i < count; i++) if (labels[i]! > top) top = labels[i]!
  let classes: string[]
  if (declared) {
    classes = [...options.classes!]
    if (top >= classes.length) {
      const record = labels.findIndex((l) => l >= classes.length)
      throw datasetError('UNKNOWN_LABEL', `record ${record}: label ${labels[record]} but only ${classes.length} classes are declared`, {
        record, label: labels[record], classes: classes.length,
      })
    }
  } else {
    classes = Array.from({ length: top + 1 }, (_, i) => String(i))
  }

  const dataset: Dataset = { count, features, images: img.data, labels }
  const classCounts = countPerClass(labels, classes.length)
  return {
    dataset,
    classes,
    features,
    shape: img.dims.length === 3 ? [img.dims[1]!, img.dims[2]!] : undefined,
    summary: {
      format: 'idx', rows: count, features, classCounts, skipped: 0, ignoredFiles: [],
      warnings: classWarnings(classes, classCounts, labels),
    },
  }
}
