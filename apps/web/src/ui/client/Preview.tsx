import type { ImportResult } from '@pouw/trainer'
import { Stat } from '../Stat'
import { Thumbnail } from './Thumbnail'

const RECORDS_SHOWN = 8
const BYTES_SHOWN = 12

export interface PreviewProps {
  result: ImportResult
}

/** What an import produced: sizes, classes with counts, the first records (rows as written for CSV, thumbnails for images). */
export function Preview({ result }: PreviewProps) {
  const { dataset, classes, summary, shape, sample } = result
  const shown = Math.min(RECORDS_SHOWN, dataset.count)
  return (
    <div className="upload-preview" data-testid="upload-preview" data-format={summary.format}>
      <div className="stats">
        <Stat label="Format" value={summary.format} testId="preview-format" />
        <Stat label="Records" value={String(summary.rows)} testId="preview-rows" />
        <Stat label="Features" value={String(result.features)} testId="preview-features" unit={shape ? `${shape[0]}×${shape[1]} px` : undefined} />
        <Stat label="Classes" value={String(classes.length)} testId="preview-class-count" />
        <Stat label="Skipped" value={String(summary.skipped)} testId="preview-skipped" hint="bad records refuse the upload" />
      </div>

      {summary.warnings.length > 0 ? (
        <ul className="upload-warnings" data-testid="preview-warnings">
          {summary.warnings.map((w) => <li key={w}>{w}</li>)}
        </ul>
      ) : null}
      {summary.ignoredFiles.length > 0 ? (
        <p className="muted" data-testid="preview-ignored">
          Left out {summary.ignoredFiles.length} system file(s): {summary.ignoredFiles.slice(0, 5).join(', ')}
          {summary.ignoredFiles.length > 5 ? ', …' : ''}
        </p>
      ) : null}

      <h3>Classes</h3>
      <table className="upload-table" data-testid="preview-classes">
        <thead><tr><th>label</th><th>class</th><th>records</th></tr></thead>
        <tbody>
          {classes.map((name, i) => (
            <tr key={i} data-class={name} data-count={summary.classCounts[i]}>
              <td className="mono">{i}</td><td>{name}</td><td className="mono">{summary.classCounts[i]}</td>
            </tr>
          ))}
        </tbody>
      </table>

      <h3>First records</h3>
      {sample ? (
        <div className="upload-scroll">
          <table className="upload-table" data-testid="preview-records">
            <thead><tr>{sample.header.map((h, i) => <th key={i}>{h}</th>)}</tr></thead>
            <tbody>
              {sample.rows.map((row, r) => <tr key={r}>{row.map((cell, c) => <td key={c} className="mono">{cell}</td>)}</tr>)}
            </tbody>
          </table>
        </div>
      ) : shape ? (
        <div className="upload-thumbs" data-testid="preview-records">
          {Array.from({ length: shown }, (_, i) => (
            <figure key={i}>
              <Thumbnail
                pixels={dataset.images.subarray(i * dataset.features, (i + 1) * dataset.features)}
                width={shape[1]}
                height={shape[0]}
                title={`record ${i}: ${classes[dataset.labels[i]!]}`}
              />
              <figcaption>{classes[dataset.labels[i]!]}</figcaption>
            </figure>
          ))}
        </div>
      ) : (
        <table className="upload-table" data-testid="preview-records">
          <tbody>
            {Array.from({ length: shown }, (_, i) => (
              <tr key={i}>
                <td>{classes[dataset.labels[i]!]}</td>
                <td className="mono">
                  {Array.from(dataset.images.subarray(i * dataset.features, i * dataset.features + BYTES_SHOWN)).join(' ')}
                  {dataset.features > BYTES_SHOWN ? ' …' : ''}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      {result.featureScaling ? (
        <details className="upload-scaling">
          <summary>Feature scaling (byte = round(255 · (x − min) / (max − min)))</summary>
          <table className="upload-table" data-testid="preview-scaling">
            <thead><tr><th>column</th><th>min</th><th>max</th></tr></thead>
            <tbody>
              {result.featureScaling.columns.slice(0, 50).map((c, i) => (
                <tr key={c}><td>{c}</td><td className="mono">{result.featureScaling!.min[i]}</td><td className="mono">{result.featureScaling!.max[i]}</td></tr>
              ))}
            </tbody>
          </table>
        </details>
      ) : null}
    </div>
  )
}
