// Requests to other homeservers: discovery finds the address, X-Matrix signs the request, the
// transport enforces the plain-HTTP policy, a timeout and a size limit on the answer. Every
// failure is a FederationRequestError (status 0 when no HTTP answer came).
import { canonicalJson, CanonicalJsonError } from "../../../protocol/canonicalJson.js";
import type { Ed25519Signer } from "../../../protocol/crypto.js";
import {
  FederationRequestError,
  type FederationClient,
  type FederationRequestOptions,
} from "../../federationTypes.js";
import { ServerNameError, type ServerResolver } from "./discovery.js";
import {
  TransportError,
  type HttpResponse,
  type HttpTransport,
  type TransportFailure,
} from "./httpTransport.js";
import { xMatrixAuthorization } from "./xMatrix.js";

export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

/** errcodes of failures without an HTTP answer (status 0). */
export const TRANSPORT_ERRCODES: Readonly<Record<TransportFailure | "bad-name" | "not-json", string>> = {
  "plain-http-refused": "MYELIN_PLAIN_HTTP_REFUSED",
  "private-address-refused": "MYELIN_PRIVATE_ADDRESS_REFUSED",
  timeout: "MYELIN_TIMEOUT",
  "too-large": "MYELIN_TOO_LARGE",
  unreachable: "MYELIN_UNREACHABLE",
  aborted: "MYELIN_ABORTED",
  "bad-name": "MYELIN_INVALID_SERVER_NAME",
  "not-json": "MYELIN_NOT_JSON",
};

export interface FederationClientOptions {
  readonly serverName: string;
  readonly signer: Ed25519Signer;
  readonly resolver: ServerResolver;
  readonly transport: HttpTransport;
  readonly defaultTimeoutMs?: number;
  readonly maxResponseBytes?: number;
}

export interface FederationClientWithKeys extends FederationClient {
  /** An unsigned GET, for `/_matrix/key/v2/server`, which needs no authentication. */
  getUnsigned<T>(destination: string, path: string, options?: FederationRequestOptions): Promise<T>;
}

export function createFederationClient(options: FederationClientOptions): FederationClientWithKeys {
  const exchange = async <T>(
    destination: string,
    method: "GET" | "PUT" | "POST",
    path: string,
    request: FederationRequestOptions,
    signed: boolean,
  ): Promise<T> => {
    if (destination === options.serverName) {
      throw new FederationRequestError(
        destination,
        0,
        "MYELIN_SELF",
        "refusing a federation request to this server itself",
      );
    }
    const uri = path + queryString(request.query);
    let body: string | undefined;
    try {
      body = request.body === undefined ? undefined : canonicalJson(request.body);
    } catch (error) {
      if (error instanceof CanonicalJsonError) {
        throw new FederationRequestError(
          destination,
          0,
          "MYELIN_BAD_BODY",
          `body is not canonical JSON: ${error.message}`,
        );
      }
      throw error;
    }
    const headers: Record<string, string> = { accept: "application/json" };
    if (signed) {
      headers.authorization = xMatrixAuthorization(
        { method, uri, origin: options.serverName, destination, content: request.body },
        options.signer,
      );
    }
    let response: HttpResponse;
    try {
      const target = await options.resolver.resolve(destination);
      response = await options.transport.send(target, {
        method,
        path: uri,
        headers,
        ...(body !== undefined ? { body } : {}),
        timeoutMs: request.timeoutMs ?? options.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS,
        maxResponseBytes: options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
        ...(request.signal !== undefined ? { signal: request.signal } : {}),
      });
    } catch (error) {
      if (error instanceof TransportError) {
        throw new FederationRequestError(destination, 0, TRANSPORT_ERRCODES[error.failure], error.message);
      }
      if (error instanceof ServerNameError) {
        throw new FederationRequestError(destination, 0, TRANSPORT_ERRCODES["bad-name"], error.message);
      }
      throw error;
    }
    return answer<T>(destination, response);
  };
  return {
    request: (destination, method, path, request = {}) => exchange(destination, method, path, request, true),
    getUnsigned: (destination, path, request = {}) => exchange(destination, "GET", path, request, false),
  };
}

function queryString(query: FederationRequestOptions["query"]): string {
  if (query === undefined) return "";
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query))
    if (value !== undefined) params.append(name, String(value));
  const text = params.toString();
  return text === "" ? "" : `?${text}`;
}

function answer<T>(destination: string, response: HttpResponse): T {
  const text = response.body.toString("utf8");
  let parsed: unknown;
  try {
    parsed = text === "" ? {} : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (response.status >= 200 && response.status < 300) {
    if (parsed === undefined) {
      throw new FederationRequestError(
        destination,
        0,
        TRANSPORT_ERRCODES["not-json"],
        "the answer is not JSON",
      );
    }
    return parsed as T;
  }
  const error = (parsed ?? {}) as { errcode?: unknown; error?: unknown };
  throw new FederationRequestError(
    destination,
    response.status,
    typeof error.errcode === "string" ? error.errcode : "M_UNKNOWN",
    typeof error.error === "string" ? error.error : `HTTP ${response.status}`,
  );
}
