// Run: node --import ./scripts/node-polyfills.mjs --import tsx --test packages/trainer/test/importCsv.test.ts
// CSV upload: RFC 4180 parsing, per-column min-max scaling to bytes, class lists, and every refusal with its code and place.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isPouwError } from '@pouw/protocol'
import { DATASET_ERRORS, forEachCsvRecord, importCsv, type CsvImportOptions } from '../src/data/index.js'
import { throwsCode } from './throwsCode.js'

function records(text: string): { fields: string[]; line: number }[] {
  const out: { fields: string[]; line: number }[] = []
  forEachCsvRecord(text, (fields, line) => out.push({ fields, line }))
  return out
}

/** the PouwError thrown by fn, checked for code */
function errorOf(fn: () => unknown, code: string): { message: string; details: Record<string, unknown> } {
  try { fn() } catch (e) {
    assert.ok(isPouwError(e), `expected a PouwError, got ${String(e)}`)
    assert.equal(e.code, code, e.message)
    return e
  }
  assert.fail(`expected ${code}, nothing was thrown`)
}

describe('forEachCsvRecord (RFC 4180)', () => {
  it('splits on commas and CRLF, LF or CR line ends', () => {
    assert.deepEqual(records('a,b\r\n1,2\n3,4\r5,6').map((r) => r.fields), [['a', 'b'], ['1', '2'], ['3', '4'], ['5', '6']])
  })

  it('reads quoted fields with commas, line breaks and doubled quotes, and counts lines', () => {
    const r = records('x,y\n"a,b","say ""hi"""\n"two\r\nlines",z\nlast,"",\n')
    assert.deepEqual(r.map((x) => x.fields), [['x', 'y'], ['a,b', 'say "hi"'], ['two\r\nlines', 'z'], ['last', '', '']])
    assert.deepEqual(r.map((x) => x.line), [1, 2, 3, 5])
  })

  it('a final line break ends the last record and adds none', () => {
    assert.equal(records('a\n1\n').length, 2)
    assert.equal(records('a\n1').length, 2)
  })

  it('refuses an unclosed quote, a quote inside an unquoted field, text after a closing quote', () => {
    throwsCode(() => records('a,b\n"open,1\n'), DATASET_ERRORS.CORRUPT, /line 2: a quoted field is never closed/)
    throwsCode(() => records('a,b\nx"y,1\n'), DATASET_ERRORS.CORRUPT, /line 2: a quote inside an unquoted field/)
    throwsCode(() => records('a,b\n"x"y,1\n'), DATASET_ERRORS.CORRUPT, /line 2: text after a closing quote/)
  })
})

describe('importCsv', () => {
  const csv = 'f1,label,f2\n0,cat,10\n5,dog,20\n10,cat,30\n2.5,dog,10\n'

  it('quantises each column by its own min and max and keeps rows in order', () => {
    const r = importCsv(csv)
    assert.deepEqual(r.classes, ['cat', 'dog'])
    assert.equal(r.features, 2)
    assert.equal(r.dataset.count, 4)
    assert.equal(r.dataset.features, 2)
    assert.deepEqual([...r.dataset.labels], [0, 1, 0, 1])
    // f1: 0..10, f2: 10..30; round(255 · (x − min) / (max − min))
    assert.deepEqual([...r.dataset.images], [0, 0, 128, 128, 255, 255, 64, 0])
    assert.deepEqual(r.featureScaling, { columns: ['f1', 'f2'], min: [0, 10], max: [10, 30] })
    assert.deepEqual(r.summary.classCounts, [2, 2])
    assert.equal(r.summary.rows, 4)
    assert.equal(r.summary.skipped, 0)
    assert.equal(r.summary.format, 'csv')
    assert.deepEqual(r.sample?.header, ['f1', 'label', 'f2'])
    assert.deepEqual(r.sample?.rows[0], ['0', 'cat', '10'])
  })

  it('reads bytes with a UTF-8 BOM the same as a string', () => {
    const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(csv)])
    const a = importCsv(bytes)
    const b = importCsv(csv)
    assert.deepEqual(a.dataset, b.dataset)
  })

  it('a constant column scales to 0; numbers in exponent and signed forms are read', () => {
    const r = importCsv('label,a,b\n1,7,-1e2\n2,7,+.5\n1,7,1E2\n')
    assert.deepEqual([...r.dataset.images], [0, 0, 0, 128, 0, 255])
    assert.deepEqual(r.featureScaling!.min, [7, -100])
  })

  it('sorts integer class names numerically, and honours a declared class list order', () => {
    const r = importCsv('label,x\n10,1\n2,2\n1,3\n')
    assert.deepEqual(r.classes, ['1', '2', '10'])
    assert.deepEqual([...r.dataset.labels], [2, 1, 0])
    const d = importCsv('label,x\nb,1\na,2\n', { classes: ['b', 'a', 'c'] })
    assert.deepEqual(d.classes, ['b', 'a', 'c'])
    assert.deepEqual([...d.dataset.labels], [0, 1])
    assert.deepEqual(d.summary.classCounts, [1, 1, 0])
    assert.ok(d.summary.warnings.some((w) => /no records: c/.test(w)))
  })

  it('takes the label column by name', () => {
    const r = importCsv('y,x\n1,5\n0,6\n', { labelColumn: 'y' } satisfies CsvImportOptions)
    assert.deepEqual(r.classes, ['0', '1'])
    throwsCode(() => importCsv('y,x\n1,5\n'), DATASET_ERRORS.BAD_LAYOUT, /no "label" column/)
  })

  it('warns when rows are sorted by label', () => {
    const r = importCsv('label,x\na,1\na,2\nb,3\nb,4\n')
    assert.ok(r.summary.warnings.some((w) => /sorted by label/.test(w)))
    assert.deepEqual(importCsv('label,x\na,1\nb,2\na,3\n').summary.warnings, [])
  })

  it('allows blank lines at the end only', () => {
    assert.equal(importCsv('label,x\na,1\n\n\n').dataset.count, 1)
    const e = errorOf(() => importCsv('label,x\na,1\n\nb,2\n'), DATASET_ERRORS.RAGGED_ROW)
    assert.equal(e.details.line, 3)
  })

  it('refuses a ragged row, naming its line and row', () => {
    const e = errorOf(() => importCsv('label,a,b\nx,1,2\ny,3\n'), DATASET_ERRORS.RAGGED_ROW)
    assert.match(e.message, /line 3 \(row 2\) has 2 cells, the header has 3/)
    assert.deepEqual([e.details.line, e.details.row, e.details.cells, e.details.expected], [3, 2, 2, 3])
    throwsCode(() => importCsv('label,a\nx,1,2\n'), DATASET_ERRORS.RAGGED_ROW)
  })

  it('refuses a non-numeric, empty, infinite or hex cell, naming row and column', () => {
    const e = errorOf(() => importCsv('label,a,b\nx,1,2\ny,3,abc\n'), DATASET_ERRORS.NOT_NUMERIC)
    assert.match(e.message, /line 3 \(row 2\), column "b": "abc" is not a number/)
    assert.deepEqual([e.details.row, e.details.column, e.details.columnIndex], [2, 'b', 3])
    throwsCode(() => importCsv('label,a\nx,\n'), DATASET_ERRORS.NOT_NUMERIC, /an empty cell/)
    throwsCode(() => importCsv('label,a\nx,1e999\n'), DATASET_ERRORS.NOT_NUMERIC)
    throwsCode(() => importCsv('label,a\nx,0x10\n'), DATASET_ERRORS.NOT_NUMERIC)
    throwsCode(() => importCsv('label,a\nx,NaN\n'), DATASET_ERRORS.NOT_NUMERIC)
  })

  it('refuses a label outside the declared classes, and an empty label', () => {
    const e = errorOf(() => importCsv('label,a\ncat,1\nbird,2\n', { classes: ['cat', 'dog'] }), DATASET_ERRORS.UNKNOWN_LABEL)
    assert.match(e.message, /line 3 \(row 2\), column "label": label "bird" is not a declared class \(cat, dog\)/)
    assert.deepEqual([e.details.row, e.details.column, e.details.label], [2, 'label', 'bird'])
    throwsCode(() => importCsv('label,a\n,1\n'), DATASET_ERRORS.UNKNOWN_LABEL, /label is empty/)
  })

  it('refuses more than 256 classes', () => {
    const rows = Array.from({ length: 257 }, (_, i) => `c${i},${i}`).join('\n')
    const e = errorOf(() => importCsv(`label,x\n${rows}\n`), DATASET_ERRORS.TOO_MANY_CLASSES)
    assert.equal(e.details.row, 257)
    assert.equal(importCsv(`label,x\n${rows.split('\n').slice(0, 256).join('\n')}`).classes.length, 256)
    throwsCode(() => importCsv('label,x\na,1\n', { classes: Array.from({ length: 257 }, (_, i) => `c${i}`) }), DATASET_ERRORS.TOO_MANY_CLASSES)
  })

  it('refuses empty input, a header alone, a bad header, bad UTF-8', () => {
    throwsCode(() => importCsv(''), DATASET_ERRORS.EMPTY)
    throwsCode(() => importCsv('label,x\n'), DATASET_ERRORS.EMPTY, /no rows/)
    throwsCode(() => importCsv('label,x,x\n1,2,3\n'), DATASET_ERRORS.BAD_LAYOUT, /twice/)
    throwsCode(() => importCsv('label\n1\n'), DATASET_ERRORS.BAD_LAYOUT, /no feature columns/)
    throwsCode(() => importCsv(new Uint8Array([0x6c, 0x2c, 0xff, 0x0a])), DATASET_ERRORS.CORRUPT, /UTF-8/)
  })

  it('refuses a file over the size cap before reading it, and a bad class list', () => {
    throwsCode(() => importCsv('label,x\na,1\n', { limits: { maxFileBytes: 5 } }), DATASET_ERRORS.TOO_LARGE)
    throwsCode(() => importCsv('label,a,b\nx,1,2\n', { limits: { maxFeatures: 1 } }), DATASET_ERRORS.TOO_LARGE)
    throwsCode(() => importCsv('label,a\nx,1\ny,2\n', { limits: { maxTotalBytes: 1 } }), DATASET_ERRORS.TOO_LARGE)
    throwsCode(() => importCsv('label,a\nx,1\n', { classes: ['x', 'x'] }), DATASET_ERRORS.BAD_OPTIONS)
    throwsCode(() => importCsv('label,a\nx,1\n', { limits: { maxFileBytes: -1 } }), DATASET_ERRORS.BAD_OPTIONS)
  })

  it('only ever throws its own errors on garbage', () => {
    let seed = 7
    const alphabet = 'ab,,"\n\r01.-e \t'
    for (let t = 0; t < 500; t++) {
      let s = 'label,x\n'
      const n = (seed = (seed * 1103515245 + 12345) >>> 0) % 40
      for (let i = 0; i < n; i++) s += alphabet[(seed = (seed * 1103515245 + 12345) >>> 0) % alphabet.length]
      try { importCsv(s) } catch (e) { assert.ok(isPouwError(e) && e.code.startsWith('DATASET_'), String(e)) }
    }
  })
})
