/**
 * Live progress output: one line rewritten in place on a TTY, plain
 * timestamped lines otherwise. Messages (e.g. inconsistencies) are printed
 * above the live line.
 */
export interface Output {
  write(text: string): void;
}

export class Progress {
  readonly isTTY: boolean;
  private readonly out: Output;
  private lastLine = '';
  private lineShown = false;

  constructor(isTTY: boolean, out: Output) {
    this.isTTY = isTTY;
    this.out = out;
  }

  /** Shows the current status line. */
  update(line: string): void {
    this.lastLine = line;
    if (this.isTTY) {
      this.out.write(`\r${line}\x1b[K`);
      this.lineShown = true;
    } else {
      this.out.write(`${line}\n`);
    }
  }

  /** Prints a message on its own line, keeping the live line below it. */
  log(message: string): void {
    if (this.isTTY && this.lineShown) {
      this.out.write(`\r\x1b[K${message}\n${this.lastLine}`);
    } else {
      this.out.write(`${message}\n`);
    }
  }

  /** Ends the live line (call before printing the final report). */
  finish(): void {
    if (this.isTTY && this.lineShown) this.out.write('\n');
    this.lineShown = false;
  }
}
