/** SVG charts for the benchmark report, made with vega-lite (no canvas needed) */

import * as vega from 'vega'
import { compile } from 'vega-lite'
import type { TopLevelSpec } from 'vega-lite'

async function render (spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' })
  return view.toSVG()
}

/** Bars: one value per label */
export async function barChart (title: string, unit: string, rows: Array<{ label: string, value: number, highlight?: boolean }>): Promise<string> {
  return render({
    title,
    width: 480,
    height: 24 * rows.length,
    data: { values: rows },
    mark: { type: 'bar' },
    encoding: {
      y: { field: 'label', type: 'nominal', sort: null, title: null },
      x: { field: 'value', type: 'quantitative', title: unit },
      color: { field: 'highlight', type: 'nominal', legend: null, scale: { range: ['#9aa5b1', '#2f6db5'] } }
    }
  })
}

/** A line with points: y against x */
export async function lineChart (title: string, xTitle: string, yTitle: string, points: Array<{ x: number, y: number }>, target?: { label: string, points: Array<{ x: number, y: number }> }): Promise<string> {
  const values = [
    ...points.map(p => ({ ...p, series: 'measured' })),
    ...(target?.points ?? []).map(p => ({ ...p, series: target?.label ?? 'target' }))
  ]

  return render({
    title,
    width: 480,
    height: 260,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: xTitle },
      y: { field: 'y', type: 'quantitative', title: yTitle },
      color: { field: 'series', type: 'nominal', title: null },
      strokeDash: { field: 'series', type: 'nominal', legend: null }
    }
  })
}
