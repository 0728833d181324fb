import type { ReactNode } from 'react'

export interface StatProps {
  label: string
  value: string
  testId?: string
  unit?: string
  hint?: ReactNode
}

/** One labelled figure. The element carrying `testId` holds only the number, so tests can parseFloat it. */
export function Stat({ label, value, testId, unit, hint }: StatProps) {
  return (
    <div className="stat">
      <div className="stat-label">{label}</div>
      <div className="stat-value">
        <span data-testid={testId}>{value}</span>
        {unit ? <span className="stat-unit">{unit}</span> : null}
      </div>
      {hint ? <div className="stat-hint">{hint}</div> : null}
    </div>
  )
}
