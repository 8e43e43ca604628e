// End-to-end key endpoints (client-server spec v1.11, "End-to-end encryption" and "Cross-signing"),
// with MLS key packages as one-time and fallback keys (section 9) and GET /keys/list.
import type { FastifyInstance } from "fastify";
import type { ServerComponent } from "../component.js";
import type { ServerContext } from "../context.js";
import { badJson, missingParam } from "../errors.js";
import { requireSession } from "../http/auth.js";
import { bodyObject, isJsonObject, optionalObject, type JsonObject } from "../http/body.js";
import { checkPassword } from "../services/accounts.js";
import { changedUsers } from "../services/deviceLists.js";
import {
  checkCrossSigningUpload,
  claimKeys,
  crossSigningNeedsAuth,
  keysMigrations,
  listKeys,
  queryKeys,
  storeCrossSigningKeys,
  uploadKeys,
  uploadSignatures,
} from "../services/keys.js";
import type { Session } from "../services/sessions.js";
import { requireUia, type UiaRequest } from "../services/uia.js";
import { parseToken } from "./rooms.js";

/** A required object field whose values are all `check`ed; M_BAD_JSON naming `what` otherwise. */
function mapOf<T>(body: JsonObject, field: string, check: (value: unknown) => value is T, what: string) {
  const value = body[field];
  if (value === undefined || value === null) throw missingParam(field);
  if (!isJsonObject(value) || !Object.values(value).every(check))
    throw badJson(`${field} must map user IDs to ${what}`);
  return value as Record<string, T>;
}

const isStringList = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((v) => typeof v === "string");
const isAlgorithmMap = (value: unknown): value is Record<string, string> =>
  isJsonObject(value) && Object.values(value).every((v) => typeof v === "string");

/** UIA with m.login.password for the account's own password (replacing cross-signing keys). */
function passwordUia(ctx: ServerContext, session: Session): UiaRequest {
  return {
    action: "device_signing_upload",
    userId: session.userId,
    flows: [{ stages: ["m.login.password"] }],
    check: async (auth) => {
      const identifier = auth.identifier;
      const named = isJsonObject(identifier) ? identifier.user : auth.user;
      const namesOther =
        typeof named === "string" &&
        named !== session.userId &&
        `@${named}:${ctx.config.serverName}` !== session.userId;
      const password = auth.password;
      if (
        namesOther ||
        typeof password !== "string" ||
        !(await checkPassword(ctx, session.userId, password))
      ) {
        return { errcode: "M_FORBIDDEN", message: "Invalid password" };
      }
      return undefined;
    },
  };
}

function routes(api: FastifyInstance, ctx: ServerContext): void {
  api.post("/keys/upload", async (request) => {
    const session = await requireSession(ctx, request);
    const counts = await uploadKeys(ctx, session, bodyObject(request.body));
    return { one_time_key_counts: counts };
  });

  // Section 9: the caller's device's own stored key IDs, `<algorithm>:<key_id>`, oldest first.
  api.get("/keys/list", async (request) => {
    const { userId, deviceId } = await requireSession(ctx, request);
    return listKeys(ctx.db, userId, deviceId);
  });

  api.post("/keys/query", async (request) => {
    const { userId } = await requireSession(ctx, request);
    const wanted = mapOf(bodyObject(request.body), "device_keys", isStringList, "lists of device IDs");
    return { failures: {}, ...(await queryKeys(ctx, userId, wanted)) };
  });

  api.post("/keys/claim", async (request) => {
    await requireSession(ctx, request);
    const wanted = mapOf(
      bodyObject(request.body),
      "one_time_keys",
      isAlgorithmMap,
      "maps of device ID to algorithm",
    );
    return { failures: {}, one_time_keys: await claimKeys(ctx, wanted) };
  });

  api.get("/keys/changes", async (request) => {
    const { userId } = await requireSession(ctx, request);
    const { from, to } = request.query as { from?: string; to?: string };
    if (from === undefined) throw missingParam("from");
    if (to === undefined) throw missingParam("to");
    return { changed: await changedUsers(ctx.db, userId, parseToken(from), parseToken(to)), left: [] };
  });

  api.post("/keys/device_signing/upload", async (request) => {
    const session = await requireSession(ctx, request);
    const body = bodyObject(request.body);
    const auth = optionalObject(body, "auth");
    const upload = await checkCrossSigningUpload(ctx, session.userId, body);
    if (await crossSigningNeedsAuth(ctx, session.userId, upload)) {
      await requireUia(ctx, auth, passwordUia(ctx, session));
    }
    await storeCrossSigningKeys(ctx, session.userId, upload);
    return {};
  });

  api.post("/keys/signatures/upload", async (request) => {
    const session = await requireSession(ctx, request);
    return { failures: await uploadSignatures(ctx, session, bodyObject(request.body)) };
  });
}

export const keysComponent: ServerComponent = {
  name: "keys",
  migrations: keysMigrations,
  clientRoutes: routes,
};
