// The pending-commit schedule of section 6, as pure functions of time (milliseconds since the
// Unix epoch) so that it can be tested with a fake clock.

/** Each power server's slot. */
export const SLOT_MS = 5 * 60_000;
/** The applying part of a slot; the remaining 2 minutes are grace for clock skew and transfer. */
export const APPLY_MS = 3 * 60_000;

/** A half-open interval [start, end) of instants. */
export interface ApplyWindow {
  readonly start: number;
  readonly end: number;
}

/** When the server at `rank` in `powers` may apply a pending commit sent at `pendingTs`. */
export function applyWindow(rank: number, pendingTs: number): ApplyWindow {
  if (!Number.isSafeInteger(rank) || rank < 0) throw new RangeError(`invalid rank ${rank}`);
  checkTime(pendingTs, "pendingTs");
  const start = pendingTs + rank * SLOT_MS;
  return { start, end: start + APPLY_MS };
}

export interface ScheduleQuery {
  /** `powers` of the pending commit's commit, highest rank first. */
  readonly powers: readonly string[];
  /** origin_server_ts of the pending commit. */
  readonly pendingTs: number;
  readonly now: number;
  /** Whether the pending commit's commit is still the current commit. */
  readonly pendingBuildsOnCurrentCommit: boolean;
}

/** The servers that may apply the pending commit at `now`: at most one, as windows never overlap. */
export function serversThatMayApply(q: ScheduleQuery): string[] {
  checkInputs(q.powers, q.pendingTs, q.now);
  // A pending commit whose commit is no longer current can never become the next commit.
  if (!q.pendingBuildsOnCurrentCommit) return [];
  return q.powers.filter((_server, rank) => contains(applyWindow(rank, q.pendingTs), q.now));
}

export function mayApply(q: ScheduleQuery & { readonly server: string }): boolean {
  return serversThatMayApply(q).includes(q.server);
}

/**
 * When `server` should next look at the pending commit: the start of its window while that is
 * ahead, `now` inside it, undefined once it is over or when `server` is not in `powers` (it never
 * applies). Whether the pending commit still builds on the current commit is checked at that time.
 */
export function nextApplyTime(
  powers: readonly string[],
  server: string,
  pendingTs: number,
  now: number,
): number | undefined {
  checkInputs(powers, pendingTs, now);
  const rank = powers.indexOf(server);
  if (rank < 0) return undefined;
  const window = applyWindow(rank, pendingTs);
  if (now < window.start) return window.start;
  return now < window.end ? now : undefined;
}

/** The client's deadline: no commit for the epoch by then means its pending commit failed. */
export function pendingCommitGiveUpTime(powers: readonly string[], pendingTs: number): number {
  checkPowers(powers);
  checkTime(pendingTs, "pendingTs");
  return pendingTs + powers.length * SLOT_MS;
}

function contains(window: ApplyWindow, instant: number): boolean {
  return window.start <= instant && instant < window.end;
}

function checkInputs(powers: readonly string[], pendingTs: number, now: number): void {
  checkPowers(powers);
  checkTime(pendingTs, "pendingTs");
  checkTime(now, "now");
}

function checkTime(value: number, name: string): void {
  if (!Number.isFinite(value)) throw new RangeError(`${name} must be a finite number, got ${value}`);
}

/** A server's slot is its index, so `powers` must be non-empty (R9.6) and free of repeats (D8). */
function checkPowers(powers: readonly string[]): void {
  if (powers.length === 0) throw new RangeError("powers must not be empty");
  if (new Set(powers).size !== powers.length) throw new RangeError("powers must not repeat a server");
}
