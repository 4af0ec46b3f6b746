/** A subcommand: parses its own arguments (node:util parseArgs) and returns the exit code. */
export interface Command {
  readonly name: string;
  readonly summary: string;
  run(args: readonly string[]): Promise<number>;
}
