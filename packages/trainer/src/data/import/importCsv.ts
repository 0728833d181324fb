import type { PouwError } from '@pouw/protocol'
import type { Dataset } from '../../mnist.js'
import { classWarnings, countPerClass, declaredClassIndex, sortClassNames, tooManyClasses, unknownLabel } from './classes.js'
import { datasetError } from './errors.js'
import { MAX_CLASSES, assertFileSize, assertRecordBytes, resolveLimits } from './limits.js'
import type { ImportOptions, ImportResult } from './types.js'

export interface CsvImportOptions extends ImportOptions {
  /** name of the label column in the header; default 'label' */
  labelColumn?: string
}

const QUOTE = 0x22
const COMMA = 0x2c
const LF = 0x0a
const CR = 0x0d
const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/
const SAMPLE_ROWS = 5

function corrupt(line: number, message: string): PouwError {
  return datasetError('CORRUPT', `line ${line}: ${message}`, { line })
}

/**
 * RFC 4180 records: fields split by commas, records by CRLF, LF or CR; a
 * field in double quotes may hold commas, line breaks and `""` for a quote.
 * A quote inside an unquoted field, or text after a closing quote, is refused.
 * `line` is the 1-based line where the record starts.
 */
export function forEachCsvRecord(text: string, onRecord: (fields: string[], line: number) => void): void {
  const n = text.length
  let i = 0
  let line = 1
  while (i < n) {
    const startLine = line
    const fields: string[] = []
    for (;;) {
      if (text.charCodeAt(i) === QUOTE) {
        const open = line
        let value = ''
        let from = ++i
        for (;;) {
          if (i >= n) throw corrupt(open, 'a quoted field is never closed')
          const c = text.charCodeAt(i)
          if (c === QUOTE) {
            if (text.charCodeAt(i + 1) === QUOTE) { value += text.slice(from, i + 1); i += 2; from = i; continue }
            value += text.slice(from, i)
            i++
            break
          }
          if (c === LF || (c === CR && text.charCodeAt(i + 1) !== LF)) line++
          i++
        }
        const after = text.charCodeAt(i)
        if (i < n && after !== COMMA && after !== LF && after !== CR) throw corrupt(line, 'text after a closing quote')
        fields.push(value)
      } else {
        const from = i
        while (i < n) {
          const c = text.charCodeAt(i)
          if (c === COMMA || c === LF || c === CR) break
          if (c === QUOTE) throw corrupt(line, 'a quote inside an unquoted field (quote the whole field and write "" for a quote)')
          i++
        }
        fields.push(text.slice(from, i))
      }
      if (i >= n) break
      const c = text.charCodeAt(i++)
      if (c === COMMA) continue
      if (c === CR && text.charCodeAt(i) === LF) i++
      line++
      break
    }
    onRecord(fields, startLine)
  }
}

function decodeText(input: string | Uint8Array): string {
  let text: string
  if (typeof input === 'string') text = input
  else {
    try { text = new TextDecoder('utf-8', { fatal: true }).decode(input) } catch (_) {
      throw datasetError('CORRUPT', 'the CSV file is not valid UTF-8 text')
    }
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
}

function isBlank(fields: string[]): boolean {
  return fields.length === 1 && fields[0]!.trim() === ''
}

/**
 * A CSV file with a header row: one label column (by name) and numeric
 * feature columns, every one of them. Each feature is scaled to a byte by its
 * column's min and max over the file (see FeatureScaling). Rows stay in file
 * order. Blank lines are allowed only at the end of the file. The text is
 * read twice (ranges first, bytes second) so only the output is held in memory.
 */
export function importCsv(input: string | Uint8Array, options: CsvImportOptions = {}): ImportResult {
  const limits = resolveLimits(options.limits)
  const size = typeof input === 'string' ? input.length : input.length
  assertFileSize(size, limits, 'CSV file')
  const text = decodeText(input)
  const labelColumn = options.labelColumn ?? 'label'
  const declared = options.classes ? declaredClassIndex(options.classes) : undefined

  let header: string[] | undefined
  let labelAt = -1
  let featureColumns: string[] = []
  let min = new Float64Array(0)
  let max = new Float64Array(0)
  const found = new Map<string, number>() // label -> first-seen id when no classes are declared
  const rowLabels: number[] = []
  const sample: string[][] = []
  let blankLine = 0

  forEachCsvRecord(text, (fields, line) => {
    if (!header) {
      if (isBlank(fields)) throw datasetError('EMPTY', 'the CSV file starts with a blank line; the first line must be the header', { line })
      header = fields.map((f) => f.trim())
      labelAt = header.indexOf(labelColumn)
      if (labelAt < 0) {
        throw datasetError('BAD_LAYOUT', `no "${labelColumn}" column in the header (${header.slice(0, 20).join(', ')})`, { line, column: labelColumn, header: header.slice(0, 100) })
      }
      const seen = new Set<string>()
      header.forEach((name, c) => {
        if (name === '') throw datasetError('BAD_LAYOUT', `header column ${c + 1} has no name`, { line, columnIndex: c + 1 })
        if (seen.has(name)) throw datasetError('BAD_LAYOUT', `header names column "${name}" twice`, { line, column: name })
        seen.add(name)
      })
      featureColumns = header.filter((_, c) => c !== labelAt)
      if (featureColumns.length === 0) throw datasetError('BAD_LAYOUT', 'the header has a label column and no feature columns', { line })
      assertRecordBytes(1, featureColumns.length, limits)
      min = new Float64Array(featureColumns.length).fill(Infinity)
      max = new Float64Array(featureColumns.length).fill(-Infinity)
      return
    }
    const row = rowLabels.length + 1
    if (isBlank(fields)) { if (!blankLine) blankLine = line; return }
    if (blankLine) throw datasetError('RAGGED_ROW', `line ${blankLine} is blank (blank lines are allowed only at the end)`, { line: blankLine, row })
    if (fields.length !== header.length) {
      throw datasetError('RAGGED_ROW', `line ${line} (row ${row}) has ${fields.length} cells, the header has ${header.length}`, {
        line, row, cells: fields.length, expected: header.length,
      })
    }
    const label = fields[labelAt]!.trim()
    if (label === '') throw datasetError('UNKNOWN_LABEL', `line ${line} (row ${row}): the label is empty`, { line, row, column: labelColumn, label })
    let id: number | undefined
    if (declared) {
      id = declared.get(label)
      if (id === undefined) throw unknownLabel(label, options.classes!, `line ${line} (row ${row}), column "${labelColumn}"`, { line, row, column: labelColumn })
    } else {
      id = found.get(label)
      if (id === undefined) {
        if (found.size === MAX_CLASSES) throw tooManyClasses(found.size + 1, { line, row, column: labelColumn, label })
        id = found.size
        found.set(label, id)
      }
    }
    let f = 0
    for (let c = 0; c < fields.length; c++) {
      if (c === labelAt) continue
      const cell = fields[c]!.trim()
      const x = NUMBER.test(cell) ? Number(cell) : NaN
      if (!Number.isFinite(x)) {
        const column = featureColumns[f]!
        const shown = cell === '' ? 'an empty cell' : `"${cell.length > 40 ? `${cell.slice(0, 40)}...` : cell}"`
        throw datasetError('NOT_NUMERIC', `line ${line} (row ${row}), column "${column}": ${shown} is not a number`, {
          line, row, column, columnIndex: c + 1, value: cell.slice(0, 100),
        })
      }
      if (x < min[f]!) min[f] = x
      if (x > max[f]!) max[f] = x
      f++
    }
    rowLabels.push(id)
    if (sample.length < SAMPLE_ROWS) sample.push(fields)
  })

  if (!header) throw datasetError('EMPTY', 'the CSV file is empty')
  const count = rowLabels.length
  if (count === 0) throw datasetError('EMPTY', 'the CSV file has a header and no rows')
  const features = featureColumns.length
  assertRecordBytes(count, features, limits)

  let classes: string[]
  const labels = new Uint8Array(count)
  if (options.classes) {
    classes = [...options.classes]
    for (let r = 0; r < count; r++) labels[r] = rowLabels[r]!
  } else {
    classes = sortClassNames(found.keys())
    const remap = new Uint8Array(found.size)
    for (const [name, id] of found) remap[id] = classes.indexOf(name)
    for (let r = 0; r < count; r++) labels[r] = remap[rowLabels[r]!]!
  }

  // second pass: the text is known good; scale every feature to a byte
  const images = new Uint8Array(count * features)
  let r = -1
  let o = 0
  const width = Array.from(max, (hi, f) => hi - min[f]!)
  forEachCsvRecord(text, (fields) => {
    if (r++ < 0 || isBlank(fields)) return
    let f = 0
    for (let c = 0; c < fields.length; c++) {
      if (c === labelAt) continue
      const w = width[f]!
      images[o++] = w > 0 ? Math.round((255 * (Number(fields[c]!.trim()) - min[f]!)) / w) : 0
      f++
    }
  })

  const dataset: Dataset = { count, features, images, labels }
  const classCounts = countPerClass(labels, classes.length)
  return {
    dataset,
    classes,
    features,
    featureScaling: { columns: featureColumns, min: Array.from(min), max: Array.from(max) },
    summary: {
      format: 'csv', rows: count, features, classCounts, skipped: 0, ignoredFiles: [],
      warnings: classWarnings(classes, classCounts, labels),
    },
    sample: { header, rows: sample },
  }
}
