// Names the machine a benchmark ran on, so figures can be compared honestly.
import { cpus, totalmem } from "node:os";

export function describeMachine(): string {
  const cores = cpus();
  const model = cores[0]?.model.trim() ?? "unknown CPU";
  return `${model}, ${cores.length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
}

/** Runs `fn` repeatedly for about `ms` milliseconds; returns operations per second. */
export function opsPerSecond(fn: () => void, ms = 2_000): number {
  for (let i = 0; i < 200; i++) fn(); // warm-up
  let count = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < 50; i++) fn();
    count += 50;
    elapsed = performance.now() - start;
  }
  return (count * 1000) / elapsed;
}

/**
 * Measures two operations in alternating rounds, so that drift on a noisy machine hits both alike;
 * returns the median rate of each and the median of the per-round ratios b/a.
 */
export function compareRates(a: () => void, b: () => void, rounds = 7, msPerRound = 400) {
  const aRates: number[] = [];
  const bRates: number[] = [];
  const ratios: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const rateA = opsPerSecond(a, msPerRound);
    const rateB = opsPerSecond(b, msPerRound);
    aRates.push(rateA);
    bRates.push(rateB);
    ratios.push(rateB / rateA);
  }
  return { a: median(aRates), b: median(bRates), ratio: median(ratios) };
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)] as number;
}
