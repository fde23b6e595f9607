// A progress bar for a long map, fed by the SDK's onProgress: a cli-progress bar when stdout is a
// terminal (cleared when done, so the printed results read as without it), and otherwise a plain
// line at each quarter, so CI logs and pipes get a few clean lines rather than redraw codes.
import cliProgress from 'cli-progress';

/**
 * `onProgress` for a map of `label`, and `stop()` to call once the map settled (fulfilled or not).
 * @param {string} label
 */
export function progress(label) {
  if (process.stdout.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream: process.stdout,
        format: `${label} [{bar}] {value}/{total} items  {percentage}%  {duration_formatted}`,
        clearOnComplete: true,
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      /** @type {(done: number, total: number | undefined) => void} */
      onProgress: (done, total) => {
        if (!started) {
          bar.start(total ?? done, done);
          started = true;
        }
        if (total !== undefined) bar.setTotal(total);
        bar.update(done);
      },
      stop: () => {
        if (started) bar.stop();
      },
    };
  }
  let quarter = 0;
  return {
    /** @type {(done: number, total: number | undefined) => void} */
    onProgress: (done, total) => {
      if (total === undefined || total === 0) return;
      const q = Math.floor((done * 4) / total);
      if (q > quarter) {
        quarter = q;
        console.log(`  ${label}: ${done}/${total} items`);
      }
    },
    stop: () => {},
  };
}
