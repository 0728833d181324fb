import type { ReactNode } from 'react'

export interface StatProps {
  label: string
  value: string
  testId?: string
  unit?: string
  hint?: ReactNode
  /** a tooltip on the number (e.g. the reason behind a count) */
  title?: string
  /** the raw value, as `data-value` on the number's element, for tests that need more digits than shown */
  rawValue?: number | null
}

/** One labelled figure. The element carrying `testId` holds only the number, so tests can parseFloat it. */
export function Stat({ label, value, testId, unit, hint, title, rawValue }: StatProps) {
  return (
    <div className="stat">
      <div className="stat-label">{label}</div>
      <div className="stat-value">
        <span data-testid={testId} title={title} data-value={rawValue === undefined ? undefined : (rawValue ?? '')}>
          {value}
        </span>
        {unit ? <span className="stat-unit">{unit}</span> : null}
      </div>
      {hint ? <div className="stat-hint">{hint}</div> : null}
    </div>
  )
}
