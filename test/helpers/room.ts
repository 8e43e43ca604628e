// Test fixtures: signed PDUs of MLS rooms whose ciphertexts are real MLS messages (ts-mls).
import type { ClientState } from "ts-mls";
import { toAuthEvent, type AuthEvent } from "../../src/protocol/auth/authEvent.js";
import type { AuthEventLookup } from "../../src/protocol/auth/rules.js";
import { encodeBase64Url } from "../../src/protocol/base64.js";
import { encodeFederationObject, type FederationObject } from "../../src/protocol/federationObject.js";
import { defaultAlgorithm, UNSTABLE_NAMES, type RoomVersionNames } from "../../src/protocol/names.js";
import { nobleCrypto, nobleSigner } from "../../src/protocol/nobleCrypto.js";
import { signPdu } from "../../src/protocol/pdu/signing.js";
import type { Pdu, UnsignedPdu } from "../../src/protocol/pdu/types.js";
import { applicationBytes, commitBytes, newGroup } from "./mls.js";

export const crypto = nobleCrypto;

/** A deterministic federation signing key per server name. */
export function serverSigner(serverName: string) {
  return nobleSigner("ed25519:test", crypto.sha256(new TextEncoder().encode(serverName)));
}

const publicKeys = new Map<string, Uint8Array>();

/** Public keys of the test servers; cached, since deriving one costs more than a verification. */
export function keyLookup(serverName: string, keyId: string): Uint8Array | undefined {
  if (keyId !== "ed25519:test") return undefined;
  let key = publicKeys.get(serverName);
  if (key === undefined) {
    key = serverSigner(serverName).publicKey;
    publicKeys.set(serverName, key);
  }
  return key;
}

export function federation(
  fields: Partial<FederationObject["federation"]> & { window?: number } = {},
): FederationObject {
  const servers = fields.servers ?? ["a.example"];
  return {
    federation: {
      powers: fields.powers ?? [servers[0] ?? "a.example"],
      servers,
      canPropose: fields.canPropose ?? [],
    },
    security: { window: fields.window ?? 0, requiredVerification: "m.cross" },
  };
}

export function signed(event: UnsignedPdu): { pdu: Pdu; eventId: string } {
  return signPdu(event, serverSigner(event.origin), crypto);
}

/** An event as the rules see it once it has passed the checks. */
export function accepted(event: UnsignedPdu): AuthEvent {
  const { pdu, eventId } = signed(event);
  return toAuthEvent(eventId, pdu);
}

export function lookupOf(...events: AuthEvent[]): AuthEventLookup {
  const byId = new Map(events.map((e) => [e.eventId, e]));
  return (id) => byId.get(id);
}

export interface RoomFixture {
  readonly roomId: string;
  readonly names: RoomVersionNames;
  readonly algorithm: string;
  readonly create: AuthEvent;
  /** The epoch-0 commit, accepted: current state of the room. */
  readonly commit0: AuthEvent;
  /** The MLS group after merging commit0 (epoch 1). */
  readonly group: ClientState;
  readonly lookup: AuthEventLookup;
  /** An event of this room with the given fields, prev_events pointing at the commit. */
  event(fields: Partial<UnsignedPdu> & Pick<UnsignedPdu, "type" | "origin" | "content">): UnsignedPdu;
  /** content {algorithm, ciphertext} for MLS bytes. */
  mlsContent(bytes: Uint8Array): Record<string, unknown>;
}

export interface RoomOptions {
  readonly server?: string;
  readonly names?: RoomVersionNames;
  readonly federation?: FederationObject;
  readonly createContent?: Record<string, unknown>;
}

/** A room on `server` (default a.example) with its create event and an accepted epoch-0 commit. */
export async function roomFixture(options: RoomOptions = {}): Promise<RoomFixture> {
  const server = options.server ?? "a.example";
  const names = options.names ?? UNSTABLE_NAMES;
  const roomId = `!room:${server}`;
  const algorithm = defaultAlgorithm(names);
  const create = accepted({
    room_id: roomId,
    type: "m.room.create",
    state_key: "",
    origin: server,
    origin_server_ts: 1_000,
    content: { room_version: names.roomVersion, algorithm, ...options.createContent },
    prev_events: [],
    auth_events: [],
  });
  const mlsContent = (bytes: Uint8Array) => ({ algorithm, ciphertext: encodeBase64Url(bytes) });
  const first = await commitBytes(
    await newGroup(roomId),
    encodeFederationObject(options.federation ?? federation({ servers: [server] })),
  );
  const commit0 = accepted({
    room_id: roomId,
    type: names.commitType,
    state_key: "",
    origin: server,
    origin_server_ts: 2_000,
    content: mlsContent(first.bytes),
    prev_events: [create.eventId],
    auth_events: [create.eventId],
  });
  return {
    roomId,
    names,
    algorithm,
    create,
    commit0,
    group: first.newState,
    lookup: lookupOf(create, commit0),
    mlsContent,
    event: (fields) => ({
      room_id: roomId,
      origin_server_ts: 3_000,
      prev_events: [commit0.eventId],
      auth_events: [create.eventId, commit0.eventId],
      ...fields,
    }),
  };
}

export { applicationBytes, commitBytes };
