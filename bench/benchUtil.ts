// Small pieces the benchmarks share: registering users, bounded parallelism, percentiles.
import type { ServerProcess } from "../test/helpers/serverProcess.js";
import { call } from "./httpClient.js";

export interface User {
  readonly userId: string;
  readonly token: string;
  readonly deviceId: string;
}

export async function register(server: ServerProcess, localpart: string): Promise<User> {
  const path = "/_matrix/client/v3/register";
  const password = "bench password";
  const first = await call(server.url, "POST", path, undefined, { username: localpart, password });
  const reply = await call(server.url, "POST", path, undefined, {
    username: localpart,
    password,
    auth: { type: "m.login.dummy", session: first.body.session },
  });
  if (reply.status !== 200) throw new Error(`register ${localpart}: ${JSON.stringify(reply.body)}`);
  return {
    userId: reply.body.user_id as string,
    token: reply.body.access_token as string,
    deviceId: reply.body.device_id as string,
  };
}

/** Runs `task` for 0..count-1 with at most `width` at a time. */
export async function inParallel<T>(
  count: number,
  width: number,
  task: (i: number) => Promise<T>,
): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await task(i);
      }
    }),
  );
  return results;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}
