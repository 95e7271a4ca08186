/** Tables for the terminal (aligned columns) and for docs/bench/*.md */

export function textTable (headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map(r => (r[i] ?? '').length)))
  const line = (cells: string[]): string => cells.map((c, i) => (c ?? '').padEnd(widths[i])).join('  ').trimEnd()
  return [line(headers), line(widths.map(w => '-'.repeat(w))), ...rows.map(line)].join('\n')
}

export function markdownTable (headers: string[], rows: string[][]): string {
  const cell = (c: string): string => (c ?? '').replaceAll('|', '\\|')
  return [
    `| ${headers.map(cell).join(' | ')} |`,
    `|${headers.map(() => '---').join('|')}|`,
    ...rows.map(r => `| ${r.map(cell).join(' | ')} |`)
  ].join('\n')
}
