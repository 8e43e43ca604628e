// Registers users on a test server the way clients do: user-interactive auth with m.login.dummy.
import { request } from "./http.js";

export interface TestUser {
  readonly userId: string;
  readonly token: string;
  readonly deviceId: string;
}

export async function registerUser(
  baseUrl: string,
  localpart: string,
  password = "correct horse battery",
): Promise<TestUser> {
  const first = await request<{ session?: string }>(baseUrl, "POST", "/_matrix/client/v3/register", {
    body: { username: localpart, password },
  });
  const reply = await request<{ user_id: string; access_token: string; device_id: string }>(
    baseUrl,
    "POST",
    "/_matrix/client/v3/register",
    { body: { username: localpart, password, auth: { type: "m.login.dummy", session: first.body.session } } },
  );
  if (reply.status !== 200)
    throw new Error(`register ${localpart}: ${reply.status} ${JSON.stringify(reply.body)}`);
  return { userId: reply.body.user_id, token: reply.body.access_token, deviceId: reply.body.device_id };
}

/** Logs an existing user in again: a new device of theirs. */
export async function loginUser(baseUrl: string, userId: string, password: string): Promise<TestUser> {
  const reply = await request<{ user_id: string; access_token: string; device_id: string }>(
    baseUrl,
    "POST",
    "/_matrix/client/v3/login",
    { body: { type: "m.login.password", identifier: { type: "m.id.user", user: userId }, password } },
  );
  if (reply.status !== 200) throw new Error(`login ${userId}: ${reply.status} ${JSON.stringify(reply.body)}`);
  return { userId: reply.body.user_id, token: reply.body.access_token, deviceId: reply.body.device_id };
}
