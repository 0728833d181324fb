import type { VolunteerView } from '../volunteer'

type Status = VolunteerView['status']

/** States in which work is under way, so the button offers Stop rather than Start. */
export function isRunning(status: Status): boolean {
  return status === 'selecting-backend' || status === 'training' || status === 'stopping'
}

export interface ControlsProps {
  status: Status
  onStart(): void
  onStop(): void
}

export function Controls({ status, onStart, onStop }: ControlsProps) {
  return (
    <div className="controls">
      <span className={`status-pill status-${status}`} data-status={status}>
        <span className="status-dot" aria-hidden="true" />
        <span data-testid="status">{status}</span>
      </span>
      {isRunning(status) ? (
        <button
          type="button"
          className="button button-stop"
          data-testid="stop"
          disabled={status === 'stopping'}
          onClick={onStop}
        >
          {status === 'stopping' ? 'Stopping…' : 'Stop'}
        </button>
      ) : (
        <button type="button" className="button button-start" data-testid="start" onClick={onStart}>
          Start
        </button>
      )}
    </div>
  )
}
