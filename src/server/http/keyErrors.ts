// The keys domain's refusals (keys/keyErrors.ts) as Matrix errors: M_FORBIDDEN is 403, every
// other one a bad request (400), as the client-server spec's key endpoints answer them.
import { MatrixError } from "../errors.js";
import { KeyError } from "../keys/keyErrors.js";

export function keyErrorAsMatrix(error: KeyError): MatrixError {
  return new MatrixError(error.errcode === "M_FORBIDDEN" ? 403 : 400, error.errcode, error.message);
}

/** Runs a keys route's work, answering a KeyError it throws as the Matrix error it names. */
export async function answeringKeyErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof KeyError) throw keyErrorAsMatrix(error);
    throw error;
  }
}
