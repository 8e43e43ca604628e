// User-Interactive Authentication (client-server spec): a request without `auth` gets a 401 naming
// the flows that would complete it and a session ID; the client retries with one stage done.
// Every flow offered here has a single stage, so a session only ties the retry to the challenge
// (same action, same user). Sessions live in memory: after a restart a client simply gets a new
// challenge.
import { randomBytes } from "node:crypto";
import type { ServerContext } from "../context.js";
import { MatrixError } from "../errors.js";
import { optionalString, type JsonObject } from "../json.js";

export interface UiaFlow {
  readonly stages: readonly string[];
}

/** The 401 of UIA: the challenge, plus errcode and error when the last attempt failed. */
export class AuthRequired extends MatrixError {
  constructor(
    private readonly challenge: Readonly<Record<string, unknown>>,
    private readonly failure?: { readonly errcode: string; readonly message: string },
  ) {
    super(401, failure?.errcode ?? "M_UNAUTHORIZED", failure?.message ?? "Authentication required");
  }

  override toJSON(): Record<string, unknown> {
    return this.failure
      ? { errcode: this.failure.errcode, error: this.failure.message, ...this.challenge }
      : { ...this.challenge };
  }
}

/** What a stage check answers: undefined when it passed, else why it failed. */
export type StageFailure = { readonly errcode: string; readonly message: string } | undefined;

export interface UiaRequest {
  /** Names the operation, so that a session started for one cannot complete another. */
  readonly action: string;
  /** The authenticated user, for operations on an existing account. */
  readonly userId?: string;
  readonly flows: readonly UiaFlow[];
  readonly params?: Readonly<Record<string, unknown>>;
  /** Checks a submitted stage (its type is one the flows offer). */
  readonly check: (auth: JsonObject) => Promise<StageFailure>;
}

interface UiaSession {
  readonly action: string;
  readonly userId: string | undefined;
  readonly expires: number;
}

const SESSION_LIFETIME_MS = 15 * 60_000;
const MAX_SESSIONS = 10_000;
const sessionsByServer = new WeakMap<ServerContext, Map<string, UiaSession>>();

function sessionsOf(ctx: ServerContext): Map<string, UiaSession> {
  let sessions = sessionsByServer.get(ctx);
  if (sessions === undefined) {
    sessions = new Map();
    sessionsByServer.set(ctx, sessions);
  }
  return sessions;
}

function startSession(ctx: ServerContext, request: UiaRequest): string {
  const sessions = sessionsOf(ctx);
  const now = ctx.clock.now();
  if (sessions.size >= MAX_SESSIONS) {
    for (const [id, session] of sessions) if (session.expires <= now) sessions.delete(id);
    // Still full: drop the oldest (Map keeps insertion order).
    const oldest = sessions.keys().next();
    if (sessions.size >= MAX_SESSIONS && !oldest.done) sessions.delete(oldest.value);
  }
  const id = randomBytes(18).toString("base64url");
  sessions.set(id, { action: request.action, userId: request.userId, expires: now + SESSION_LIFETIME_MS });
  return id;
}

function challenge(request: UiaRequest, session: string): Record<string, unknown> {
  return { flows: request.flows, params: request.params ?? {}, session, completed: [] };
}

/** The first 401 of an operation: its flows and a new session. */
export function newChallenge(ctx: ServerContext, request: UiaRequest): AuthRequired {
  return new AuthRequired(challenge(request, startSession(ctx, request)));
}

/**
 * Resolves when `auth` completes one of the request's flows; otherwise throws the 401 that tells
 * the client what to do (with errcode and error when a submitted stage failed).
 */
export async function requireUia(
  ctx: ServerContext,
  auth: JsonObject | undefined,
  request: UiaRequest,
): Promise<void> {
  if (auth === undefined) throw newChallenge(ctx, request);
  const sessions = sessionsOf(ctx);
  const given = optionalString(auth, "session");
  const type = optionalString(auth, "type");
  if (given !== undefined) {
    const session = sessions.get(given);
    const expired = session !== undefined && session.expires <= ctx.clock.now();
    if (expired) sessions.delete(given);
    // Someone else's session is left alone: presenting it must not cancel it.
    if (
      session === undefined ||
      expired ||
      session.action !== request.action ||
      session.userId !== request.userId
    ) {
      throw new AuthRequired(challenge(request, startSession(ctx, request)), {
        errcode: "M_UNKNOWN",
        message: "Unknown or expired authentication session; start again with the new one",
      });
    }
  }
  // A stage submitted without a session starts one, so a failure can name it.
  const sessionId = given ?? startSession(ctx, request);
  // No type: the client believes a stage was completed out of band; none is offered here.
  if (type === undefined) throw new AuthRequired(challenge(request, sessionId));
  if (!request.flows.some((flow) => flow.stages[0] === type)) {
    throw new AuthRequired(challenge(request, sessionId), {
      errcode: "M_UNRECOGNIZED",
      message: `Authentication type ${type} is not offered here`,
    });
  }
  const failure = await request.check(auth);
  if (failure !== undefined) throw new AuthRequired(challenge(request, sessionId), failure);
  sessions.delete(sessionId);
}
