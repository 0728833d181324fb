// Plain-text number formatting. Values stay parseable with parseFloat (tests rely on it);
// a missing value renders as an em dash, which parses to NaN.

export const MISSING = '—'

export function formatFixed(value: number | null | undefined, digits: number): string {
  return value == null || !Number.isFinite(value) ? MISSING : value.toFixed(digits)
}

export function formatInt(value: number | null | undefined): string {
  return value == null || !Number.isFinite(value) ? MISSING : String(Math.round(value))
}

export function shortHex(hex: string | null | undefined, keep = 10): string {
  if (!hex) return MISSING
  return hex.length <= keep * 2 + 1 ? hex : `${hex.slice(0, keep)}…${hex.slice(-keep)}`
}
