/** Splits an Istio TEXT line into its positional tokens (quoted groups kept whole, quotes removed). */
export function textTokens(line: string): string[] {
  const out: string[] = [];
  const re = /\[([^\]]*)\]|"([^"]*)"|(\S+)/g;
  for (let m = re.exec(line); m !== null; m = re.exec(line)) out.push(m[1] ?? m[2] ?? m[3] ?? '');
  return out;
}
