/**
 * A one-line progress bar for long steps on a terminal (stderr).
 *
 * @module
 */

/** A progress bar: call `update` as work proceeds and `done` at the end. */
export interface ProgressBar {
  update: (done: number, total: number) => void;
  done: () => void;
}

/**
 * Draws a progress bar on stderr, redrawn in place.
 *
 * @param label What is in progress, e.g. `encrypting passwords`.
 * @param output Where to draw (stderr by default; tests pass their own).
 * @returns The bar.
 */
export function progressBar(
  label: string,
  output: { writeSync(bytes: Uint8Array): number } = Deno.stderr,
): ProgressBar {
  const encoder = new TextEncoder();
  const width = 30;
  let lastPercent = -1;
  return {
    update(done, total) {
      const percent = total === 0 ? 100 : Math.floor((done / total) * 100);
      if (percent === lastPercent) return;
      lastPercent = percent;
      const filled = Math.round((percent / 100) * width);
      output.writeSync(encoder.encode(
        `\r${label} [${"#".repeat(filled)}${
          " ".repeat(width - filled)
        }] ${percent}% (${done}/${total})`,
      ));
    },
    done() {
      output.writeSync(encoder.encode("\n"));
    },
  };
}
