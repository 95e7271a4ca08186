/**
 * What the CLI reports to a person: the message alone, exit code 1, never a
 * stack trace.
 */
export class CliError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'CliError'
  }
}

/** The command line itself is wrong: unknown command or option, missing argument */
export class UsageError extends CliError {
  constructor (message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

/** Where a configuration value came from */
export type ConfigSource =
  | { kind: 'default' }
  | { kind: 'file', file: string }
  | { kind: 'env', name: string }
  | { kind: 'flag', flag: string }

/** One thing wrong with the configuration, naming the key and where its value came from */
export interface ConfigIssue {
  /** The key, or (for an unknown environment variable or an unreadable file) nothing */
  key?: string
  source: ConfigSource
  message: string
}

/** The merged configuration (core.yaml < CORE_* env < flags) is not valid */
export class ConfigError extends CliError {
  readonly issues: ConfigIssue[]

  constructor (issues: ConfigIssue[]) {
    super(`invalid configuration:\n${issues.map(issue => `  ${issue.key == null ? describeSource(issue.source) : `${issue.key} (from ${describeSource(issue.source)})`}: ${issue.message}`).join('\n')}`)
    this.name = 'ConfigError'
    this.issues = issues
  }
}

/** The admin endpoint of a running node could not be reached or refused the request */
export class AdminError extends CliError {
  constructor (message: string) {
    super(message)
    this.name = 'AdminError'
  }
}

export function describeSource (source: ConfigSource): string {
  switch (source.kind) {
    case 'default': return 'default'
    case 'file': return `file ${source.file}`
    case 'env': return `env ${source.name}`
    case 'flag': return `flag ${source.flag}`
  }
}
