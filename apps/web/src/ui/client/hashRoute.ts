import { useSyncExternalStore } from 'react'

function subscribe(onChange: () => void): () => void {
  window.addEventListener('hashchange', onChange)
  return () => window.removeEventListener('hashchange', onChange)
}

/** The page's hash route (`#/client`), '' when there is none; re-renders on hashchange. */
export function useHashRoute(): string {
  return useSyncExternalStore(subscribe, () => window.location.hash, () => '')
}

export const CLIENT_ROUTE = '#/client'
