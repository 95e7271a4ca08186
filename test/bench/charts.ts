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

/** Bars with the range of the rounds drawn over each (min to max) */
export async function rangeBarChart (title: string, unit: string, rows: Array<{ label: string, value: number, min: number, max: number, highlight?: boolean }>): Promise<string> {
  return render({
    title,
    width: 480,
    height: 28 * rows.length,
    data: { values: rows },
    encoding: { y: { field: 'label', type: 'nominal', sort: null, title: null } },
    layer: [
      {
        mark: { type: 'bar' },
        encoding: {
          x: { field: 'value', type: 'quantitative', title: `${unit} (median; the line: range of the rounds)` },
          color: { field: 'highlight', type: 'nominal', legend: null, scale: { range: ['#9aa5b1', '#2f6db5'] } }
        }
      },
      {
        mark: { type: 'rule', color: '#1d2733', strokeWidth: 2 },
        encoding: { x: { field: 'min', type: 'quantitative' }, x2: { field: 'max' } }
      }
    ]
  })
}

/**
 * P5: seconds to a full mesh against N on a log-2 axis (8, 16, 32, 64 evenly
 * spaced), each point labelled with its failed handshakes, and the target
 * drawn only where it applies (one N), labelled.
 */
export async function convergenceChart (title: string, rows: Array<{ validators: number, seconds: number, failedDials: number }>, target: { validators: number, seconds: number }): Promise<string> {
  const ns = rows.map(r => r.validators)
  const x = { field: 'validators', type: 'quantitative' as const, title: 'validators (N, log scale)', scale: { type: 'log' as const, base: 2, domain: [Math.min(...ns, target.validators) / 1.4, Math.max(...ns, target.validators) * 1.4] }, axis: { values: [...new Set([...ns, target.validators])].sort((a, b) => a - b), format: 'd' } }
  const y = { field: 'seconds', type: 'quantitative' as const, title: 'seconds to a full mesh', scale: { domainMin: 0 } }
  const measured = rows.map(r => ({ ...r, note: `${r.failedDials} failed` }))
  const goal = [{ validators: target.validators, seconds: target.seconds, note: `target: ≤ ${target.seconds} s at N=${target.validators}` }]

  return render({
    title,
    width: 480,
    height: 260,
    layer: [
      { data: { values: measured }, mark: { type: 'line', point: true, color: '#2f6db5' }, encoding: { x, y } },
      { data: { values: measured }, mark: { type: 'text', dy: -12, fontSize: 10, color: '#2f6db5' }, encoding: { x, y, text: { field: 'note' } } },
      { data: { values: goal }, mark: { type: 'tick', orient: 'horizontal', color: '#c0392b', thickness: 2, size: 40 }, encoding: { x, y } },
      { data: { values: goal }, mark: { type: 'text', dy: 14, fontSize: 10, color: '#c0392b' }, encoding: { x, y, text: { field: 'note' } } }
    ]
  })
}
