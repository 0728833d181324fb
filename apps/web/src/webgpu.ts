/** Used by the workers (backend choice) and the page (whether a tab may join a task that asks for a GPU). */
interface GpuAdapterLike {
  info?: { vendor?: string; architecture?: string; description?: string; isFallbackAdapter?: boolean }
  isFallbackAdapter?: boolean
}

/** A WebGPU adapter, and whether it is a software fallback (SwiftShader) rather than a real GPU. */
export async function probeWebGpu(): Promise<{ real: boolean; label: string } | null> {
  const gpu = (navigator as { gpu?: { requestAdapter(): Promise<GpuAdapterLike | null> } }).gpu
  if (!gpu) return null
  const adapter = await gpu.requestAdapter().catch(() => null)
  if (!adapter) return null
  const info = adapter.info ?? {}
  const label = [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'unknown adapter'
  const fallback = info.isFallbackAdapter === true || adapter.isFallbackAdapter === true || /swiftshader/i.test(label)
  return { real: !fallback, label }
}
