// SVG text for the chart: shapes and labels in one document, and the scales that place figures on
// axes (log and linear). No browser, no dependency: an SVG is a few elements, written as text.

/** Text made safe for an XML attribute or element. */
const xmlEscape = (text) =>
  String(text).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c])

/** A number as an attribute: two decimals at most, no trailing zeros. */
const n = (x) => String(Math.round(x * 100) / 100)

/** One SVG document of `width` x `height`, built element by element. */
export class Svg {
  #parts = []

  constructor(width, height) {
    this.width = width
    this.height = height
  }

  /** A text label; `anchor` start, middle or end; `rotate` in degrees about (x, y). */
  text(x, y, text, { size = 12, anchor = 'start', weight = 'normal', fill = '#222', rotate = 0 } = {}) {
    const turn = rotate ? ` transform="rotate(${rotate} ${n(x)} ${n(y)})"` : ''
    this.#parts.push(
      `<text x="${n(x)}" y="${n(y)}" font-size="${size}" text-anchor="${anchor}" font-weight="${weight}" fill="${fill}"${turn}>${xmlEscape(text)}</text>`,
    )
  }

  line(x1, y1, x2, y2, { stroke = '#222', width = 1, dash = null } = {}) {
    this.#parts.push(
      `<line x1="${n(x1)}" y1="${n(y1)}" x2="${n(x2)}" y2="${n(y2)}" stroke="${stroke}" stroke-width="${width}"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`,
    )
  }

  /** A line through `points` ([[x, y], ...]). */
  polyline(points, { stroke = '#222', width = 2, dash = null } = {}) {
    this.#parts.push(
      `<polyline points="${points.map(([x, y]) => `${n(x)},${n(y)}`).join(' ')}" fill="none" stroke="${stroke}" stroke-width="${width}"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`,
    )
  }

  circle(x, y, r, { fill = '#222' } = {}) {
    this.#parts.push(`<circle cx="${n(x)}" cy="${n(y)}" r="${n(r)}" fill="${fill}"/>`)
  }

  rect(x, y, width, height, { fill = 'none', stroke = 'none' } = {}) {
    this.#parts.push(
      `<rect x="${n(x)}" y="${n(y)}" width="${n(width)}" height="${n(height)}" fill="${fill}" stroke="${stroke}"/>`,
    )
  }

  toString() {
    return [
      `<svg xmlns="http://www.w3.org/2000/svg" width="${this.width}" height="${this.height}" viewBox="0 0 ${this.width} ${this.height}" font-family="DejaVu Sans, Arial, sans-serif">`,
      `<rect x="0" y="0" width="${this.width}" height="${this.height}" fill="#fff"/>`,
      ...this.#parts,
      '</svg>',
      '',
    ].join('\n')
  }
}

/** 1, 2 and 5 times each power of ten from 10^lo to 10^hi. */
const steps125 = (lo, hi) => {
  const out = []
  for (let e = lo; e <= hi; e++) for (const m of [1, 2, 5]) out.push(m * 10 ** e)
  return out
}

/**
 * A log10 scale from the 1-2-5 step at or below `min` to the one at or above `max` onto [from, to];
 * `at(v)` places a value, `ticks` are the 1-2-5 steps between.
 */
export function logScale(min, max, from, to) {
  const all = steps125(Math.floor(Math.log10(min)) - 1, Math.ceil(Math.log10(max)) + 1)
  const lo = all.filter((v) => v <= min * (1 + 1e-9)).at(-1)
  let hi = all.find((v) => v >= max * (1 - 1e-9))
  if (hi <= lo) hi = all[all.indexOf(lo) + 1]
  const span = Math.log10(hi) - Math.log10(lo)
  const at = (v) => from + ((Math.log10(v) - Math.log10(lo)) / span) * (to - from)
  return { at, ticks: all.filter((v) => v >= lo && v <= hi), min: lo, max: hi }
}

/** A linear scale from 0 to a round number at or above `max`, onto [from, to]. */
export function linearScale(max, from, to) {
  const step = 10 ** Math.floor(Math.log10(max || 1))
  const top = Math.ceil((max || 1) / step) * step
  const at = (v) => from + (v / top) * (to - from)
  const ticks = []
  const tickStep = top / step > 5 ? step * 2 : step
  for (let v = 0; v <= top + 1e-9; v += tickStep) ticks.push(v)
  return { at, ticks, max: top }
}

/** A tick's label: 1k, 20k, 0.5, 200. */
export const tickLabel = (v) =>
  v >= 1e6 ? `${v / 1e6}M` : v >= 1000 ? `${v / 1000}k` : v >= 1 ? String(v) : String(Number(v.toPrecision(2)))
