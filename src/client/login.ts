// Getting an access token: registration with user-interactive auth (dummy or registration
// token) and password login, as the client-server API defines them.
import { MatrixApiError, MatrixHttp, type Fetch } from "./http/matrixHttp.js";
import { decodeLoginReply, ignoreBody, type LoginReply } from "./wire/replies.js";

export type { LoginReply } from "./wire/replies.js";

interface Credentials {
  readonly baseUrl: string;
  readonly password: string;
  readonly deviceName?: string;
  readonly fetch?: Fetch;
}

export interface RegisterFields {
  readonly username: string;
  readonly registrationToken?: string;
}

function httpFor(options: Credentials): MatrixHttp {
  return new MatrixHttp({ baseUrl: options.baseUrl, ...(options.fetch ? { fetch: options.fetch } : {}) });
}

/** /register: the first request learns the UIA session, the second completes the one stage. */
export async function registerAccount(options: Credentials & RegisterFields): Promise<LoginReply> {
  const http = httpFor(options);
  const body: Record<string, unknown> = {
    username: options.username,
    password: options.password,
    ...(options.deviceName ? { initial_device_display_name: options.deviceName } : {}),
  };
  let session: string | undefined;
  try {
    await http.request("POST", "/register", ignoreBody, { body });
  } catch (error) {
    if (!(error instanceof MatrixApiError) || error.status !== 401) throw error;
    session = typeof error.body.session === "string" ? error.body.session : undefined;
  }
  const auth = options.registrationToken
    ? { type: "m.login.registration_token", token: options.registrationToken, session }
    : { type: "m.login.dummy", session };
  return http.request("POST", "/register", decodeLoginReply, { body: { ...body, auth } });
}

export async function logIn(options: Credentials & { readonly user: string }): Promise<LoginReply> {
  return httpFor(options).request("POST", "/login", decodeLoginReply, {
    body: {
      type: "m.login.password",
      identifier: { type: "m.id.user", user: options.user },
      password: options.password,
      ...(options.deviceName ? { initial_device_display_name: options.deviceName } : {}),
    },
  });
}
