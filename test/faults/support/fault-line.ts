// The one summary line each fault scenario prints last:
//   FAULT <name>: did <what was done>; checked <what>; k=v, k=v ...
export function faultLine(
  name: string,
  did: string,
  checked: string,
  figures: Record<string, string | number | bigint>,
): string {
  const figs = Object.entries(figures)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(', ');
  const line = `FAULT ${name}: did ${did}; checked ${checked}; ${figs}`;
  console.log(line);
  return line;
}

export function seconds(sinceMs: number): string {
  return `${((Date.now() - sinceMs) / 1000).toFixed(1)}s`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
