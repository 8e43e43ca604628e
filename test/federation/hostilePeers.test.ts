// Issue 5, "Hostile peers": a real homeserver S (server process, SQLite) has rooms created by its
// user Alice through the client API with real MLS commits whose federation objects list S, a
// hostile test server H and an honest recording server R. H sends PDUs that each break one thing
// (D10: shape, signature, content hash, R1-R12), requests that are not properly X-Matrix signed,
// and asks for events of a room that no longer lists it (section 7, D15). Each is refused, S's
// log names why, nothing of it is stored and nothing of it is forwarded. A well-formed PDU from H
// is stored, so the refusals are not vacuous.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClientState } from "ts-mls";
import { encodeBase64Url } from "../../src/protocol/base64.js";
import type { Ed25519Signer } from "../../src/protocol/crypto.js";
import { encodeFederationObject, type FederationObject } from "../../src/protocol/federationObject.js";
import { ENCRYPTED_EVENT_TYPE, UNSTABLE_NAMES } from "../../src/protocol/names.js";
import { computeEventId } from "../../src/protocol/pdu/hashes.js";
import { signPdu } from "../../src/protocol/pdu/signing.js";
import type { Pdu, UnsignedPdu } from "../../src/protocol/pdu/types.js";
import { signJson } from "../../src/protocol/signedJson.js";
import { xMatrixAuthorization } from "../../src/server/federation/transport/xMatrix.js";
import { pinsEnv, signedRequest, transaction } from "../server/federation/federationPeer.js";
import {
  peerCrypto,
  randomSigner,
  sqliteRows,
  startTestPeer,
  waitForLog,
  waitForLogSaying,
  type TestPeer,
} from "../helpers/hostilePeer.js";
import { request } from "../helpers/http.js";
import { MLS_ALGORITHM } from "../helpers/keyPackages.js";
import { applicationBytes, commitBytes, newGroup } from "../helpers/mls.js";
import { fed, MlsMember } from "../helpers/mlsMember.js";
import { startServerProcess, type ServerProcess } from "../helpers/serverProcess.js";
import { registerUser, type TestUser } from "../helpers/users.js";

const NAMES = UNSTABLE_NAMES;

interface TestRoom {
  readonly roomId: string;
  readonly createId: string;
  /** The room's current commit (as Alice made it through the client API). */
  commitId: string;
  readonly member: MlsMember;
}

/** What a refused PDU must never leave behind: its event ID and its ciphertext. */
interface Refused {
  readonly eventId: string;
  readonly ciphertext: string;
}

describe("hostile peers against a real homeserver (issue 5)", () => {
  let server: ServerProcess;
  let hostile: TestPeer;
  let recorder: TestPeer;
  let alice: TestUser;
  /** servers [S, H, R], powers [S], can_propose []: current commit at epoch 0. */
  let main: TestRoom;
  /** servers [S, H, R], powers [S, H]: H is the second power. */
  let ranked: TestRoom;
  /** servers [S, H, R] at epoch 0, then a commit at epoch 1 with servers [S, R]: H removed. */
  let removed: TestRoom;
  /** Alice's group of `main` one epoch ahead of the room (a commit the server never saw). */
  let ahead: ClientState;
  /** A message of `removed` at epoch 1, made while H was still in its servers. */
  let lateCiphertext: string;
  /** The commit of `removed` at epoch 0, which listed H. */
  let removedEpochZeroCommit: string;
  const refused: Refused[] = [];
  let plaintexts = 0;

  const client = (method: string, path: string, body?: unknown) =>
    request(server.url, method, `/_matrix/client/v3${path}`, { token: alice.token, body });
  const roomPath = (room: TestRoom) => `/rooms/${encodeURIComponent(room.roomId)}`;

  async function sendCommit(roomId: string, ciphertext: string): Promise<string> {
    const path = `/rooms/${encodeURIComponent(roomId)}/state/${NAMES.commitType}/`;
    const reply = await client("PUT", path, { algorithm: MLS_ALGORITHM, ciphertext });
    expect(reply.status).toBe(200);
    return reply.body.event_id as string;
  }

  /** A room of Alice's whose epoch-0 commit carries `federation`. */
  async function aliceRoom(federation: FederationObject): Promise<TestRoom> {
    const roomId = (await client("POST", "/createRoom", {})).body.room_id as string;
    const member = await MlsMember.create(roomId, alice.userId);
    const first = await member.commit(federation);
    const commitId = await sendCommit(roomId, first.ciphertext);
    first.adopt();
    const state = (await client("GET", `/rooms/${encodeURIComponent(roomId)}/state`)).body as unknown as {
      event_id: string;
      type: string;
    }[];
    const createId = state.find((event) => event.type === "m.room.create")?.event_id as string;
    return { roomId, createId, commitId, member };
  }

  /** An event of `room` from H (unless `fields` say otherwise) built on the current commit. */
  function event(room: TestRoom, fields: Partial<UnsignedPdu> & Pick<UnsignedPdu, "type" | "content">) {
    return {
      room_id: room.roomId,
      origin: hostile.serverName,
      origin_server_ts: Date.now(),
      prev_events: [room.commitId],
      auth_events: [room.createId, room.commitId],
      ...fields,
    };
  }

  const content = (ciphertext: string) => ({ algorithm: MLS_ALGORITHM, ciphertext });
  const plaintext = () =>
    JSON.stringify({ type: "m.room.message", content: { body: `hostile ${++plaintexts}` } });
  /** A fresh m.room.encrypted ciphertext of `main` at its right epoch. */
  const goodCiphertext = () => main.member.encrypt(plaintext());
  const encryptedPdu = (room: TestRoom, ciphertext: string, fields: Partial<UnsignedPdu> = {}) =>
    hostile.sign(event(room, { type: ENCRYPTED_EVENT_TYPE, content: content(ciphertext), ...fields }));

  function storedRows(refusedPdu: Refused) {
    return sqliteRows<{ event_id: string }>(
      server.database,
      "SELECT event_id FROM events WHERE event_id = ? OR instr(pdu, ?) > 0",
      [refusedPdu.eventId, refusedPdu.ciphertext],
    );
  }

  function outboundItems(eventId: string) {
    return sqliteRows<{ destination: string }>(
      server.database,
      "SELECT destination FROM federation_outbound_items WHERE event_id = ?",
      [eventId],
    );
  }

  async function messageIds(room: TestRoom): Promise<string[]> {
    const reply = await client("GET", `${roomPath(room)}/messages?dir=b&limit=100`);
    return (reply.body.chunk as { event_id: string }[]).map((e) => e.event_id);
  }

  /** Nothing of the PDU is in the events table, the outbound queue or Alice's /messages. */
  async function expectNothingKept(room: TestRoom, kept: Refused): Promise<void> {
    expect(storedRows(kept)).toEqual([]);
    expect(outboundItems(kept.eventId)).toEqual([]);
    expect(await messageIds(room)).not.toContain(kept.eventId);
  }

  /** Sends `pdu` from H in a transaction and checks it is refused under `rule`, logged, not kept. */
  async function expectRefused(room: TestRoom, pdu: object, rule: string): Promise<string> {
    const eventId = computeEventId(pdu, peerCrypto);
    const ciphertext = String((pdu as { content: { ciphertext: unknown } }).content.ciphertext);
    refused.push({ eventId, ciphertext });
    const reply = await hostile.send(server, [pdu]);
    expect(reply.status).toBe(200);
    const error = reply.body.pdus?.[eventId]?.error;
    expect(error?.startsWith(`${rule}: `), `error for ${eventId}: ${error}`).toBe(true);
    // Issue 10: the answer names the rule once ("R11: epoch ...", not "R11: R11: epoch ...").
    expect(error?.startsWith(`${rule}: ${rule}:`), `error for ${eventId}: ${error}`).toBe(false);
    const logged = await waitForLog(server, (entry) => entry.eventId === eventId && entry.rule === rule);
    expect(logged, `a log entry with rule ${rule} for ${eventId}`).toBeDefined();
    await expectNothingKept(room, { eventId, ciphertext });
    return error as string;
  }

  beforeAll(async () => {
    [hostile, recorder] = await Promise.all([startTestPeer(), startTestPeer()]);
    server = await startServerProcess({
      env: {
        MYELIN_FEDERATION_PINS: pinsEnv([
          { serverName: hostile.serverName, port: hostile.port },
          { serverName: recorder.serverName, port: recorder.port },
        ]),
        MYELIN_FEDERATION_ALLOW_PLAIN_HTTP: "loopback",
        MYELIN_FEDERATION_RETRY_INITIAL_MS: "200",
        MYELIN_FEDERATION_RETRY_MAX_MS: "1000",
      },
    });
    alice = await registerUser(server.url, "alice");
    const S = server.serverName;
    const all = [S, hostile.serverName, recorder.serverName];
    main = await aliceRoom(fed(all, [S]));
    ranked = await aliceRoom(fed(all, [S, hostile.serverName]));
    removed = await aliceRoom(fed(all, [S]));
    lateCiphertext = await removed.member.encrypt(plaintext());
    const removal = await removed.member.commit(fed([S, recorder.serverName], [S]));
    removedEpochZeroCommit = removed.commitId;
    removed.commitId = await sendCommit(removed.roomId, removal.ciphertext);
    removal.adopt();
    ahead = (await commitBytes(main.member.state, encodeFederationObject(fed(all, [S])))).newState;
  }, 60_000);

  afterAll(async () => {
    await server?.destroy();
    await Promise.all([hostile?.close(), recorder?.close()]);
  });

  describe("a well-formed PDU (positive control)", () => {
    it("stores an m.room.encrypted from H at the right epoch and shows it to Alice", async () => {
      const { pdu, eventId } = encryptedPdu(main, await goodCiphertext());
      const reply = await hostile.send(server, [pdu]);
      expect(reply.body.pdus).toEqual({ [eventId]: {} });
      expect(
        sqliteRows(server.database, "SELECT event_id FROM events WHERE event_id = ?", [eventId]),
      ).toHaveLength(1);
      expect(await messageIds(main)).toContain(eventId);
    });
  });

  describe("PDUs that break the PDU format (section 3, D2, D10)", () => {
    it("refuses a PDU whose signature was made with another key under H's key ID", async () => {
      const forged = signPdu(
        event(main, { type: ENCRYPTED_EVENT_TYPE, content: content(await goodCiphertext()) }),
        randomSigner(hostile.signer.keyId),
        peerCrypto,
      );
      await expectRefused(main, forged.pdu, "signature");
    });

    it("refuses a PDU whose content hash is wrong under H's valid signature (D2: tampering)", async () => {
      const { pdu } = encryptedPdu(main, await goodCiphertext());
      const { signatures: _dropped, ...rest } = pdu;
      const wrongHash = { ...rest, hashes: { sha256: "A".repeat(43) } };
      await expectRefused(main, signJson(wrongHash, hostile.serverName, hostile.signer), "content-hash");
    });

    it("refuses a PDU with a sender", async () => {
      const base = event(main, { type: ENCRYPTED_EVENT_TYPE, content: content(await goodCiphertext()) });
      const signed = signPdu({ ...base, sender: "@mallory:evil" } as UnsignedPdu, hostile.signer, peerCrypto);
      const error = await expectRefused(main, signed.pdu, "shape");
      expect(error).toMatch(/sender/);
    });

    it("refuses a PDU with a depth", async () => {
      const base = event(main, { type: ENCRYPTED_EVENT_TYPE, content: content(await goodCiphertext()) });
      const signed = signPdu({ ...base, depth: 7 } as UnsignedPdu, hostile.signer, peerCrypto);
      const error = await expectRefused(main, signed.pdu, "shape");
      expect(error).toMatch(/depth/);
    });

    it("refuses a PDU of more than 65,536 bytes of canonical JSON", async () => {
      const big = await main.member.encrypt("x".repeat(70_000));
      const { pdu } = encryptedPdu(main, big);
      expect(JSON.stringify(pdu).length).toBeGreaterThan(65_536);
      const error = await expectRefused(main, pdu, "shape");
      expect(error).toMatch(/65536/);
    });

    it("refuses an event type outside the four (D4)", async () => {
      const { pdu } = hostile.sign(
        event(main, { type: "m.room.message", content: content(await goodCiphertext()) }),
      );
      const error = await expectRefused(main, pdu, "R2");
      expect(error).toMatch(/D4/);
    });
  });

  describe("PDUs that break the authorization rules (section 4)", () => {
    it("R4 refuses a message whose auth events lack the commit", async () => {
      const { pdu } = encryptedPdu(main, await goodCiphertext(), { auth_events: [main.createId] });
      await expectRefused(main, pdu, "R4");
    });

    it("R7 refuses a message whose MLS group_id is another room's", async () => {
      const other = await newGroup(`!elsewhere:${hostile.serverName}`);
      const ciphertext = encodeBase64Url(await applicationBytes(other, plaintext()));
      const { pdu } = encryptedPdu(main, ciphertext);
      await expectRefused(main, pdu, "R7");
    });

    it("R8 refuses a message whose algorithm is not the room's", async () => {
      const { pdu } = hostile.sign(
        event(main, {
          type: ENCRYPTED_EVENT_TYPE,
          content: {
            algorithm: `${NAMES.prefix}MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448`,
            ciphertext: await goodCiphertext(),
          },
        }),
      );
      await expectRefused(main, pdu, "R8");
    });

    it("R11 refuses an m.room.encrypted one epoch ahead of its commit", async () => {
      const ciphertext = encodeBase64Url(await applicationBytes(ahead, plaintext()));
      const { pdu } = encryptedPdu(main, ciphertext);
      await expectRefused(main, pdu, "R11");
    });

    it("R9.3 refuses a commit one epoch ahead of its commit", async () => {
      const S = server.serverName;
      const federation = fed([S, hostile.serverName, recorder.serverName], [S]);
      const bytes = (await commitBytes(ahead, encodeFederationObject(federation))).bytes;
      const { pdu } = hostile.sign(
        event(main, { type: NAMES.commitType, state_key: "", content: content(encodeBase64Url(bytes)) }),
      );
      await expectRefused(main, pdu, "R9.3");
    });

    it("R10.1 refuses a pending commit one epoch ahead of its commit", async () => {
      const S = server.serverName;
      const federation = fed([S, hostile.serverName, recorder.serverName], [S], [hostile.serverName]);
      const bytes = (await commitBytes(ahead, encodeFederationObject(federation))).bytes;
      const { pdu } = hostile.sign(
        event(main, { type: NAMES.pendingType, content: content(encodeBase64Url(bytes)) }),
      );
      await expectRefused(main, pdu, "R10.1");
    });

    it("R9.7 refuses a commit at the right epoch from H, which is not in powers", async () => {
      const S = server.serverName;
      const commit = await main.member.commit(fed([S, hostile.serverName, recorder.serverName], [S]));
      const { pdu } = hostile.sign(
        event(main, { type: NAMES.commitType, state_key: "", content: content(commit.ciphertext) }),
      );
      await expectRefused(main, pdu, "R9.7");
    });

    it("R10.5 refuses a pending commit from H, which is not in can_propose", async () => {
      const S = server.serverName;
      const commit = await main.member.commit(fed([S, hostile.serverName, recorder.serverName], [S]));
      const { pdu } = hostile.sign(
        event(main, { type: NAMES.pendingType, content: content(commit.ciphertext) }),
      );
      await expectRefused(main, pdu, "R10.5");
    });

    it("R9.9 refuses a commit by the second power that puts itself above the first", async () => {
      const S = server.serverName;
      const commit = await ranked.member.commit(
        fed([S, hostile.serverName, recorder.serverName], [hostile.serverName, S]),
      );
      const { pdu } = hostile.sign(
        event(ranked, { type: NAMES.commitType, state_key: "", content: content(commit.ciphertext) }),
      );
      await expectRefused(ranked, pdu, "R9.9");
    });
  });

  describe("a server that a commit removed from servers (R6)", () => {
    it("R6 refuses its message built on the commit that removed it", async () => {
      const { pdu } = encryptedPdu(removed, await removed.member.encrypt(plaintext()));
      await expectRefused(removed, pdu, "R6");
    });

    it("R6 refuses its old-epoch message placed after the commit that removed it (D10: state before)", async () => {
      // Its own auth events name the old commit, which listed H; the state before it (its
      // prev_events: the commit that removed H) does not list H.
      const { pdu } = encryptedPdu(removed, lateCiphertext, {
        auth_events: [removed.createId, removedEpochZeroCommit],
        prev_events: [removed.commitId],
      });
      await expectRefused(removed, pdu, "R6");
    });
  });

  describe("requests that are not properly signed (X-Matrix)", () => {
    /** A transaction carrying a PDU that would be accepted, sent with `authorization`. */
    async function sendWith(
      authorization: (path: string, body: Record<string, unknown>) => string | null,
    ): Promise<{ status: number; body: Record<string, unknown>; kept: Refused }> {
      const ciphertext = await goodCiphertext();
      const { pdu, eventId } = encryptedPdu(main, ciphertext);
      const path = `/_matrix/federation/v1/send/badauth${eventId.slice(1, 12)}`;
      const body = transaction(hostile.serverName, [pdu]);
      const reply = await signedRequest(server.url, "PUT", path, {
        origin: hostile.serverName,
        destination: server.serverName,
        signer: hostile.signer,
        body,
        authorization: authorization(path, body),
      });
      const kept = { eventId, ciphertext };
      refused.push(kept);
      return { ...reply, kept };
    }

    /** An X-Matrix header as H would write it for `content`, signed by `signer` for `destination`. */
    const header = (path: string, content: unknown, signer: Ed25519Signer, destination = server.serverName) =>
      xMatrixAuthorization(
        { method: "PUT", uri: path, origin: hostile.serverName, destination, content },
        signer,
      );

    /** S answered 401 M_UNAUTHORIZED, logged why, and kept nothing of the transaction's PDU. */
    async function expectUnauthorized(reply: Awaited<ReturnType<typeof sendWith>>): Promise<void> {
      expect(reply.status).toBe(401);
      expect(reply.body.errcode).toBe("M_UNAUTHORIZED");
      const reason = reply.body.error as string;
      expect(await waitForLogSaying(server, reason), `a log entry saying "${reason}"`).toBeDefined();
      await expectNothingKept(main, reply.kept);
    }

    it("refuses a transaction without an Authorization header", async () => {
      await expectUnauthorized(await sendWith(() => null));
    });

    it("refuses a transaction signed with another key under H's key ID", async () => {
      const forger = randomSigner(hostile.signer.keyId);
      await expectUnauthorized(await sendWith((path, body) => header(path, body, forger)));
    });

    it("refuses a transaction whose body differs from the one H signed", async () => {
      await expectUnauthorized(
        await sendWith((path, body) => header(path, { ...body, pdus: [] }, hostile.signer)),
      );
    });

    it("refuses a transaction signed for another destination", async () => {
      await expectUnauthorized(
        await sendWith((path, body) => header(path, body, hostile.signer, "localhost:1")),
      );
    });
  });

  describe("requests for events from a server not in servers (section 7, D15)", () => {
    const roomParam = () => encodeURIComponent(removed.roomId);
    const commitParam = () => encodeURIComponent(removed.commitId);

    /** S answered 403, saying why, logged it, and sent no event. */
    async function expectForbidden(reply: { status: number; body: Record<string, unknown> }): Promise<void> {
      expect(reply.status).toBe(403);
      expect(reply.body.errcode).toBe("M_FORBIDDEN");
      const reason = reply.body.error as string;
      expect(reason).toMatch(/section 7/);
      expect(JSON.stringify(reply.body)).not.toContain(removed.commitId);
      expect(await waitForLogSaying(server, reason), `a log entry saying "${reason}"`).toBeDefined();
    }

    it("answers /event to H in a room that lists it (control)", async () => {
      const reply = await hostile.request<{ pdus: Pdu[] }>(
        server,
        "GET",
        `/_matrix/federation/v1/event/${encodeURIComponent(main.commitId)}`,
      );
      expect(reply.status).toBe(200);
      expect(reply.body.pdus).toHaveLength(1);
    });

    it("refuses /event", async () => {
      await expectForbidden(
        await hostile.request(server, "GET", `/_matrix/federation/v1/event/${commitParam()}`),
      );
    });

    it("refuses /event_auth", async () => {
      await expectForbidden(
        await hostile.request(
          server,
          "GET",
          `/_matrix/federation/v1/event_auth/${roomParam()}/${commitParam()}`,
        ),
      );
    });

    it("refuses /state_ids", async () => {
      await expectForbidden(
        await hostile.request(
          server,
          "GET",
          `/_matrix/federation/v1/state_ids/${roomParam()}?event_id=${commitParam()}`,
        ),
      );
    });

    it("refuses /backfill", async () => {
      await expectForbidden(
        await hostile.request(
          server,
          "GET",
          `/_matrix/federation/v1/backfill/${roomParam()}?v=${commitParam()}&limit=10`,
        ),
      );
    });

    it("refuses /get_missing_events", async () => {
      await expectForbidden(
        await hostile.request(server, "POST", `/_matrix/federation/v1/get_missing_events/${roomParam()}`, {
          earliest_events: [],
          latest_events: [removed.commitId],
          limit: 10,
        }),
      );
    });
  });

  describe("nothing refused is forwarded", () => {
    it("sends neither peer any refused PDU, up to an event of Alice's sent after them all", async () => {
      const sentinel = await client(
        "PUT",
        `${roomPath(main)}/send/m.room.encrypted/sentinel`,
        content(await goodCiphertext()),
      );
      expect(sentinel.status).toBe(200);
      const sentinelId = sentinel.body.event_id as string;
      const deadline = Date.now() + 15_000;
      const received = () => recorder.receivedPdus().map((pdu) => computeEventId(pdu, peerCrypto));
      while (!received().includes(sentinelId) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(received()).toContain(sentinelId);
      const forwarded = JSON.stringify([...recorder.receivedPdus(), ...hostile.receivedPdus()]);
      expect(refused.length).toBeGreaterThan(0);
      for (const kept of refused) {
        expect(forwarded).not.toContain(kept.eventId);
        expect(forwarded).not.toContain(kept.ciphertext);
      }
    });
  });
});
