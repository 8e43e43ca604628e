// D21 and D12: how a rule's rejection is answered to a client.
import type { Rejection } from "../../protocol/auth/rejection.js";
import { describeRejection } from "../../protocol/auth/rejection.js";
import { EPOCH_MISMATCH_ERRCODE } from "../../protocol/names.js";
import { MatrixError } from "../errors.js";

export interface CurrentCommit {
  readonly eventId: string;
  readonly epoch: bigint;
}

/** The epoch the next message or commit must carry, for the 409 body (D21). */
export function nextEpoch(commit: CurrentCommit | undefined): number {
  return commit === undefined ? 0 : Number(commit.epoch + 1n);
}

export function rejectionToError(rejection: Rejection, commit: CurrentCommit | undefined): MatrixError {
  switch (rejection.kind) {
    case "malformed":
      return new MatrixError(400, "M_BAD_JSON", describeRejection(rejection));
    case "epoch":
      return new MatrixError(409, EPOCH_MISMATCH_ERRCODE, describeRejection(rejection), {
        current_epoch: nextEpoch(commit),
        current_commit: commit?.eventId ?? null,
      });
    case "forbidden":
      return new MatrixError(403, "M_FORBIDDEN", describeRejection(rejection));
  }
}
