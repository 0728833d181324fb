import { useCallback, useRef, useState, type ChangeEvent } from 'react'
import { isPouwError, toHex } from '@pouw/protocol'
import { DEFAULT_IMPORT_LIMITS, datasetHash, importFiles, type FileEntry, type ImportResult } from '@pouw/trainer'
import { Panel } from '../Panel'
import { Preview } from './Preview'
import { readUpload } from './readUpload'
import './upload.css'

type UploadState =
  | { kind: 'idle' }
  | { kind: 'reading'; files: number }
  | { kind: 'preview'; result: ImportResult; names: string[] }
  | { kind: 'error'; code: string; message: string; details: Record<string, unknown> }
  | { kind: 'confirmed'; result: ImportResult; hashHex: string }

export interface UploadPanelProps {
  /** called when the client confirms a previewed data set; nothing happens before that */
  onConfirm?: (result: ImportResult, hashHex: string) => void
}

function parseClassList(text: string): string[] | undefined {
  const list = text.split(',').map((s) => s.trim()).filter((s) => s !== '')
  return list.length > 0 ? list : undefined
}

const MIB = 1024 * 1024

/**
 * The client's data set upload: pick files (a CSV, two idx files, a zip of
 * label folders) or a folder of label folders, see what they hold, and only
 * then confirm. Reading and decoding run on the main thread, after one yield
 * so "Reading…" shows; a worker would keep the page responsive for uploads of
 * hundreds of MB (not built yet). A refused upload shows its code and leaves
 * no state behind: the previous preview is dropped.
 */
export function UploadPanel({ onConfirm }: UploadPanelProps) {
  const [state, setState] = useState<UploadState>({ kind: 'idle' })
  const [labelColumn, setLabelColumn] = useState('label')
  const [classText, setClassText] = useState('')
  const picked = useRef<FileEntry[] | null>(null)
  const run = useRef(0)

  const analyse = useCallback((entries: FileEntry[], label: string, classes: string) => {
    try {
      const result = importFiles(entries, { labelColumn: label || 'label', classes: parseClassList(classes) })
      setState({ kind: 'preview', result, names: entries.map((e) => e.path) })
    } catch (e) {
      if (isPouwError(e)) setState({ kind: 'error', code: e.code, message: e.message, details: e.details })
      else setState({ kind: 'error', code: 'INTERNAL', message: String(e), details: {} })
    }
  }, [])

  const onFiles = useCallback(async (event: ChangeEvent<HTMLInputElement>) => {
    const files = Array.from(event.target.files ?? [])
    event.target.value = '' // picking the same files again still fires change
    if (files.length === 0) return
    const id = ++run.current
    picked.current = null
    setState({ kind: 'reading', files: files.length })
    await new Promise((r) => setTimeout(r, 0))
    let entries: FileEntry[]
    try {
      entries = await readUpload(files, DEFAULT_IMPORT_LIMITS)
    } catch (e) {
      if (id !== run.current) return
      if (isPouwError(e)) setState({ kind: 'error', code: e.code, message: e.message, details: e.details })
      else setState({ kind: 'error', code: 'DATASET_CORRUPT', message: `could not read the files (${String(e)})`, details: {} })
      return
    }
    if (id !== run.current) return
    picked.current = entries
    analyse(entries, labelColumn, classText)
  }, [analyse, labelColumn, classText])

  const reanalyse = useCallback(() => {
    if (picked.current) analyse(picked.current, labelColumn, classText)
  }, [analyse, labelColumn, classText])

  const confirm = useCallback(() => {
    if (state.kind !== 'preview') return
    const hashHex = toHex(datasetHash(state.result.dataset))
    setState({ kind: 'confirmed', result: state.result, hashHex })
    onConfirm?.(state.result, hashHex)
  }, [state, onConfirm])

  const clear = useCallback(() => {
    run.current++
    picked.current = null
    setState({ kind: 'idle' })
  }, [])

  const busy = state.kind === 'reading'
  return (
    <Panel title="Upload a data set" className="panel-upload" aside={<span className="badge" data-testid="upload-state" data-state={state.kind}>{state.kind}</span>}>
      <p className="muted">
        A <code>.csv</code> with a header and a label column; an idx pair (<code>images-idx3-ubyte</code> and{' '}
        <code>labels-idx1-ubyte</code>, gzipped or not); or PNG images in one folder per label, as a folder or a{' '}
        <code>.zip</code>. Files stay in this tab: nothing is stored or paid until you confirm. Up to{' '}
        {DEFAULT_IMPORT_LIMITS.maxFileBytes / MIB} MiB a file, {DEFAULT_IMPORT_LIMITS.maxTotalBytes / MIB} MiB in all.
      </p>

      <div className="upload-pickers">
        <label className="button upload-button">
          Choose files…
          <input type="file" multiple hidden disabled={busy} onChange={onFiles} data-testid="upload-input" accept=".csv,.txt,.zip,.gz,.idx,application/zip,text/csv,*/*" />
        </label>
        <label className="button upload-button">
          Choose a folder…
          <input type="file" multiple hidden disabled={busy} onChange={onFiles} data-testid="upload-folder" {...{ webkitdirectory: '' }} />
        </label>
        <label className="upload-option">
          CSV label column
          <input type="text" value={labelColumn} onChange={(e) => setLabelColumn(e.target.value)} onBlur={reanalyse} data-testid="upload-label-column" />
        </label>
        <label className="upload-option">
          Classes (optional, comma-separated, in label order)
          <input type="text" value={classText} placeholder="e.g. cat, dog" onChange={(e) => setClassText(e.target.value)} onBlur={reanalyse} data-testid="upload-classes" />
        </label>
      </div>

      {state.kind === 'reading' ? <p className="muted" data-testid="upload-reading">Reading {state.files} file(s)…</p> : null}

      {state.kind === 'error' ? (
        <div className="banner banner-error" role="alert" data-testid="upload-error" data-code={state.code}>
          <strong><code>{state.code}</code></strong> {state.message.replace(`${state.code}: `, '')}
          {Object.keys(state.details).length > 0 ? <pre className="upload-details mono">{JSON.stringify(state.details, null, 1)}</pre> : null}
        </div>
      ) : null}

      {state.kind === 'preview' ? (
        <>
          <Preview result={state.result} />
          <div className="upload-actions">
            <button type="button" className="button button-start" onClick={confirm} data-testid="upload-confirm">Use this data set</button>
            <button type="button" className="button upload-button" onClick={clear} data-testid="upload-cancel">Cancel</button>
          </div>
        </>
      ) : null}

      {state.kind === 'confirmed' ? (
        <div className="banner" role="status" data-testid="upload-confirmed" data-hash={state.hashHex}>
          Data set ready: {state.result.dataset.count} records, H<sub>dataset</sub> <code>{state.hashHex}</code>. Nothing has been
          stored or paid yet: define the task below.
          <div className="upload-actions"><button type="button" className="button upload-button" onClick={clear}>Start over</button></div>
        </div>
      ) : null}
    </Panel>
  )
}
