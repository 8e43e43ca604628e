import { describe, it, expect } from "vitest";
import fc from "fast-check";
import {
  APPLY_MS,
  SLOT_MS,
  applyWindow,
  mayApply,
  nextApplyTime,
  pendingCommitGiveUpTime,
  serversThatMayApply,
} from "../../src/protocol/commitSchedule.js";

const MIN = 60_000;
const T = 1_700_000_000_000;
const ALL = ["a.example", "b.example", "c.example", "d.example", "e.example"];

function query(powers: readonly string[], now: number, pendingBuildsOnCurrentCommit = true) {
  return { powers, pendingTs: T, now, pendingBuildsOnCurrentCommit };
}

interface ScheduleRow {
  readonly label: string;
  readonly now: number;
  readonly who: readonly string[];
}

// For 1 to 5 power servers: which servers may apply at the instants that matter.
function scheduleRows(count: number): ScheduleRow[] {
  const powers = ALL.slice(0, count);
  const rows: Array<[string, number, string[]]> = [["before t", T - 1, []]];
  powers.forEach((server, rank) => {
    const start = T + 5 * rank * MIN;
    const closing = rank === count - 1 ? "end of the last window" : `grace of rank ${rank}`;
    rows.push([`at t+${5 * rank}min (start of rank ${rank})`, start, [server]]);
    rows.push([`just before t+${5 * rank + 3}min (rank ${rank})`, start + 3 * MIN - 1, [server]]);
    rows.push([`at t+${5 * rank + 3}min (${closing})`, start + 3 * MIN, []]);
    rows.push([`just before t+${5 * rank + 5}min (grace of rank ${rank})`, start + 5 * MIN - 1, []]);
  });
  rows.push([`at t+${5 * count}min (len x 5min)`, T + 5 * count * MIN, []]);
  rows.push([`after t+${5 * count}min`, T + 5 * count * MIN + 1, []]);
  return rows.map(([label, now, who]) => ({ label, now, who }));
}

describe("commit schedule (section 6)", () => {
  it("section 6: slots are 5 minutes, of which 3 are for applying", () => {
    expect([SLOT_MS, APPLY_MS]).toEqual([5 * MIN, 3 * MIN]);
  });

  it("section 6: rank i applies during [t + 5i min, t + 5i min + 3 min)", () => {
    expect(applyWindow(2, T)).toEqual({ start: T + 10 * MIN, end: T + 13 * MIN });
  });

  it("section 6: powers[0]'s window starts at t (applies at once)", () => {
    expect(applyWindow(0, T)).toEqual({ start: T, end: T + 3 * MIN });
  });

  for (let count = 1; count <= 5; count++) {
    it.each(scheduleRows(count))(
      `section 6: powers of ${count}, $label: exactly $who may apply`,
      ({ now, who }) => {
        expect(serversThatMayApply(query(ALL.slice(0, count), now))).toEqual(who);
      },
    );
  }

  it("section 6: nobody applies a pending commit whose commit is no longer current", () => {
    expect(serversThatMayApply(query(ALL, T, false))).toEqual([]);
  });

  it("section 6: mayApply is true for the server inside its window", () => {
    expect(mayApply({ ...query(ALL, T + 5 * MIN), server: "b.example" })).toBe(true);
  });

  it("section 6: mayApply is false for another power server at that instant", () => {
    expect(mayApply({ ...query(ALL, T + 5 * MIN), server: "a.example" })).toBe(false);
  });

  it("section 6: mayApply is false inside the window once the pending commit's commit is not current", () => {
    expect(mayApply({ ...query(ALL, T + 5 * MIN, false), server: "b.example" })).toBe(false);
  });

  it("section 6: a server not in powers may never apply", () => {
    fc.assert(
      fc.property(fc.integer({ min: T - 10 * MIN, max: T + 30 * MIN }), (now) => {
        expect(mayApply({ ...query(ALL.slice(0, 3), now), server: "z.example" })).toBe(false);
      }),
    );
  });

  it("section 6: at any instant at most one server may apply (windows never overlap)", () => {
    fc.assert(
      fc.property(
        fc.shuffledSubarray(ALL, { minLength: 1 }),
        fc.integer({ min: 0, max: 2 ** 45 }),
        fc.integer({ min: -MIN, max: 30 * MIN }),
        (powers, pendingTs, offset) => {
          const may = serversThatMayApply({
            powers,
            pendingTs,
            now: pendingTs + offset,
            pendingBuildsOnCurrentCommit: true,
          });
          expect(may.length).toBeLessThanOrEqual(1);
        },
      ),
    );
  });

  it("section 6: nextApplyTime is the start of the server's window while that is ahead", () => {
    expect(nextApplyTime(ALL, "c.example", T, T + MIN)).toBe(T + 10 * MIN);
  });

  it("section 6: nextApplyTime is now inside the server's window", () => {
    expect(nextApplyTime(ALL, "c.example", T, T + 11 * MIN)).toBe(T + 11 * MIN);
  });

  it("section 6: nextApplyTime is now for powers[0] at t", () => {
    expect(nextApplyTime(ALL, "a.example", T, T)).toBe(T);
  });

  it("section 6: nextApplyTime is undefined from the end of the server's window on", () => {
    expect(nextApplyTime(ALL, "c.example", T, T + 13 * MIN)).toBeUndefined();
  });

  it("section 6: nextApplyTime is undefined for a server not in powers", () => {
    expect(nextApplyTime(ALL, "z.example", T, T - MIN)).toBeUndefined();
  });

  it("section 6: nextApplyTime is now exactly when the server may apply", () => {
    fc.assert(
      fc.property(
        fc.shuffledSubarray(ALL, { minLength: 1 }),
        fc.constantFrom(...ALL),
        fc.integer({ min: -MIN, max: 30 * MIN }),
        (powers, server, offset) => {
          const now = T + offset;
          const inside = nextApplyTime(powers, server, T, now) === now;
          expect(inside).toBe(mayApply({ ...query(powers, now), server }));
        },
      ),
    );
  });

  it.each([1, 2, 3, 4, 5])("section 6: with powers of %i the client gives up at t + len x 5 min", (count) => {
    expect(pendingCommitGiveUpTime(ALL.slice(0, count), T)).toBe(T + count * 5 * MIN);
  });

  it("section 6: the give-up time comes after the last window has closed", () => {
    fc.assert(
      fc.property(fc.shuffledSubarray(ALL, { minLength: 1 }), (powers) => {
        expect(pendingCommitGiveUpTime(powers, T)).toBeGreaterThanOrEqual(
          applyWindow(powers.length - 1, T).end,
        );
      }),
    );
  });

  it.each([
    ["a negative rank", () => applyWindow(-1, T)],
    ["a fractional rank", () => applyWindow(0.5, T)],
    ["a non-finite pendingTs", () => applyWindow(0, Number.NaN)],
    ["a non-finite now", () => serversThatMayApply(query(ALL, Number.POSITIVE_INFINITY))],
    ["a non-finite now in nextApplyTime", () => nextApplyTime(ALL, "a.example", T, Number.NaN)],
    ["a non-finite pendingTs in the give-up time", () => pendingCommitGiveUpTime(ALL, Number.NaN)],
    ["empty powers (R9.6)", () => pendingCommitGiveUpTime([], T)],
    ["a repeated server in powers (D8)", () => serversThatMayApply(query(["a.example", "a.example"], T))],
  ])("section 6: %s throws a RangeError", (_, call) => {
    expect(call).toThrow(RangeError);
  });
});
