// Section 4: the authorization rules R1-R12 (with D3, D4, D9, D16) as pure functions. The first
// rule that decides, decides; a rejection names it.
import type { FederationObject } from "../federationObject.js";
import { roomIdServerName } from "../identifiers.js";
import { MLS_CONTENT_TYPE, type MlsFraming } from "../mlsFraming.js";
import {
  CREATE_EVENT_TYPE,
  eventKind,
  isMlsRoomVersion,
  namesForRoomVersion,
  STABLE_NAMES,
  UNSTABLE_NAMES,
  type MlsEventKind,
  type RoomVersionNames,
} from "../names.js";
import type { Pdu } from "../pdu/types.js";
import { isValidServerName } from "../serverName.js";
import { parseCiphertext, parseFederation, type AuthEvent } from "./authEvent.js";
import type { Rejection, RejectionKind } from "./rejection.js";

export type AuthOutcome =
  | { readonly ok: true; readonly framing?: MlsFraming; readonly federation?: FederationObject }
  | { readonly ok: false; readonly rejection: Rejection };

/** The room state the rules read: the create event and, once there is one, the current commit. */
export interface RoomAuthState {
  readonly create: AuthEvent;
  readonly commit?: AuthEvent;
}

/** Looks up an auth event that passed the checks on receipt; undefined if unknown or rejected. */
export type AuthEventLookup = (eventId: string) => AuthEvent | undefined;

const PASS: AuthOutcome = { ok: true };

function reject(rule: string, message: string, kind: RejectionKind = "forbidden"): AuthOutcome {
  return { ok: false, rejection: { rule, kind, message } };
}

/** D3: `algorithm`, with `encryption_algorithm` read as the same field. */
export function createAlgorithm(create: Pdu): unknown {
  return create.content.algorithm ?? create.content.encryption_algorithm;
}

/**
 * Checks an event against its own auth events (D10, second step after shape, signature and
 * content hash): R1-R12 including R4.
 */
export function authorizeEvent(event: Pdu, lookup: AuthEventLookup): AuthOutcome {
  const authEvents = event.auth_events.map((id) => ({ id, event: lookup(id) }));
  const create = authEvents.find((entry) => entry.event?.pdu.type === CREATE_EVENT_TYPE)?.event;
  return runRules(event, create, (kind, framing) => selectAuthEvents(event, authEvents, kind, framing));
}

/** Checks an event against the state before it (D10, last step): every rule but R4. */
export function authorizeAgainstState(event: Pdu, state: RoomAuthState): AuthOutcome {
  return runRules(event, state.create, () => ({ ok: true, value: state }));
}

type Selected =
  | { readonly ok: true; readonly value: RoomAuthState }
  | { readonly ok: false; readonly outcome: AuthOutcome };
type SelectAuthState = (kind: MlsEventKind, framing: MlsFraming) => Selected;

function namesOf(event: Pdu, create: AuthEvent | undefined): RoomVersionNames[] {
  const version =
    event.type === CREATE_EVENT_TYPE ? event.content.room_version : create?.pdu.content.room_version;
  const names = typeof version === "string" ? namesForRoomVersion(version) : undefined;
  // Without a known version, R2 accepts either name set and R3/R4 decide later.
  return names ? [names] : [UNSTABLE_NAMES, STABLE_NAMES];
}

function runRules(event: Pdu, create: AuthEvent | undefined, select: SelectAuthState): AuthOutcome {
  // R1
  if (event.state_key !== undefined && event.state_key !== "") {
    return reject("R1", `state_key must be "" when present, not ${JSON.stringify(event.state_key)}`);
  }
  // R2 and D4
  const candidates = namesOf(event, create);
  const kind = candidates.map((names) => eventKind(names, event.type)).find((k) => k !== undefined);
  if (kind === undefined) return reject("R2", `event type ${event.type} is not allowed in MLS rooms (D4)`);
  if (event.state_key !== undefined && kind !== "create" && kind !== "commit") {
    return reject("R2", `${event.type} events must not have a state_key`);
  }
  // R3
  if (kind === "create") return checkCreate(event);

  // R4 needs the epoch (an epoch-0 commit has no commit in its auth events), so read it now.
  const framing = parseCiphertext(event.content);
  if (!framing.ok) return { ok: false, rejection: framing.rejection };
  const selected = select(kind, framing.value);
  if (!selected.ok) return selected.outcome;
  const state = selected.value;
  const createPdu = state.create.pdu;
  const isEpochZeroCommit = kind === "commit" && framing.value.epoch === 0n;

  // R5
  if (createPdu.content["m.federate"] === false && event.origin !== createPdu.origin) {
    return reject("R5", `the room does not federate and ${event.origin} is not its creator's server`);
  }
  // R6
  if (!isEpochZeroCommit && !(state.commit?.federation?.federation.servers ?? []).includes(event.origin)) {
    return reject("R6", `origin ${event.origin} is not in the servers of the current commit`);
  }
  // R7
  if (event.room_id !== createPdu.room_id) {
    return reject("R7", `room_id ${event.room_id} differs from the create event's ${createPdu.room_id}`);
  }
  if (state.commit !== undefined && state.commit.pdu.room_id !== createPdu.room_id) {
    return reject("R7", `the commit ${state.commit.eventId} belongs to another room`);
  }
  const groupId = decodeUtf8(framing.value.groupId);
  if (groupId !== createPdu.room_id) {
    return reject(
      "R7",
      `MLS group_id ${JSON.stringify(groupId)} differs from the room ID ${createPdu.room_id}`,
    );
  }
  // R8
  if (event.content.algorithm !== createAlgorithm(createPdu)) {
    return reject("R8", `algorithm ${String(event.content.algorithm)} differs from the room's`);
  }
  switch (kind) {
    case "commit":
      return checkCommit(event, framing.value, state.commit);
    case "pending":
      return checkPending(event, framing.value, state.commit);
    case "encrypted":
      return checkEncrypted(framing.value, state.commit);
  }
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

function checkCreate(event: Pdu): AuthOutcome {
  if (event.state_key === undefined) return reject("R3", "the create event needs a state_key");
  if (event.prev_events.length > 0 || event.auth_events.length > 0) {
    return reject("R3", "the create event has no prev_events or auth_events");
  }
  if (!isMlsRoomVersion(event.content.room_version)) {
    return reject("R3", `room_version ${String(event.content.room_version)} is not an MLS room version`);
  }
  if (roomIdServerName(event.room_id) !== event.origin) {
    return reject("R3", `origin ${event.origin} is not the server of room ${event.room_id}`);
  }
  const { algorithm, encryption_algorithm: legacy } = event.content;
  if (algorithm !== undefined && legacy !== undefined && algorithm !== legacy) {
    return reject("R3", "algorithm and encryption_algorithm differ (D3)");
  }
  const value = createAlgorithm(event);
  if (typeof value !== "string" || value.length === 0)
    return reject("R3", "the create event needs an algorithm");
  return PASS;
}

/** R4 (with D16): exactly one create event, exactly one commit unless this is the epoch-0 commit. */
function selectAuthEvents(
  event: Pdu,
  entries: ReadonlyArray<{ id: string; event: AuthEvent | undefined }>,
  kind: MlsEventKind,
  framing: MlsFraming,
): Selected {
  const fail = (message: string): Selected => ({ ok: false, outcome: reject("R4", message) });
  const names = namesOf(event, entries.find((e) => e.event?.pdu.type === CREATE_EVENT_TYPE)?.event)[0];
  const creates: AuthEvent[] = [];
  const commits: AuthEvent[] = [];
  const seen = new Set<string>();
  for (const { id, event: authEvent } of entries) {
    if (seen.has(id)) return fail(`auth event ${id} is listed twice`);
    seen.add(id);
    if (authEvent === undefined) return fail(`auth event ${id} is unknown or did not pass the checks`);
    if (authEvent.pdu.type === CREATE_EVENT_TYPE) creates.push(authEvent);
    else if (names && authEvent.pdu.type === names.commitType) commits.push(authEvent);
    else return fail(`auth event ${id} of type ${authEvent.pdu.type} is not allowed`);
  }
  const [create] = creates;
  if (creates.length !== 1 || create === undefined) return fail("auth events need exactly one m.room.create");
  const expectedCommits = kind === "commit" && framing.epoch === 0n ? 0 : 1;
  if (commits.length !== expectedCommits) {
    return fail(
      expectedCommits === 0
        ? "the epoch-0 commit has no commit in its auth events (D16)"
        : "auth events need exactly one commit event",
    );
  }
  return { ok: true, value: { create, commit: commits[0] } };
}

/** R9.5, R9.6, R10.3: a list of server names that is empty or holds an invalid name. */
function serverListProblem(rule: string, name: string, list: readonly string[]): AuthOutcome | undefined {
  if (list.length === 0) return reject(rule, `${name} is empty`);
  const invalid = list.find((entry) => !isValidServerName(entry));
  return invalid === undefined
    ? undefined
    : reject(rule, `${name} holds an invalid server name ${JSON.stringify(invalid)}`);
}

function notIn(list: readonly string[], servers: readonly string[]): string | undefined {
  return list.find((name) => !servers.includes(name));
}

function epochOf(commit: AuthEvent | undefined): bigint | undefined {
  return commit?.framing?.epoch;
}

function epochRule(
  rule: string,
  framing: MlsFraming,
  commit: AuthEvent | undefined,
): AuthOutcome | undefined {
  const current = epochOf(commit);
  if (current === undefined || framing.epoch !== current + 1n) {
    const expected = current === undefined ? "none" : String(current + 1n);
    return reject(rule, `epoch ${framing.epoch} is not the next epoch (${expected})`, "epoch");
  }
  return undefined;
}

function checkCommit(event: Pdu, framing: MlsFraming, commit: AuthEvent | undefined): AuthOutcome {
  if (event.state_key === undefined) return reject("R9.1", "a commit event needs a state_key");
  const epochZero = framing.epoch === 0n;
  if (epochZero && roomIdServerName(event.room_id) !== event.origin) {
    return reject("R9.2", `only the room's server may send the epoch-0 commit, not ${event.origin}`);
  }
  if (epochZero && commit !== undefined)
    return reject("R9.2", "the room already has a commit; epoch 0 is taken");
  if (!epochZero && commit === undefined)
    return reject("R9.2", "a commit above epoch 0 needs a previous commit");
  if (!epochZero) {
    const epochFailure = epochRule("R9.3", framing, commit);
    if (epochFailure) return epochFailure;
  }
  if (framing.contentType !== MLS_CONTENT_TYPE.commit) {
    return reject("R9.4", `MLS content type ${framing.contentType} is not a commit`);
  }
  const parsed = parseFederation(framing);
  if (!parsed.ok) return { ok: false, rejection: parsed.rejection };
  const { powers, servers, canPropose } = parsed.value.federation;
  const serverProblem =
    serverListProblem("R9.5", "servers", servers) ?? serverListProblem("R9.6", "powers", powers);
  if (serverProblem) return serverProblem;
  const previousPowers = commit?.federation?.federation.powers ?? [];
  if (!epochZero && !previousPowers.includes(event.origin)) {
    return reject("R9.7", `origin ${event.origin} is not a power of the previous commit`);
  }
  const powerOutside = notIn(powers, servers);
  if (powerOutside !== undefined) return reject("R9.8", `power ${powerOutside} is not in servers`);
  if (!epochZero) {
    // R9.9: a server can never demote, remove or reorder the servers ranked above it.
    const above = previousPowers.slice(0, previousPowers.indexOf(event.origin));
    if (!above.every((server, i) => powers[i] === server)) {
      return reject(
        "R9.9",
        `powers must begin with ${JSON.stringify(above)}, the servers ranked above ${event.origin}`,
      );
    }
  }
  const proposerOutside = notIn(canPropose, servers);
  if (proposerOutside !== undefined)
    return reject("R9.10", `can_propose entry ${proposerOutside} is not in servers`);
  return { ok: true, framing, federation: parsed.value };
}

function checkPending(event: Pdu, framing: MlsFraming, commit: AuthEvent | undefined): AuthOutcome {
  const epochFailure = epochRule("R10.1", framing, commit);
  if (epochFailure) return epochFailure;
  if (framing.contentType !== MLS_CONTENT_TYPE.commit) {
    return reject("R10.2", `MLS content type ${framing.contentType} is not a commit`);
  }
  const parsed = parseFederation(framing);
  if (!parsed.ok) return { ok: false, rejection: parsed.rejection };
  const { powers, servers, canPropose } = parsed.value.federation;
  const serverProblem = serverListProblem("R10.3", "servers", servers);
  if (serverProblem) return serverProblem;
  const current = commit?.federation?.federation;
  if (!current || powers.length !== current.powers.length || powers.some((p, i) => p !== current.powers[i])) {
    return reject("R10.4", "a pending commit cannot change powers");
  }
  if (!current.canPropose.includes(event.origin)) {
    return reject("R10.5", `origin ${event.origin} is not in can_propose of the current commit`);
  }
  const powerOutside = notIn(powers, servers);
  if (powerOutside !== undefined) return reject("R10.6", `power ${powerOutside} is not in servers`);
  const proposerOutside = notIn(canPropose, servers);
  if (proposerOutside !== undefined)
    return reject("R10.7", `can_propose entry ${proposerOutside} is not in servers`);
  return { ok: true, framing, federation: parsed.value };
}

function checkEncrypted(framing: MlsFraming, commit: AuthEvent | undefined): AuthOutcome {
  const epochFailure = epochRule("R11", framing, commit);
  if (epochFailure) return epochFailure;
  if (framing.contentType === MLS_CONTENT_TYPE.commit) {
    return reject("D9", "commits travel only as commit or pending events, not m.room.encrypted");
  }
  // R12
  return { ok: true, framing };
}
