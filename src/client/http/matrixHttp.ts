// The SDK's door to a homeserver's client-server API: JSON over an injected fetch (Node 20 and
// browsers both have one), Matrix errors turned into a typed error the app can act on, and every
// successful reply decoded (src/client/wire): a reply of the wrong shape is an UnexpectedReplyError.
import { decodeReply, type Decoder } from "../wire/decode.js";
import { decodeMatrixError } from "../wire/replies.js";

export { UnexpectedReplyError } from "../wire/decode.js";

export type Fetch = typeof globalThis.fetch;

/** A refusal from the homeserver: the HTTP status with the Matrix `{errcode, error}` body. */
export class MatrixApiError extends Error {
  override readonly name = "MatrixApiError";
  constructor(
    readonly status: number,
    readonly errcode: string,
    message: string,
    /** The whole error body: some errors carry more (D12 `current_epoch`, UIA `flows`). */
    readonly body: Readonly<Record<string, unknown>>,
  ) {
    super(`${errcode}: ${message}`);
  }
}

/** The homeserver could not be reached or answered something that is not Matrix JSON. */
export class HomeserverUnreachableError extends Error {
  override readonly name = "HomeserverUnreachableError";
}

export interface MatrixHttpOptions {
  readonly baseUrl: string;
  readonly accessToken?: string;
  readonly fetch?: Fetch;
}

type Method = "GET" | "POST" | "PUT" | "DELETE";

export interface RequestOptions {
  readonly body?: unknown;
  readonly query?: Record<string, string | number | undefined>;
  /** Aborts a long poll when the client stops. */
  readonly signal?: AbortSignal;
}

export class MatrixHttp {
  readonly baseUrl: string;
  private readonly fetch: Fetch;
  accessToken: string | undefined;

  constructor(options: MatrixHttpOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.accessToken = options.accessToken;
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /**
   * `path` is below `/_matrix/client/v3`; every segment the caller interpolates must be encoded.
   * `decode` turns the reply's JSON into what the caller reads.
   */
  async request<T>(
    method: Method,
    path: string,
    decode: Decoder<T>,
    options: RequestOptions = {},
  ): Promise<T> {
    const url = new URL(`${this.baseUrl}/_matrix/client/v3${path}`);
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    const headers: Record<string, string> = {};
    if (this.accessToken !== undefined) headers.authorization = `Bearer ${this.accessToken}`;
    if (options.body !== undefined) headers["content-type"] = "application/json";
    let response: Response;
    try {
      response = await this.fetch(url, {
        method,
        headers,
        ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (error) {
      if (options.signal?.aborted) throw error;
      throw new HomeserverUnreachableError(`cannot reach ${this.baseUrl}: ${describe(error)}`);
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = text === "" ? {} : JSON.parse(text);
    } catch {
      throw new HomeserverUnreachableError(`${this.baseUrl} answered ${response.status} without JSON`);
    }
    if (!response.ok) {
      const error = decodeMatrixError(response.status, body);
      throw new MatrixApiError(response.status, error.errcode, error.error, error.body);
    }
    // The path without its query: an error names the endpoint, never a token or filter.
    return decodeReply(decode, body, `${method} ${path}`);
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
  }
  return String(error);
}

/** One path segment, percent-encoded. */
export function segment(value: string): string {
  return encodeURIComponent(value);
}
