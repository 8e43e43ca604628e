// End-to-end key endpoints (client-server spec v1.11, "End-to-end encryption" and "Cross-signing"),
// with MLS key packages as one-time and fallback keys (section 9) and GET /keys/list.
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ServerComponent } from "../component.js";
import type { ServerContext } from "../context.js";
import { invalidParam, missingParam } from "../errors.js";
import { requireSession } from "../http/auth.js";
import { answeringKeyErrors } from "../http/keyErrors.js";
import { bodyObject, isJsonObject, optionalObject, type JsonObject } from "../json.js";
import {
  CROSS_SIGNING_USAGES,
  checkCrossSigningUpload,
  crossSigningNeedsAuth,
  storeCrossSigningKeys,
  type CrossSigningUploadBody,
} from "../keys/crossSigning.js";
import { changedUsers } from "../keys/deviceLists.js";
import { claimRequest, queryRequest } from "../keys/keyRequests.js";
import { keysMigrations, listKeys } from "../keys/keyStore.js";
import { uploadSignatures } from "../keys/keySignatures.js";
import { uploadKeys, type KeysUpload } from "../keys/localKeys.js";
import { claimKeys, keysTimeout, queryKeys } from "../keys/remoteUserKeys.js";
import { checkPassword } from "../services/accounts.js";
import type { Session } from "../auth/sessions.js";
import { requireUia, type UiaRequest } from "../services/uia.js";
import { parseToken } from "./rooms.js";

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

/** A query parameter given once; undefined when absent. */
function queryParam(query: unknown, name: string): string | undefined {
  if (!isJsonObject(query) || !Object.hasOwn(query, name)) return undefined;
  const value = query[name];
  if (typeof value !== "string") throw invalidParam(`${name} must be given once`);
  return value;
}

/** POST /keys/upload: each field absent, null or an object (device_keys is checked whole later). */
function keysUpload(body: JsonObject): KeysUpload {
  return {
    deviceKeys: optionalObject(body, "device_keys"),
    oneTimeKeys: optionalObject(body, "one_time_keys"),
    fallbackKeys: optionalObject(body, "fallback_keys"),
  };
}

/** POST /keys/device_signing/upload: the keys given, by usage, each checked whole later. */
function crossSigningUploadBody(body: JsonObject): CrossSigningUploadBody {
  const keys: CrossSigningUploadBody = {};
  for (const usage of CROSS_SIGNING_USAGES) {
    const value = body[`${usage}_key`];
    if (value !== undefined && value !== null) keys[usage] = value;
  }
  return keys;
}

type KeyRoute = (request: FastifyRequest) => Promise<unknown>;

function routes(api: FastifyInstance, ctx: ServerContext): void {
  // Every handler answers the keys domain's refusals (KeyError) as Matrix errors.
  const post = (path: string, handler: KeyRoute) =>
    api.post(path, (request) => answeringKeyErrors(() => handler(request)));
  const get = (path: string, handler: KeyRoute) =>
    api.get(path, (request) => answeringKeyErrors(() => handler(request)));

  post("/keys/upload", async (request) => {
    const session = await requireSession(ctx, request);
    const counts = await uploadKeys(ctx, session, keysUpload(bodyObject(request.body)));
    return { one_time_key_counts: counts };
  });

  // Section 9: the caller's device's own stored key IDs, `<algorithm>:<key_id>`, oldest first.
  get("/keys/list", async (request) => {
    const { userId, deviceId } = await requireSession(ctx, request);
    return listKeys(ctx.db, userId, deviceId);
  });

  // Users of other servers are asked through federation (keys/remoteUserKeys.ts).
  post("/keys/query", async (request) => {
    const { userId } = await requireSession(ctx, request);
    const body = bodyObject(request.body);
    return queryKeys(ctx, userId, queryRequest(body), keysTimeout(body.timeout));
  });

  post("/keys/claim", async (request) => {
    await requireSession(ctx, request);
    const body = bodyObject(request.body);
    return claimKeys(ctx, claimRequest(body), keysTimeout(body.timeout));
  });

  get("/keys/changes", async (request) => {
    const { userId } = await requireSession(ctx, request);
    const from = queryParam(request.query, "from");
    const to = queryParam(request.query, "to");
    if (from === undefined) throw missingParam("from");
    if (to === undefined) throw missingParam("to");
    return { changed: await changedUsers(ctx.db, userId, parseToken(from), parseToken(to)), left: [] };
  });

  post("/keys/device_signing/upload", async (request) => {
    const session = await requireSession(ctx, request);
    const body = bodyObject(request.body);
    const auth = optionalObject(body, "auth");
    const upload = await checkCrossSigningUpload(ctx, session.userId, crossSigningUploadBody(body));
    if (await crossSigningNeedsAuth(ctx, session.userId, upload)) {
      await requireUia(ctx, auth, passwordUia(ctx, session));
    }
    await storeCrossSigningKeys(ctx, session.userId, upload);
    return {};
  });

  post("/keys/signatures/upload", async (request) => {
    const session = await requireSession(ctx, request);
    return { failures: await uploadSignatures(ctx, session, bodyObject(request.body)) };
  });
}

export const keysComponent: ServerComponent = {
  name: "keys",
  migrations: keysMigrations,
  clientRoutes: routes,
};
