/** Per-class counts of a fuzz run, printed as a table (the lead copies them into the README). */
export class Tally {
  private readonly rows = new Map<string, { cases: number; failed: number; outcomes: Map<string, number> }>();

  add(label: string, outcome: string, ok: boolean): void {
    let row = this.rows.get(label);
    if (!row) {
      row = { cases: 0, failed: 0, outcomes: new Map() };
      this.rows.set(label, row);
    }
    row.cases++;
    if (!ok) row.failed++;
    row.outcomes.set(outcome, (row.outcomes.get(outcome) ?? 0) + 1);
  }

  get total(): number {
    let total = 0;
    for (const row of this.rows.values()) total += row.cases;
    return total;
  }

  table(title: string): string {
    const lines = [`${title}`, `| class | cases | expected outcomes | mismatches |`, '| --- | ---: | --- | ---: |'];
    for (const [label, row] of [...this.rows.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
      const outcomes = [...row.outcomes.entries()].map(([o, n]) => `${o}: ${n}`).join(', ');
      lines.push(`| ${label} | ${row.cases} | ${outcomes} | ${row.failed} |`);
    }
    lines.push(`| total | ${this.total} | | ${[...this.rows.values()].reduce((s, r) => s + r.failed, 0)} |`);
    return lines.join('\n');
  }
}

/** Exact cents as decimal text: 1990n → "19.90". */
export function centsToText(cents: bigint): string {
  const whole = cents / 100n;
  const part = cents % 100n;
  return `${whole}.${part.toString().padStart(2, '0')}`;
}

/** A short printable view of a body, for failure messages. */
export function preview(bytes: Uint8Array, max = 200): string {
  const text = Buffer.from(bytes).toString('latin1');
  const shown = JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
  return text.length > max ? `${shown} (${bytes.length} bytes)` : shown;
}
