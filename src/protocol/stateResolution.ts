// State resolution of section 5 over the commit chain (the create event is never conflicted).
//
// Why a greedy descent is Matrix v2 resolution here: v2 auth-checks the conflicted commits in
// reverse topological power order, and D11 lets a commit pass only when its own parent IS the
// current partially resolved commit. So the current commit only ever moves to one of its own
// children, and once it has moved, no commit off that branch can pass again. All children of the
// current commit become ready for the ordering together, so the first of them to be checked is the
// one of highest power (rank of its origin in the parent's `powers`, then earlier
// origin_server_ts, then smaller event ID); it passes and the same argument repeats below it.
// That is exactly "take the best child, until a commit has no children".

/** A commit event as state resolution sees it. */
export interface CommitNode {
  readonly eventId: string;
  readonly origin: string;
  readonly originServerTs: number;
  /** MLS epoch the commit is framed in (the epoch-0 commit has 0n). */
  readonly epoch: bigint;
  /** The commit in its auth_events; undefined only for an epoch-0 commit (R4, D16). */
  readonly parentId: string | undefined;
  /** `powers` of this commit's federation object; it ranks this commit's children. */
  readonly powers: readonly string[];
}

export interface ResolvedChain {
  /** Event IDs from the root (epoch-0 commit) to the current commit. */
  readonly chain: readonly string[];
  readonly current: string;
}

/**
 * Resolves competing commits to one unbroken chain and its current commit; undefined when the
 * input holds no epoch-0 commit without a parent. Runs in time linear in the input size
 * (commits plus the lengths of their `powers`), without recursion.
 *
 * The commits must have passed the auth rules against their own auth events on receipt (D10);
 * only what depends on the resolved chain (D11) is checked here.
 *
 * Decisions:
 * - Exact duplicates (same event ID, same fields) count once. Two different commits with one
 *   event ID cannot both be genuine (the ID is a content hash), so that input throws an Error.
 * - A commit whose parent is not in the input, whose epoch is not its parent's epoch + 1 (D11,
 *   R9.3), or a parentless commit whose epoch is not 0 (R9.2), never enters the chain, and
 *   neither do its descendants.
 * - Several roots (D16 forbids them, but a malicious server can send them): the earliest
 *   origin_server_ts wins, then the smaller event ID.
 * - Event IDs compare by plain string comparison (UTF-16 code units; event IDs are ASCII, so this
 *   equals byte order).
 * - A name repeated in `powers` (invalid under D8) ranks by its first occurrence.
 * - A non-finite origin_server_ts throws a RangeError.
 */
export function resolveCommitChain(commits: Iterable<CommitNode>): ResolvedChain | undefined {
  const byId = indexById(commits);
  const { roots, children } = linkValidChildren(byId);
  let current = firstRoot(roots);
  if (current === undefined) return undefined;

  const chain = [current.eventId];
  for (let next = bestChild(current, children); next !== undefined; next = bestChild(next, children)) {
    current = next;
    chain.push(current.eventId);
  }
  return { chain, current: current.eventId };
}

function indexById(commits: Iterable<CommitNode>): Map<string, CommitNode> {
  const byId = new Map<string, CommitNode>();
  for (const commit of commits) {
    // A NaN timestamp would make the tie breaks depend on input order.
    if (!Number.isFinite(commit.originServerTs)) {
      throw new RangeError(`commit ${commit.eventId} has a non-finite origin_server_ts`);
    }
    const known = byId.get(commit.eventId);
    if (known === undefined) byId.set(commit.eventId, commit);
    else if (!sameCommit(known, commit)) {
      throw new Error(`two different commits share the event ID ${commit.eventId}`);
    }
  }
  return byId;
}

function sameCommit(a: CommitNode, b: CommitNode): boolean {
  return (
    a.origin === b.origin &&
    a.originServerTs === b.originServerTs &&
    a.epoch === b.epoch &&
    a.parentId === b.parentId &&
    a.powers.length === b.powers.length &&
    a.powers.every((server, i) => server === b.powers[i])
  );
}

/** Keeps only the parent links a commit could pass the auth checks with (R9.2, R9.3, D11). */
function linkValidChildren(byId: ReadonlyMap<string, CommitNode>): {
  roots: CommitNode[];
  children: Map<string, CommitNode[]>;
} {
  const roots: CommitNode[] = [];
  const children = new Map<string, CommitNode[]>();
  for (const commit of byId.values()) {
    if (commit.parentId === undefined) {
      if (commit.epoch === 0n) roots.push(commit);
      continue;
    }
    const parent = byId.get(commit.parentId);
    if (parent === undefined || commit.epoch !== parent.epoch + 1n) continue;
    const siblings = children.get(parent.eventId);
    if (siblings === undefined) children.set(parent.eventId, [commit]);
    else siblings.push(commit);
  }
  return { roots, children };
}

function firstRoot(roots: readonly CommitNode[]): CommitNode | undefined {
  let first: CommitNode | undefined;
  for (const root of roots) if (first === undefined || compareTsThenId(root, first) < 0) first = root;
  return first;
}

/** The child of highest power in `parent.powers` (section 5), or undefined for a leaf. */
function bestChild(
  parent: CommitNode,
  children: ReadonlyMap<string, readonly CommitNode[]>,
): CommitNode | undefined {
  const candidates = children.get(parent.eventId);
  if (candidates === undefined || candidates.length < 2) return candidates?.[0];
  const rankOf = rankFunction(parent.powers);
  let best = candidates[0]!;
  for (const candidate of candidates) {
    const byRank = rankOf(candidate.origin) - rankOf(best.origin);
    if (byRank < 0 || (byRank === 0 && compareTsThenId(candidate, best) < 0)) best = candidate;
  }
  return best;
}

/** Index in `powers` (lower is higher power); origins not in `powers` all rank last. */
function rankFunction(powers: readonly string[]): (origin: string) => number {
  const ranks = new Map<string, number>();
  powers.forEach((server, index) => {
    if (!ranks.has(server)) ranks.set(server, index);
  });
  return (origin) => ranks.get(origin) ?? powers.length;
}

function compareTsThenId(a: CommitNode, b: CommitNode): number {
  if (a.originServerTs !== b.originServerTs) return a.originServerTs < b.originServerTs ? -1 : 1;
  if (a.eventId === b.eventId) return 0;
  return a.eventId < b.eventId ? -1 : 1;
}
