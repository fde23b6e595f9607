/**
 * Figures the reliability suite reports (never pass/fail criteria): a
 * percentile, and a line per figure on stdout and in $COREPOOL_FIGURES.
 */
import { appendFileSync } from 'node:fs';

/** Percentile of a sample (nearest rank). */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/**
 * Reports a figure the reliability plan asks for (never a pass/fail criterion):
 * printed, and appended as a JSON line to $COREPOOL_FIGURES if set.
 */
export function figure(name: string, value: unknown): void {
  const line = JSON.stringify({ figure: name, value });
  console.log(line);
  const file = process.env.COREPOOL_FIGURES;
  if (file) appendFileSync(file, `${line}\n`);
}
