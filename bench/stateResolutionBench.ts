// Times section 5 state resolution over realistic sets of competing commits.
import { resolveCommitChain } from "../src/protocol/stateResolution.js";
import type { CommitNode } from "../src/protocol/stateResolution.js";

const SERVERS = ["a.example", "b.example", "c.example", "d.example", "e.example"];
const TIMED_RUNS = 5;
const ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** Best-of-five milliseconds of `resolveCommitChain` for each number of commits, after a warm-up. */
export function benchStateResolution(sizes: readonly number[]): Array<{ commits: number; ms: number }> {
  return sizes.map((size) => {
    const commits = competingCommits(size);
    resolveCommitChain(commits);
    let best = Number.POSITIVE_INFINITY;
    for (let run = 0; run < TIMED_RUNS; run++) {
      const start = performance.now();
      resolveCommitChain(commits);
      best = Math.min(best, performance.now() - start);
    }
    return { commits: size, ms: best };
  });
}

/**
 * A long chain where every epoch has 1 to 4 competing commits from different origins (the
 * higher-ranked one continues the chain), a fifth of the losers grow a short branch of their own,
 * and the committer now and then reorders the powers below itself. Seeded; in the order a server
 * stores them (every commit after its parent, competing branches interleaved).
 */
function competingCommits(size: number): CommitNode[] {
  const random = seededRandom(size);
  const commits: CommitNode[] = [];
  let ts = 1_700_000_000_000;
  const add = (parent: CommitNode | undefined, origin: string): CommitNode => {
    const commit: CommitNode = {
      eventId: randomEventId(random),
      origin,
      originServerTs: ts + Math.floor(random() * 2_000),
      epoch: parent === undefined ? 0n : parent.epoch + 1n,
      parentId: parent?.eventId,
      powers:
        random() < 0.05
          ? promoteBelow(parent?.powers ?? SERVERS, origin, random)
          : (parent?.powers ?? SERVERS),
    };
    commits.push(commit);
    return commit;
  };

  let head = add(undefined, SERVERS[0]!);
  while (commits.length < size) {
    ts += 1_000;
    const contenders = shuffled(head.powers, random).slice(0, 1 + Math.floor(random() * 4));
    const rank = (origin: string) => head.powers.indexOf(origin);
    const children = contenders.map((origin) => add(head, origin));
    const winner = children.reduce((best, child) => (rank(child.origin) < rank(best.origin) ? child : best));
    for (const loser of children) {
      if (loser === winner || random() >= 0.2) continue;
      let tip = loser;
      for (let length = 1 + Math.floor(random() * 3); length > 0; length--) tip = add(tip, tip.origin);
    }
    head = winner;
  }
  return commits.slice(0, size);
}

/** The promotion rule R9.9 keeps the servers above `origin` in place; reorder the rest. */
function promoteBelow(powers: readonly string[], origin: string, random: () => number): string[] {
  const keep = Math.max(0, powers.indexOf(origin));
  return [...powers.slice(0, keep), ...shuffled(powers.slice(keep), random)];
}

function randomEventId(random: () => number): string {
  let id = "$";
  for (let i = 0; i < 43; i++) id += ID_ALPHABET[Math.floor(random() * ID_ALPHABET.length)];
  return id;
}

function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

/** Mulberry32: a small deterministic generator, so that every run measures the same input. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
