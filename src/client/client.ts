// MyelinClient: the SDK an app uses, and the driver of its core. It logs in, sets the device up
// (section 9), keeps key packages topped up, runs sync passes (sync/syncPass.ts feeds them to the
// room reducer, rooms/roomReducer.ts) and the user's room operations as commits (sections 6-8).
// Only the driver touches I/O: HTTP through the injected fetch, the store, timers and the clock.
import type { FederationObject } from "../protocol/federationObject.js";
import { DEFAULT_ROOM_VERSION, defaultAlgorithm, namesForRoomVersion } from "../protocol/names.js";
import { ClientData, type Session } from "./clientData.js";
import { logIn, registerAccount, type LoginReply, type RegisterFields } from "./login.js";
import { fingerprint as masterFingerprint } from "./device/crossSigning.js";
import { listDevices, type DeviceSummary } from "./device/deviceList.js";
import { loadCrossSigningKeys, loadSignatureKeyPair } from "./device/deviceStore.js";
import { queryUserKeys } from "./device/keysQuery.js";
import { approveOwnDevice, setUpDevice } from "./device/setUpDevice.js";
import { verifyUser } from "./device/verification.js";
import { MyelinError, NotLoggedInError } from "./errors.js";
import type {
  ClientEvent,
  ClientListener,
  DeviceRef,
  InviteResult,
  Member,
  RoomSummary,
  TimelineMessage,
} from "./events.js";
import { MatrixHttp, segment, type Fetch } from "./http/matrixHttp.js";
import { KeyPackagePool } from "./keyPackagePool.js";
import {
  createDeviceKeyPackage,
  createRoomGroup,
  groupMembers,
  type SignatureKeyPair,
} from "./mls/engine.js";
import { serverOf } from "./rooms/commitPlan.js";
import { leaveRoom } from "./rooms/leaveRoom.js";
import { listMembers } from "./rooms/members.js";
import {
  planAddDevices,
  planCommitLeavers,
  planFederationChange,
  planRemove,
  planSelfUpdate,
  planSetState,
} from "./rooms/planners.js";
import { RoomCommits } from "./rooms/roomCommits.js";
import { RoomMessages } from "./rooms/roomMessages.js";
import { newRoom, roomSummary, type NewRoomOptions } from "./rooms/newRoom.js";
import { newRoomRecord, type RoomRecord } from "./rooms/roomRecord.js";
import { ensureFederation } from "./rooms/roomLookup.js";
import { sendDeliveries } from "./rooms/deliveries.js";
import { Rewelcome } from "./rooms/rewelcome.js";
import { SerialQueue } from "./serialQueue.js";
import { SyncPass } from "./sync/syncPass.js";
import type { ClientStore } from "./store/clientStore.js";
import { decodeKeysUpload } from "./wire/keys.js";
import { decodeRoomId, ignoreBody } from "./wire/replies.js";

export { MyelinError, NotLoggedInError } from "./errors.js";
export { MatrixApiError, HomeserverUnreachableError, UnexpectedReplyError } from "./http/matrixHttp.js";
export type { DeviceSummary } from "./device/deviceList.js";

export interface ClientOptions {
  readonly store: ClientStore;
  readonly fetch?: Fetch;
  /** Milliseconds since the epoch; tests inject a fake clock (security.window). */
  readonly now?: () => number;
}

export interface LoginOptions extends ClientOptions {
  readonly baseUrl: string;
  readonly password: string;
  readonly deviceName?: string;
}

const LONG_POLL_MS = 30_000;
const WELCOME_WAIT_MS = 30_000;

function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class MyelinClient {
  readonly userId: string;
  readonly deviceId: string;
  readonly baseUrl: string;
  private readonly http: MatrixHttp;
  private readonly queue = new SerialQueue();
  private readonly listeners = new Set<ClientListener>();
  private readonly now: () => number;
  private readonly pool: KeyPackagePool;
  private readonly own: DeviceRef;
  private readonly commits: RoomCommits;
  private readonly messages_: RoomMessages;
  private readonly rewelcome: Rewelcome;
  private readonly sync: SyncPass;
  private loop: { abort: AbortController; done: Promise<void> } | undefined;
  private syncWaiters: (() => void)[] = [];
  private syncing: Promise<void> | undefined;

  private constructor(
    session: Session,
    private readonly data: ClientData,
    signatureKeyPair: SignatureKeyPair,
    options: ClientOptions,
  ) {
    this.userId = session.userId;
    this.deviceId = session.deviceId;
    this.baseUrl = session.baseUrl;
    this.now = options.now ?? (() => Date.now());
    this.http = new MatrixHttp({
      baseUrl: session.baseUrl,
      accessToken: session.accessToken,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
    const own: DeviceRef = { userId: this.userId, deviceId: this.deviceId };
    this.own = own;
    const emit = (event: ClientEvent) => this.emit(event);
    const nextSync = () => this.nextSync();
    this.pool = new KeyPackagePool({ http: this.http, store: data.store, ...own, signatureKeyPair });
    this.commits = new RoomCommits({
      data,
      http: this.http,
      queue: this.queue,
      serverName: serverOf(this.userId),
      emit,
      newId: randomId,
      now: this.now,
      nextSync,
      ensureFederation: (room) => ensureFederation(this.http, room),
    });
    this.messages_ = new RoomMessages({
      data,
      http: this.http,
      queue: this.queue,
      own,
      now: this.now,
      emit,
      nextSync,
      refreshAfterRemoval: (roomId) => this.selfUpdate(roomId),
      commitPendingProposals: (roomId) => this.commitLeavers(roomId),
    });
    this.rewelcome = new Rewelcome({
      data,
      http: this.http,
      queue: this.queue,
      pool: this.pool,
      own,
      emit,
      newId: randomId,
      now: this.now,
      commit: async (roomId, userId, deviceId, planner) => {
        const outcome = await this.commits.run(roomId, { kind: "rewelcome", userId, deviceId }, planner);
        // The re-added device's old leaf went without an update path: refresh ours.
        if (outcome === "accepted") await this.selfUpdate(roomId);
      },
    });
    this.sync = new SyncPass({
      data,
      http: this.http,
      queue: this.queue,
      pool: this.pool,
      rewelcome: this.rewelcome,
      own,
      now: this.now,
      emit,
      settle: (id, outcome) => this.commits.settle(id, outcome),
      commitLeavers: (roomId) => this.commitLeavers(roomId),
    });
  }

  // ---- sessions

  static async register(options: LoginOptions & RegisterFields): Promise<MyelinClient> {
    return MyelinClient.begin(options, await registerAccount(options));
  }

  static async login(options: LoginOptions & { readonly user: string }): Promise<MyelinClient> {
    return MyelinClient.begin(options, await logIn(options));
  }

  /** Resumes the session kept in the store. */
  static async open(options: ClientOptions): Promise<MyelinClient> {
    const data = await ClientData.load(options.store);
    const session = await data.session();
    if (!session) throw new NotLoggedInError();
    const pair = await loadSignatureKeyPair(options.store, session.userId, session.deviceId);
    if (!pair) throw new NotLoggedInError();
    const client = new MyelinClient(session, data, pair, options);
    await client.messages_.resend();
    return client;
  }

  private static async begin(options: LoginOptions, reply: LoginReply): Promise<MyelinClient> {
    const session: Session = {
      baseUrl: options.baseUrl,
      userId: reply.user_id,
      deviceId: reply.device_id,
      accessToken: reply.access_token,
    };
    const data = await ClientData.load(options.store);
    const previous = await data.session();
    if (previous && (previous.userId !== session.userId || previous.deviceId !== session.deviceId)) {
      throw new MyelinError(
        "BAD_STATE",
        `this store belongs to ${previous.userId} (${previous.deviceId}); use a new store for another login`,
      );
    }
    await data.saveSession(session);
    const http = new MatrixHttp({
      baseUrl: options.baseUrl,
      accessToken: reply.access_token,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
    const setup = await setUpDevice({
      http,
      store: options.store,
      userId: session.userId,
      deviceId: session.deviceId,
      password: options.password,
    });
    const client = new MyelinClient(session, data, setup.signatureKeyPair, options);
    // Others can add this device as soon as it exists (section 9: key packages on the server).
    const counts = await http.request("POST", "/keys/upload", decodeKeysUpload, { body: {} });
    await client.pool.topUp(counts, undefined);
    return client;
  }

  // ---- events and sync

  on(listener: ClientListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(event: ClientEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  /** One /sync pass (long-polling up to timeoutMs), everything in it processed and stored. */
  async syncOnce(timeoutMs = 0, signal?: AbortSignal): Promise<void> {
    while (this.syncing) await this.syncing.catch(() => undefined);
    const pass = this.sync.run(timeoutMs, signal);
    this.syncing = pass;
    try {
      await pass;
    } finally {
      this.syncing = undefined;
      const waiters = this.syncWaiters;
      this.syncWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  /** Runs sync in the background until stop(); errors are reported as events and retried. */
  start(): void {
    if (this.loop) return;
    const abort = new AbortController();
    const done = (async () => {
      let backoff = 1_000;
      while (!abort.signal.aborted) {
        try {
          await this.syncOnce(LONG_POLL_MS, abort.signal);
          backoff = 1_000;
        } catch (error) {
          if (abort.signal.aborted) break;
          this.emit({
            kind: "error",
            error: "sync",
            reason: error instanceof Error ? error.message : String(error),
          });
          await new Promise((resolve) => setTimeout(resolve, backoff));
          backoff = Math.min(backoff * 2, 30_000);
        }
      }
    })();
    this.loop = { abort, done };
  }

  async stop(): Promise<void> {
    const loop = this.loop;
    if (!loop) return;
    this.loop = undefined;
    loop.abort.abort();
    await loop.done;
  }

  async close(): Promise<void> {
    await this.stop();
    await this.data.store.close();
  }

  /** Resolves after the next complete sync pass (running one when no background loop does). */
  private nextSync(): Promise<void> {
    if (this.loop) return new Promise((resolve) => this.syncWaiters.push(resolve));
    return this.syncOnce(2_000);
  }

  private async commitLeavers(roomId: string): Promise<void> {
    await this.commits.run(roomId, { kind: "commitProposals" }, planCommitLeavers, false);
    await this.refreshIfNeeded(roomId);
  }

  private async refreshIfNeeded(roomId: string): Promise<void> {
    if (this.data.rooms.get(roomId)?.needsPathUpdate) await this.selfUpdate(roomId);
  }

  // ---- rooms

  rooms(): RoomSummary[] {
    return [...this.data.rooms.values()].map((room) => roomSummary(room, this.data.groups.get(room.roomId)));
  }

  /**
   * Creates the room, then the epoch-0 commit that carries the encrypted name and topic and the
   * federation object with this server as the sole power (sections 3, 8).
   */
  async createRoom(options: NewRoomOptions = {}): Promise<string> {
    const roomId = await this.http.request("POST", "/createRoom", decodeRoomId, {
      body: { room_version: DEFAULT_ROOM_VERSION },
    });
    const pair = await loadSignatureKeyPair(this.data.store, this.userId, this.deviceId);
    if (!pair) throw new NotLoggedInError();
    const own = await createDeviceKeyPackage({
      userId: this.userId,
      deviceId: this.deviceId,
      signatureKeyPair: pair,
      algorithm: defaultAlgorithm(namesForRoomVersion(DEFAULT_ROOM_VERSION)!),
    });
    const group = await createRoomGroup(roomId, own);
    const { record, federation, roomState } = newRoom(roomId, serverOf(this.userId), options);
    await this.queue.run(roomId, () => this.data.saveRoom(record, { group }));
    await this.commits.run(roomId, { kind: "create" }, async () => ({
      federation,
      ...(roomState ? { roomState } : {}),
    }));
    return roomId;
  }

  async invite(roomId: string, userId: string): Promise<InviteResult> {
    const room = await this.withFederation(roomId);
    const plan = await planAddDevices(
      { http: this.http, store: this.data.store, ourUserId: this.userId },
      room,
      userId,
      { invite: true },
    );
    await this.commits.run(roomId, { kind: "invite", userId }, plan.planner);
    await sendDeliveries(this.http, this.data, this.queue);
    return { added: plan.added, skipped: plan.skipped };
  }

  /** Joins a room we were invited to; the Welcome may come before or after (it is waited for). */
  async join(roomId: string): Promise<void> {
    await this.http.request("POST", `/rooms/${segment(roomId)}/join`, ignoreBody, { body: {} });
    await this.queue.run(roomId, async () => {
      const room = this.data.rooms.get(roomId) ?? newRoomRecord(roomId, "joined");
      await this.data.saveRoom({ ...room, membership: "joined" });
    });
    const deadline = this.now() + WELCOME_WAIT_MS;
    while (!this.data.groups.has(roomId)) {
      if (this.now() > deadline) {
        throw new MyelinError(
          "NO_WELCOME",
          `joined ${roomId}, but no Welcome for this device arrived yet; messages become readable once it does`,
        );
      }
      await this.nextSync();
    }
    await this.withFederation(roomId);
    this.emit({ kind: "joined", roomId });
  }

  async sendMessage(roomId: string, type: string, content: Record<string, unknown>): Promise<string> {
    this.joinedRoom(roomId);
    return this.messages_.send({ roomId, txnId: randomId(), type, content });
  }

  sendText(roomId: string, body: string): Promise<string> {
    return this.sendMessage(roomId, "m.room.message", { msgtype: "m.text", body });
  }

  /** The room's decrypted history on this device, oldest first. */
  messages(roomId: string): Promise<TimelineMessage[]> {
    return this.data.timeline(roomId);
  }

  /** Members as the MLS group lists them (section 11: never from the server). */
  async members(roomId: string): Promise<Member[]> {
    const group = this.data.groups.get(roomId);
    if (!group) throw new MyelinError("NOT_IN_ROOM", `this device is not in the MLS group of ${roomId}`);
    return listMembers({ http: this.http, store: this.data.store, ourUserId: this.userId }, group);
  }

  async setRoomState(
    roomId: string,
    eventType: string,
    stateKey: string,
    content: Record<string, unknown>,
  ): Promise<void> {
    this.joinedRoom(roomId);
    await this.commits.run(
      roomId,
      { kind: "setState", eventType, stateKey },
      planSetState(eventType, stateKey, content),
    );
  }

  setName(roomId: string, name: string): Promise<void> {
    return this.setRoomState(roomId, "m.room.name", "", { name });
  }

  setTopic(roomId: string, topic: string): Promise<void> {
    return this.setRoomState(roomId, "m.room.topic", "", { topic });
  }

  /**
   * Changes which servers order commits (`powers`, highest rank first) and which may propose
   * them; the promotion rule (R9.9) lets a server never demote those ranked above it.
   */
  async setFederation(
    roomId: string,
    change: { readonly powers?: readonly string[]; readonly canPropose?: readonly string[] },
  ): Promise<void> {
    this.joinedRoom(roomId);
    await this.commits.run(roomId, { kind: "federation" }, planFederationChange(change));
  }

  /** The room's federation object as of the current commit this device knows (section 3). */
  federation(roomId: string): FederationObject | undefined {
    return this.data.rooms.get(roomId)?.federation;
  }

  /** Removes a user's devices (or one device) from the group, then refreshes our keys (see README). */
  async removeUser(roomId: string, userId: string, deviceId?: string): Promise<void> {
    this.joinedRoom(roomId);
    const own = { userId: this.userId, deviceId: this.deviceId };
    await this.commits.run(
      roomId,
      { kind: "remove", userId, ...(deviceId ? { deviceId } : {}) },
      planRemove(own, userId, deviceId),
    );
    await this.refreshIfNeeded(roomId);
  }

  /** An empty commit with fresh keys; not retried when another commit wins (it would be stale). */
  async selfUpdate(roomId: string): Promise<void> {
    await this.commits.run(roomId, { kind: "selfUpdate" }, planSelfUpdate, false);
  }

  /**
   * Section 7: a Remove proposal for ourselves (ts-mls has no self-remove), which another member
   * commits; then /leave, and the group's secrets are deleted.
   */
  async leave(roomId: string): Promise<void> {
    const deps = { data: this.data, http: this.http, queue: this.queue, newId: randomId };
    await leaveRoom({ ...deps, nextSync: () => this.nextSync() }, roomId);
  }

  // ---- devices and trust

  devices(): Promise<DeviceSummary[]> {
    const own = { userId: this.userId, deviceId: this.deviceId };
    return listDevices({ http: this.http, store: this.data.store, ...own });
  }

  /** Signs the user's master key with our user-signing key once the fingerprints match. */
  verifyUser(userId: string, fingerprint?: string): Promise<string> {
    return verifyUser({
      http: this.http,
      store: this.data.store,
      ourUserId: this.userId,
      userId,
      ...(fingerprint ? { expectedFingerprint: fingerprint } : {}),
    });
  }

  /** Our master key's fingerprint, for others to compare when they verify us. */
  async fingerprint(): Promise<string> {
    const stored = await loadCrossSigningKeys(this.data.store);
    const master =
      stored?.master.publicKey ?? (await queryUserKeys(this.http, this.userId)).master?.publicKey;
    if (!master) throw new MyelinError("BAD_STATE", "this user has no cross-signing keys yet");
    return masterFingerprint(master);
  }

  /** Approves our own new device (cross-signs it) and adds it to every room we are in. */
  async approveDevice(deviceId: string): Promise<void> {
    await approveOwnDevice(this.http, this.data.store, this.userId, deviceId);
    for (const room of [...this.data.rooms.values()]) {
      const group = this.data.groups.get(room.roomId);
      if (!group || room.removed || room.membership !== "joined") continue;
      if (groupMembers(group).some((m) => m.userId === this.userId && m.deviceId === deviceId)) continue;
      const plan = await planAddDevices(
        { http: this.http, store: this.data.store, ourUserId: this.userId },
        await this.withFederation(room.roomId),
        this.userId,
        { onlyDevice: deviceId, invite: false },
      );
      await this.commits.run(room.roomId, { kind: "addDevice", userId: this.userId, deviceId }, plan.planner);
    }
    await sendDeliveries(this.http, this.data, this.queue);
  }

  /** The joined room's record with its current federation object (fetched and stored when unknown). */
  private withFederation(roomId: string): Promise<RoomRecord> {
    return this.queue.run(roomId, async () => {
      const room = this.joinedRoom(roomId);
      const next = await ensureFederation(this.http, room);
      if (next !== room) await this.data.saveRoom(next);
      return next;
    });
  }

  private joinedRoom(roomId: string): RoomRecord {
    const room = this.data.rooms.get(roomId);
    if (!room)
      throw new MyelinError("UNKNOWN_ROOM", `unknown room ${roomId}: sync first, or check the room ID`);
    if (!this.data.groups.has(roomId) || room.removed) {
      throw new MyelinError("NOT_IN_ROOM", `this device is not in the MLS group of ${roomId}`);
    }
    return room;
  }
}
