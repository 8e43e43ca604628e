// Why an event was refused: the rule that decided, and how the HTTP edge should answer (D21).

/**
 * malformed: 400 M_BAD_JSON (unreadable ciphertext or federation object);
 * epoch: 409 DE.BWI.MLS_EPOCH_MISMATCH (R9.3, R10.1, R11);
 * forbidden: 403 M_FORBIDDEN with the rule number first in the error.
 */
export type RejectionKind = "malformed" | "epoch" | "forbidden";

export interface Rejection {
  /** The spec number that decided: "R9.4", "D9", "D21" (malformed ciphertext), "D7" (federation object). */
  readonly rule: string;
  readonly kind: RejectionKind;
  readonly message: string;
}

/** "R9.4: ..." as D21 wants it at the start of `error`. */
export function describeRejection(rejection: Rejection): string {
  return `${rejection.rule}: ${rejection.message}`;
}
