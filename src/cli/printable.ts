/**
 * Text from a peer, made safe to print on one line of a terminal or a log.
 */

import { PEER_TEXT_MAX } from './constants.js'

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' }

/**
 * Control characters (C0, DEL, C1), line and paragraph separators and bidi
 * overrides as visible escapes (`\n`, `\x1b`, `\u202e`): a newline would forge
 * a log line, an escape sequence would reach the terminal. At most `max`
 * characters, then `…`.
 */
export function printable (text: string, max = PEER_TEXT_MAX): string {
  let out = ''

  for (const char of text) {
    const shown = escape(char)

    if (out.length + shown.length > max) {
      return `${out}…`
    }

    out += shown
  }

  return out
}

function escape (char: string): string {
  if (!/[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/.test(char)) {
    return char
  }

  const code = char.charCodeAt(0)
  return NAMED[char] ?? (code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`)
}

/** Where the CLI writes its lines for people: stdout and stderr */
export interface Printer {
  out(line: string): void
  err(line: string): void
}
