import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { resolveCommitChain } from "../../src/protocol/stateResolution.js";
import type { CommitNode } from "../../src/protocol/stateResolution.js";

const A = "a.example";
const B = "b.example";
const C = "c.example";
const OUTSIDER = "x.example";
const POWERS = [A, B, C];

function commit(
  eventId: string,
  parent: CommitNode | undefined,
  fields: Partial<Omit<CommitNode, "eventId">> = {},
): CommitNode {
  return {
    eventId,
    origin: A,
    originServerTs: 1_000,
    epoch: parent === undefined ? 0n : parent.epoch + 1n,
    parentId: parent?.eventId,
    powers: POWERS,
    ...fields,
  };
}

function linearChain(length: number): CommitNode[] {
  const commits = [commit("$0", undefined)];
  for (let i = 1; i < length; i++) commits.push(commit(`$${i}`, commits[i - 1]));
  return commits;
}

describe("resolveCommitChain (section 5, D11): examples", () => {
  it("section 5: a linear chain resolves to itself, the newest commit being current", () => {
    const commits = linearChain(4);
    expect(resolveCommitChain(commits)).toEqual({ chain: ["$0", "$1", "$2", "$3"], current: "$3" });
  });

  it("section 5: at a fork at equal epoch the higher-ranked origin wins despite a later timestamp", () => {
    const root = commit("$root", undefined);
    const fromB = commit("$b", root, { origin: B, originServerTs: 2_000 });
    const fromA = commit("$a", root, { origin: A, originServerTs: 9_000 });
    expect(resolveCommitChain([root, fromB, fromA])?.current).toBe("$a");
  });

  it("section 5: the fork is ranked by the parent's powers, not by the children's own powers", () => {
    const root = commit("$root", undefined, { powers: [B, A] });
    const fromA = commit("$a", root, { origin: A, powers: [A, B] });
    const fromB = commit("$b", root, { origin: B, powers: [A, B], originServerTs: 5_000 });
    expect(resolveCommitChain([root, fromA, fromB])?.current).toBe("$b");
  });

  it("section 5: on equal rank the earlier origin_server_ts wins", () => {
    const root = commit("$root", undefined);
    const later = commit("$1", root, { origin: B, originServerTs: 3_000 });
    const earlier = commit("$2", root, { origin: B, originServerTs: 2_000 });
    expect(resolveCommitChain([root, later, earlier])?.current).toBe("$2");
  });

  it("section 5: on equal rank and timestamp the smaller event ID by UTF-16 code units wins", () => {
    const root = commit("$root", undefined);
    // "$B" < "$a" in code units (0x42 < 0x61), although a locale-aware sort puts "a" first.
    const lower = commit("$a", root, { origin: B });
    const upper = commit("$B", root, { origin: B });
    expect(resolveCommitChain([root, lower, upper])?.current).toBe("$B");
  });

  it("section 5: an origin not in the parent's powers ranks below every listed origin", () => {
    const root = commit("$root", undefined);
    const outsider = commit("$0", root, { origin: OUTSIDER, originServerTs: 1 });
    const lastPower = commit("$9", root, { origin: C, originServerTs: 9_000 });
    expect(resolveCommitChain([root, outsider, lastPower])?.current).toBe("$9");
  });

  it("section 5: origins that are both not in powers tie on rank and fall to the timestamp", () => {
    const root = commit("$root", undefined, { powers: [A] });
    const later = commit("$0", root, { origin: B, originServerTs: 5_000 });
    const earlier = commit("$9", root, { origin: C, originServerTs: 4_000 });
    expect(resolveCommitChain([root, later, earlier])?.current).toBe("$9");
  });

  it("section 5: a longer losing branch still loses; the winner is followed to its newest descendant", () => {
    const root = commit("$root", undefined);
    const loser = commit("$lose1", root, { origin: B });
    const loser2 = commit("$lose2", loser, { origin: B });
    const loser3 = commit("$lose3", loser2, { origin: B });
    const winner = commit("$win1", root, { origin: A });
    const winner2 = commit("$win2", winner, { origin: C });
    const resolved = resolveCommitChain([loser3, loser2, loser, winner2, winner, root]);
    expect(resolved).toEqual({ chain: ["$root", "$win1", "$win2"], current: "$win2" });
  });

  it("D11: a commit whose parent is not in the input is ignored", () => {
    const orphan = commit("$orphan", undefined, { parentId: "$unknown", epoch: 1n, originServerTs: 1 });
    expect(resolveCommitChain([...linearChain(2), orphan])?.current).toBe("$1");
  });

  it("D11: a commit whose epoch skips its parent's epoch + 1 is ignored, and so are its descendants", () => {
    const root = commit("$root", undefined);
    const gap = commit("$gap", root, { epoch: 2n });
    const onGap = commit("$onGap", gap);
    const fair = commit("$fair", root, { origin: C });
    expect(resolveCommitChain([root, gap, onGap, fair])?.chain).toEqual(["$root", "$fair"]);
  });

  it("D11: a commit at the same epoch as its parent is ignored", () => {
    const root = commit("$root", undefined);
    const sameEpoch = commit("$same", root, { epoch: 0n });
    expect(resolveCommitChain([root, sameEpoch])?.chain).toEqual(["$root"]);
  });

  it("R9.2: a parentless commit whose epoch is not 0 is no root", () => {
    const notRoot = commit("$late", undefined, { epoch: 3n });
    expect(resolveCommitChain([notRoot])).toBeUndefined();
  });

  it("section 5: without a root the result is undefined", () => {
    expect(resolveCommitChain([])).toBeUndefined();
  });

  it("D16: of several roots the earliest origin_server_ts wins, then the smaller event ID", () => {
    const early = commit("$z", undefined, { originServerTs: 10 });
    const tiedLarger = commit("$y", undefined, { originServerTs: 10 });
    const late = commit("$a", undefined, { originServerTs: 20 });
    expect(resolveCommitChain([late, early, tiedLarger])?.chain).toEqual(["$y"]);
  });

  it("section 5: exact duplicates of a commit count once", () => {
    const commits = linearChain(3);
    const withCopies = [...commits, ...commits.map((c) => ({ ...c, powers: [...c.powers] }))];
    expect(resolveCommitChain(withCopies)).toEqual(resolveCommitChain(commits));
  });

  it("section 5: two different commits with one event ID throw", () => {
    const [root, first] = linearChain(2);
    const forged = { ...first!, originServerTs: 5 };
    expect(() => resolveCommitChain([root!, first!, forged])).toThrow(/same|share/);
  });

  it("section 5: a non-finite origin_server_ts throws a RangeError", () => {
    const root = commit("$root", undefined, { originServerTs: Number.NaN });
    expect(() => resolveCommitChain([root])).toThrow(RangeError);
  });

  it("section 5: a 100,000-commit chain resolves without overflowing the stack", () => {
    const resolved = resolveCommitChain(linearChain(100_000));
    expect(resolved?.chain.length).toBe(100_000);
  });
});

// Random commit trees: parents among earlier commits, small server set, ties in timestamps, and
// some commits that must never enter the chain (orphans, epoch gaps, non-zero parentless epochs).
const SERVERS = ["a.example", "b.example", "c.example", "d.example"];
type Kind = "child" | "root" | "orphan" | "epochGap" | "sameEpoch" | "badRoot";
interface Spec {
  kind: Kind;
  pick: number;
  origin: string;
  powers: string[];
  ts: number;
}

const specArb: fc.Arbitrary<Spec> = fc.record({
  kind: fc.constantFrom<Kind>(
    "child",
    "child",
    "child",
    "child",
    "child",
    "root",
    "orphan",
    "epochGap",
    "sameEpoch",
    "badRoot",
  ),
  pick: fc.nat(),
  origin: fc.constantFrom(...SERVERS, "x.example"),
  powers: fc.shuffledSubarray(SERVERS, { minLength: 1 }),
  ts: fc.integer({ min: 0, max: 3 }),
});

function buildTree(specs: readonly Spec[], ids: readonly string[]): CommitNode[] {
  const commits: CommitNode[] = [];
  specs.forEach((spec, i) => {
    const parent = i === 0 ? undefined : commits[spec.pick % i];
    const base = { eventId: ids[i]!, origin: spec.origin, originServerTs: spec.ts, powers: spec.powers };
    const kind = parent === undefined && spec.kind !== "badRoot" ? "root" : spec.kind;
    if (kind === "root") commits.push({ ...base, epoch: 0n, parentId: undefined });
    else if (kind === "badRoot")
      commits.push({ ...base, epoch: BigInt(1 + (spec.pick % 3)), parentId: undefined });
    else if (kind === "orphan")
      commits.push({ ...base, epoch: BigInt(spec.pick % 4), parentId: `$gone${i}` });
    else {
      const step = kind === "epochGap" ? 2n : kind === "sameEpoch" ? 0n : 1n;
      commits.push({ ...base, epoch: parent!.epoch + step, parentId: parent!.eventId });
    }
  });
  return commits;
}

const treeArb: fc.Arbitrary<CommitNode[]> = fc
  .array(specArb, { minLength: 1, maxLength: 40 })
  .chain((specs) => {
    // Event IDs unrelated to creation order; base 36 makes string order differ from numeric order.
    const ids = specs.map((_, i) => `$${(i * 7 + 3).toString(36)}`);
    return fc
      .shuffledSubarray(ids, { minLength: ids.length, maxLength: ids.length })
      .map((shuffled) => buildTree(specs, shuffled));
  });

const treeAndPermutationArb = treeArb.chain((commits) =>
  fc.tuple(
    fc.constant(commits),
    fc.shuffledSubarray(commits, { minLength: commits.length, maxLength: commits.length }),
  ),
);

function validChildren(commits: readonly CommitNode[], parent: CommitNode): CommitNode[] {
  return commits.filter((c) => c.parentId === parent.eventId && c.epoch === parent.epoch + 1n);
}

function rankIn(powers: readonly string[], origin: string): number {
  const index = powers.indexOf(origin);
  return index < 0 ? Number.POSITIVE_INFINITY : index;
}

function chainNodes(commits: readonly CommitNode[]): CommitNode[] {
  const byId = new Map(commits.map((c) => [c.eventId, c]));
  return (resolveCommitChain(commits)?.chain ?? []).map((id) => byId.get(id)!);
}

describe("resolveCommitChain (section 5, D11): properties", () => {
  it("section 5: is deterministic (equal input, equal result)", () => {
    fc.assert(
      fc.property(treeArb, (commits) => {
        const copy = commits.map((c) => ({ ...c, powers: [...c.powers] }));
        expect(resolveCommitChain(copy)).toEqual(resolveCommitChain(commits));
      }),
    );
  });

  it("section 5: gives the same result for every order of the input", () => {
    fc.assert(
      fc.property(treeAndPermutationArb, ([commits, permuted]) => {
        expect(resolveCommitChain(permuted)).toEqual(resolveCommitChain(commits));
      }),
    );
  });

  it("section 5: is undefined exactly when the input has no parentless epoch-0 commit", () => {
    fc.assert(
      fc.property(treeArb, (commits) => {
        const hasRoot = commits.some((c) => c.parentId === undefined && c.epoch === 0n);
        expect(resolveCommitChain(commits) !== undefined).toBe(hasRoot);
      }),
    );
  });

  it("D11: the result is always one unbroken chain from the root to a commit without children", () => {
    fc.assert(
      fc.property(treeArb, (commits) => {
        const chain = chainNodes(commits);
        fc.pre(chain.length > 0);
        expect(chain[0]!.parentId).toBeUndefined();
        expect(chain[0]!.epoch).toBe(0n);
        for (let i = 1; i < chain.length; i++) {
          expect(chain[i]!.parentId).toBe(chain[i - 1]!.eventId);
          expect(chain[i]!.epoch).toBe(chain[i - 1]!.epoch + 1n);
        }
        expect(validChildren(commits, chain.at(-1)!)).toEqual([]);
        expect(resolveCommitChain(commits)?.current).toBe(chain.at(-1)!.eventId);
      }),
    );
  });

  it("section 5: at a fork at equal epoch the child ranked higher in the parent's powers is on the chain, its sibling not", () => {
    fc.assert(
      fc.property(treeArb, (commits) => {
        const chain = chainNodes(commits);
        const onChain = new Set(chain.map((c) => c.eventId));
        for (let i = 0; i + 1 < chain.length; i++) {
          const parent = chain[i]!;
          const next = chain[i + 1]!;
          for (const sibling of validChildren(commits, parent)) {
            const nextRank = rankIn(parent.powers, next.origin);
            expect(rankIn(parent.powers, sibling.origin)).toBeGreaterThanOrEqual(nextRank);
            if (sibling !== next) expect(onChain.has(sibling.eventId)).toBe(false);
          }
        }
      }),
    );
  });

  it("section 5: siblings of equal rank are ordered by origin_server_ts, then by event ID", () => {
    fc.assert(
      fc.property(treeArb, (commits) => {
        const chain = chainNodes(commits);
        for (let i = 0; i + 1 < chain.length; i++) {
          const parent = chain[i]!;
          const next = chain[i + 1]!;
          const equalRank = validChildren(commits, parent).filter(
            (s) => rankIn(parent.powers, s.origin) === rankIn(parent.powers, next.origin),
          );
          for (const sibling of equalRank) {
            const beats =
              sibling.originServerTs < next.originServerTs ||
              (sibling.originServerTs === next.originServerTs && sibling.eventId < next.eventId);
            expect(beats).toBe(false);
          }
        }
      }),
    );
  });

  it("section 5: the chain starts at the earliest root, ties broken by the smaller event ID", () => {
    fc.assert(
      fc.property(treeArb, (commits) => {
        const chain = chainNodes(commits);
        fc.pre(chain.length > 0);
        const roots = commits.filter((c) => c.parentId === undefined && c.epoch === 0n);
        for (const other of roots) {
          const beats =
            other.originServerTs < chain[0]!.originServerTs ||
            (other.originServerTs === chain[0]!.originServerTs && other.eventId < chain[0]!.eventId);
          expect(beats).toBe(false);
        }
      }),
    );
  });
});
