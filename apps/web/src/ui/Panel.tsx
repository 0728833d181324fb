import type { ReactNode } from 'react'

export interface PanelProps {
  title: string
  className?: string
  aside?: ReactNode
  children: ReactNode
}

export function Panel({ title, className, aside, children }: PanelProps) {
  return (
    <section className={className ? `panel ${className}` : 'panel'}>
      <header className="panel-header">
        <h2>{title}</h2>
        {aside ? <div className="panel-aside">{aside}</div> : null}
      </header>
      {children}
    </section>
  )
}
