// The one error type of the MLS adapter: the engine refused an input or an operation.
export class MlsEngineError extends Error {
  override readonly name = "MlsEngineError";
}
