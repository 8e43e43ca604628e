// Slow requests (issue 9, defect 5): a request's headers and body must arrive within
// limits.body_timeout_ms, on the client API listener and the federation TLS listener alike, or
// Node answers 408 and closes the connection. Without it a stalled upload holds its connection
// and whatever part of its body was read for as long as the client likes.
import type { Server } from "node:http";

/** Node checks the timeouts of open connections this often (30 s by default: far too coarse). */
const CHECK_INTERVAL_MS = 500;

/** Sets the timeouts of `server`; must be called before it listens (the check starts then). */
export function limitRequestTime(server: Server, timeoutMs: number): void {
  server.requestTimeout = timeoutMs;
  server.headersTimeout = timeoutMs;
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = Math.min(
    CHECK_INTERVAL_MS,
    timeoutMs,
  );
}
