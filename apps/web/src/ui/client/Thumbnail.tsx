import { useEffect, useRef } from 'react'

export interface ThumbnailProps {
  /** height x width grey bytes */
  pixels: Uint8Array
  width: number
  height: number
  title?: string
}

/** One record drawn as a grey image, scaled up with square pixels. */
export function Thumbnail({ pixels, width, height, title }: ThumbnailProps) {
  const canvas = useRef<HTMLCanvasElement>(null)
  useEffect(() => {
    const ctx = canvas.current?.getContext('2d')
    if (!ctx) return
    const img = ctx.createImageData(width, height)
    for (let i = 0; i < width * height; i++) {
      const g = pixels[i]!
      img.data[4 * i] = g
      img.data[4 * i + 1] = g
      img.data[4 * i + 2] = g
      img.data[4 * i + 3] = 255
    }
    ctx.putImageData(img, 0, 0)
  }, [pixels, width, height])
  return <canvas ref={canvas} className="upload-thumb" width={width} height={height} title={title} data-testid="preview-thumb" />
}
