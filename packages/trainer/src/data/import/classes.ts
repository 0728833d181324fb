import type { PouwError } from '@pouw/protocol'
import { datasetError } from './errors.js'
import { MAX_CLASSES } from './limits.js'

const INTEGER = /^(?:0|[1-9]\d{0,14})$/

/** Class names in label order: numerically when every name is a plain integer, otherwise by UTF-16 code units (never by locale). */
export function sortClassNames(names: Iterable<string>): string[] {
  const list = [...new Set(names)]
  if (list.every((n) => INTEGER.test(n))) return list.sort((a, b) => Number(a) - Number(b))
  return list.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
}

/** Checks a declared class list and maps each name to its label byte. */
export function declaredClassIndex(classes: readonly string[]): Map<string, number> {
  if (!Array.isArray(classes) || classes.length === 0) throw datasetError('BAD_OPTIONS', 'the declared class list is empty')
  if (classes.length > MAX_CLASSES) {
    throw datasetError('TOO_MANY_CLASSES', `${classes.length} declared classes, at most ${MAX_CLASSES}`, { classes: classes.length, max: MAX_CLASSES })
  }
  const index = new Map<string, number>()
  classes.forEach((c, i) => {
    if (typeof c !== 'string' || c === '') throw datasetError('BAD_OPTIONS', `declared class ${i} is empty`, { index: i })
    if (index.has(c)) throw datasetError('BAD_OPTIONS', `class "${c}" is declared twice`, { class: c })
    index.set(c, i)
  })
  return index
}

export function tooManyClasses(found: number, details: Record<string, unknown> = {}): PouwError {
  return datasetError('TOO_MANY_CLASSES', `more than ${MAX_CLASSES} distinct labels (a label is one byte)`, { ...details, max: MAX_CLASSES, found })
}

export function unknownLabel(label: string, classes: readonly string[], where: string, details: Record<string, unknown>): PouwError {
  const shown = classes.length > 12 ? `${classes.slice(0, 12).join(', ')}, ...` : classes.join(', ')
  return datasetError('UNKNOWN_LABEL', `${where}: label "${label}" is not a declared class (${shown})`, { ...details, label })
}

export function countPerClass(labels: Uint8Array, classCount: number): number[] {
  const counts = new Array<number>(classCount).fill(0)
  for (let i = 0; i < labels.length; i++) counts[labels[i]!]!++
  return counts
}

/** Warnings shared by every format. */
export function classWarnings(classes: readonly string[], counts: readonly number[], labels: Uint8Array): string[] {
  const out: string[] = []
  const empty = classes.filter((_, i) => counts[i] === 0)
  if (empty.length > 0) out.push(`${empty.length} declared class(es) have no records: ${empty.slice(0, 10).join(', ')}`)
  const present = counts.filter((c) => c > 0).length
  if (present === 1) out.push('only one class has records')
  let runs = 1
  for (let i = 1; i < labels.length; i++) if (labels[i] !== labels[i - 1]) runs++
  if (present > 1 && runs === present) {
    out.push('records are sorted by label: consecutive fragments would each hold one class, so shuffle the rows before making a task')
  }
  return out
}
