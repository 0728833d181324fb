import { useMemo } from 'react'
import type { VolunteerView } from '../volunteer'

type CurvePoint = VolunteerView['lossCurve'][number]

const WIDTH = 640
const HEIGHT = 220
const PAD = { top: 12, right: 44, bottom: 26, left: 44 }
const PLOT_W = WIDTH - PAD.left - PAD.right
const PLOT_H = HEIGHT - PAD.top - PAD.bottom
const GRID_STEPS = 5

export interface LossCurveProps {
  points: CurvePoint[]
}

interface Geometry {
  lossLine: string
  accuracyLine: string
  lossTip: [number, number] | null
  accuracyTip: [number, number] | null
  lossMax: number
  firstIteration: number
  lastIteration: number
}

/** Loss on the left axis (0..max loss seen), batch accuracy on the right axis (0..1), iterations along x. */
function computeGeometry(points: CurvePoint[]): Geometry | null {
  if (points.length === 0) return null
  const firstIteration = points[0].iteration
  const lastIteration = points[points.length - 1].iteration
  const span = Math.max(1, lastIteration - firstIteration)
  let lossMax = 0
  for (const p of points) if (Number.isFinite(p.loss) && p.loss > lossMax) lossMax = p.loss
  lossMax = niceCeil(lossMax > 0 ? lossMax : 1)

  const x = (iteration: number) => PAD.left + ((iteration - firstIteration) / span) * PLOT_W
  const y = (fraction: number) => PAD.top + (1 - clamp01(fraction)) * PLOT_H
  const lossCoords: string[] = []
  const accuracyCoords: string[] = []
  let lossTip: [number, number] | null = null
  let accuracyTip: [number, number] | null = null
  for (const p of points) {
    const px = x(p.iteration)
    if (Number.isFinite(p.loss)) {
      lossTip = [px, y(p.loss / lossMax)]
      lossCoords.push(`${px.toFixed(1)},${lossTip[1].toFixed(1)}`)
    }
    if (Number.isFinite(p.accuracy)) {
      accuracyTip = [px, y(p.accuracy)]
      accuracyCoords.push(`${px.toFixed(1)},${accuracyTip[1].toFixed(1)}`)
    }
  }
  return {
    lossLine: lossCoords.join(' '),
    accuracyLine: accuracyCoords.join(' '),
    lossTip,
    accuracyTip,
    lossMax,
    firstIteration,
    lastIteration,
  }
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v
}

/** Rounds up to a readable axis maximum (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 or 10 times a power of ten). */
function niceCeil(v: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(v))
  for (const step of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8]) if (v <= step * magnitude * (1 + 1e-9)) return step * magnitude
  return 10 * magnitude
}

function axisLabel(v: number): string {
  return String(Number(v.toPrecision(3)))
}

export function LossCurve({ points }: LossCurveProps) {
  const geometry = useMemo(() => computeGeometry(points), [points])
  const steps = Array.from({ length: GRID_STEPS + 1 }, (_, i) => i)

  return (
    <figure className="curve">
      <svg
        data-testid="loss-curve"
        data-points={points.length}
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        role="img"
        aria-label="Training loss and batch accuracy per iteration"
      >
        {steps.map((i) => {
          const f = i / GRID_STEPS
          const gy = PAD.top + (1 - f) * PLOT_H
          return (
            <g key={i}>
              <line className="curve-grid" x1={PAD.left} x2={PAD.left + PLOT_W} y1={gy} y2={gy} />
              {geometry ? (
                <text className="curve-axis curve-axis-loss" x={PAD.left - 6} y={gy + 4} textAnchor="end">
                  {axisLabel((geometry.lossMax * i) / GRID_STEPS)}
                </text>
              ) : null}
              <text className="curve-axis curve-axis-accuracy" x={PAD.left + PLOT_W + 6} y={gy + 4}>
                {`${(100 * i) / GRID_STEPS}%`}
              </text>
            </g>
          )
        })}
        {geometry ? (
          <>
            <text className="curve-axis" x={PAD.left} y={HEIGHT - 6}>
              {geometry.firstIteration}
            </text>
            <text className="curve-axis" x={PAD.left + PLOT_W} y={HEIGHT - 6} textAnchor="end">
              {geometry.lastIteration}
            </text>
            <text className="curve-axis" x={PAD.left + PLOT_W / 2} y={HEIGHT - 6} textAnchor="middle">
              iteration
            </text>
            <polyline className="curve-line curve-accuracy" data-series="accuracy" points={geometry.accuracyLine} />
            <polyline className="curve-line curve-loss" data-series="loss" points={geometry.lossLine} />
            {geometry.accuracyTip ? (
              <circle className="curve-tip curve-accuracy" cx={geometry.accuracyTip[0]} cy={geometry.accuracyTip[1]} r={3} />
            ) : null}
            {geometry.lossTip ? (
              <circle className="curve-tip curve-loss" cx={geometry.lossTip[0]} cy={geometry.lossTip[1]} r={3} />
            ) : null}
          </>
        ) : (
          <text className="curve-empty" x={WIDTH / 2} y={HEIGHT / 2} textAnchor="middle">
            No iterations yet. Press Start to train.
          </text>
        )}
      </svg>
      <figcaption className="curve-legend">
        <span className="legend-item legend-loss">loss</span>
        <span className="legend-item legend-accuracy">batch accuracy</span>
      </figcaption>
    </figure>
  )
}
