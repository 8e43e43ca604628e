// Time is injected so that tests can drive the commit windows with a fake clock.
import { readFileSync, statSync } from "node:fs";

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/**
 * A testing aid for real server processes (`clock_offset_file`): Date.now() plus the integer
 * milliseconds written in `path`, so a test can move a running server's time forward (section 6
 * commit windows) without sleeping. The file is read again whenever its mtime changes; a missing
 * or unreadable file, or one that does not hold an integer, means an offset of 0.
 */
export function offsetFileClock(path: string): Clock {
  let seenMtimeMs: number | undefined;
  let offset = 0;
  return {
    now: () => {
      let mtimeMs: number | undefined;
      try {
        mtimeMs = statSync(path).mtimeMs;
      } catch {
        mtimeMs = undefined;
      }
      if (mtimeMs !== seenMtimeMs) {
        seenMtimeMs = mtimeMs;
        offset = mtimeMs === undefined ? 0 : readOffset(path);
      }
      return Date.now() + offset;
    },
  };
}

function readOffset(path: string): number {
  try {
    const value = Number(readFileSync(path, "utf8").trim());
    return Number.isSafeInteger(value) ? value : 0;
  } catch {
    return 0;
  }
}
