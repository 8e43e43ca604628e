// The client's only door to ts-mls (issue: keep every ts-mls call in one module, so the engine
// can be upgraded or tuned in one place). Pure functions over immutable group states, no I/O.
import {
  clientStateDecoder,
  clientStateEncoder,
  contentTypes,
  createApplicationMessage,
  createCommit,
  createGroup,
  createProposal,
  decode,
  defaultCapabilities,
  defaultCredentialTypes,
  defaultExtensionTypes,
  defaultKeyPackageEqualityConfig,
  defaultKeyRetentionConfig,
  defaultLifetimeConfig,
  defaultPaddingConfig,
  defaultProposalTypes,
  encode,
  generateKeyPackageWithKey,
  getCiphersuiteImpl,
  getCredentialFromLeafIndex,
  joinGroup,
  makeCustomExtension,
  makeKeyPackageRef,
  mlsMessageDecoder,
  mlsMessageEncoder,
  nobleCryptoProvider,
  nodeTypes,
  privateKeyPackageDecoder,
  privateKeyPackageEncoder,
  processMessage,
  protocolVersions,
  wireformats,
  zeroOutUint8Array,
} from "ts-mls";
import type {
  AuthenticationService,
  CiphersuiteImpl,
  ClientConfig,
  ClientState,
  Credential,
  GroupContextExtension,
  IncomingMessageCallback,
  KeyPackage,
  LeafIndex,
  MlsContext,
  MlsMessage,
  PrivateKeyPackage,
  PrivateMessage,
  ProcessMessageResult,
  Proposal,
  ProposalWithSender,
  Welcome,
} from "ts-mls";
import { decodeBase64Lenient, encodeBase64Url } from "../../protocol/base64.js";
import { canonicalJsonBytes } from "../../protocol/canonicalJson.js";
import { encodeFederationObject, type FederationObject } from "../../protocol/federationObject.js";
import { decodeIdentity, encodeIdentity, type DeviceIdentity } from "../../protocol/credential.js";
import { concatBytes, encodeVector, readVector, TlsVectorError } from "../../protocol/tlsVector.js";
import { dropEpochSecrets } from "./epochSecrets.js";
import { MlsEngineError } from "./mlsEngineError.js";
import { decodeRoomState, encodeRoomState, type RoomStateMap } from "./roomState.js";
import { decryptSenderLeafIndex } from "./senderData.js";
import { equalBytes } from "../../protocol/bytes.js";

export { MlsEngineError } from "./mlsEngineError.js";
export { checkRoomStateEntry, MAX_ROOM_STATE_BYTES, type RoomStateMap } from "./roomState.js";

/** A group's whole MLS state; immutable, holds secrets (encrypt it at rest). */
export type GroupState = ClientState;

export interface SignatureKeyPair {
  readonly signKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

/** A device's key package: what it uploads (D20) and what it keeps to join from a Welcome. */
export interface DeviceKeyPackage {
  /** `<algorithm>:<KeyPackageRef, unpadded URL-safe base64>` (section 9, D20). */
  readonly keyId: string;
  /** The MLSMessage wrapping the KeyPackage, unpadded URL-safe base64 (D5, D20). */
  readonly wire: string;
  readonly publicPackage: KeyPackage;
  readonly privatePackage: PrivateKeyPackage;
}

export interface PendingCommit {
  /** The commit as sent: the `ciphertext` of the commit or pending event (D5). */
  readonly ciphertext: string;
  /** The Welcome MLSMessage for added devices (D5), when the commit adds any. */
  readonly welcome?: string;
  /** The next epoch's state: adopt it only once the server accepted the commit (section 6). */
  readonly pendingState: GroupState;
  /** Old-epoch secrets the commit used up; wipe them with wipeConsumedSecrets once accepted. */
  readonly consumed: readonly Uint8Array[];
}

export interface RoomMessage {
  readonly type: string;
  readonly content: Record<string, unknown>;
}

export type ReceivedMessage =
  | { readonly kind: "ownCommit"; readonly state: GroupState }
  | {
      readonly kind: "commit";
      readonly state: GroupState;
      readonly authenticatedData: Uint8Array;
      /**
       * The commit removed our leaf: `state` is then the epoch we left, marked removedFromGroup; it
       * only reads late application messages of that epoch and earlier.
       */
      readonly removedSelf: boolean;
    }
  | {
      readonly kind: "proposal";
      readonly state: GroupState;
      readonly removedLeafIndices: number[];
      readonly senderLeafIndex: number;
    }
  | {
      readonly kind: "application";
      readonly state: GroupState;
      readonly message: RoomMessage;
      readonly senderLeafIndex: number;
      readonly sender: DeviceIdentity;
    };

/** A leaf of the group and who holds it, from its section 9 credential. */
export interface GroupMember {
  readonly leafIndex: number;
  readonly userId: string;
  readonly deviceId: string;
  readonly signaturePublicKey: Uint8Array;
}

/** Section 8: the GroupContext extension holding the encrypted room state. */
export const ROOM_STATE_EXTENSION_TYPE = 0xf6d0;
/** RFC 9420 last_resort key package extension. */
const LAST_RESORT_EXTENSION_TYPE = 10;
/**
 * Past epochs whose secrets ts-mls keeps at most (its default is 4). The SDK drops them sooner,
 * by time, with pruneEpochSecrets (security.window, section 3).
 */
export const MAX_RETAINED_EPOCHS = 64;

// ts-mls's defaults (its defaultClientConfig is not exported) but for the retained epochs.
const clientConfig: ClientConfig = {
  keyRetentionConfig: { ...defaultKeyRetentionConfig, retainKeysForEpochs: MAX_RETAINED_EPOCHS },
  lifetimeConfig: defaultLifetimeConfig,
  keyPackageEqualityConfig: defaultKeyPackageEqualityConfig,
  paddingConfig: defaultPaddingConfig,
};

/**
 * Ciphersuite 1, created once when the module loads (a constant, not a lazily set variable: the
 * SDK keeps no module-level mutable state). The noble provider hashes and derives synchronously:
 * measured about 2x faster than the WebCrypto default for adds and path commits (N = 100).
 */
const suite: Promise<CiphersuiteImpl> = getCiphersuiteImpl(
  "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519",
  nobleCryptoProvider,
);

export function cipherSuite(): Promise<CiphersuiteImpl> {
  return suite;
}

// Section 9: every credential must be a basic credential holding a well-formed identity whose
// key is the leaf's signature key. Policy checks (verification levels) are async and belong
// to the caller, before it adds anyone.
const authService: AuthenticationService = {
  validateCredential(credential: Credential, signaturePublicKey: Uint8Array): Promise<boolean> {
    const identity = identityOf(credential);
    return Promise.resolve(
      identity !== undefined && equalBytes(identity.signaturePublicKey, signaturePublicKey),
    );
  },
};

async function context(): Promise<MlsContext> {
  return { cipherSuite: await cipherSuite(), authService, clientConfig };
}

export async function generateSignatureKeyPair(): Promise<SignatureKeyPair> {
  return (await cipherSuite()).signature.keygen();
}

export async function createDeviceKeyPackage(params: {
  readonly userId: string;
  readonly deviceId: string;
  readonly signatureKeyPair: SignatureKeyPair;
  /** The algorithm name the key ID starts with (section 9, D17). */
  readonly algorithm: string;
  readonly lastResort?: boolean;
}): Promise<DeviceKeyPackage> {
  const cs = await cipherSuite();
  const identity = encodeIdentity({ ...params, signaturePublicKey: params.signatureKeyPair.publicKey });
  const { publicPackage, privatePackage } = await generateKeyPackageWithKey({
    credential: { credentialType: defaultCredentialTypes.basic, identity },
    capabilities: { ...defaultCapabilities(), extensions: [ROOM_STATE_EXTENSION_TYPE] },
    extensions: params.lastResort
      ? [makeCustomExtension({ extensionType: LAST_RESORT_EXTENSION_TYPE, extensionData: new Uint8Array(0) })]
      : [],
    signatureKeyPair: params.signatureKeyPair,
    cipherSuite: cs,
  });
  const ref = await makeKeyPackageRef(publicPackage, cs.hash);
  const message: MlsMessage = {
    wireformat: wireformats.mls_key_package,
    keyPackage: publicPackage,
    version: protocolVersions.mls10,
  };
  return {
    keyId: `${params.algorithm}:${encodeBase64Url(ref)}`,
    wire: encodeMessage(message),
    publicPackage,
    privatePackage,
  };
}

/**
 * Storage form of a device key package (the client store keeps bytes): the key ID (UTF-8), the
 * D20 MLSMessage and the private keys, each an RFC 9420 vector. It holds private keys.
 */
export function encodeDeviceKeyPackage(keyPackage: DeviceKeyPackage): Uint8Array {
  return concatBytes([
    encodeVector(new TextEncoder().encode(keyPackage.keyId)),
    encodeVector(decodeBase64Lenient(keyPackage.wire)),
    encodeVector(encode(privateKeyPackageEncoder, keyPackage.privatePackage)),
  ]);
}

export function decodeDeviceKeyPackage(bytes: Uint8Array): DeviceKeyPackage {
  let parts: Uint8Array[];
  try {
    const [keyId, afterKeyId] = readVector(bytes, 0);
    const [wire, afterWire] = readVector(bytes, afterKeyId);
    const [privateKeys, end] = readVector(bytes, afterWire);
    if (end !== bytes.length) throw new MlsEngineError("trailing bytes after the device key package");
    parts = [keyId, wire, privateKeys];
  } catch (error) {
    if (error instanceof TlsVectorError)
      throw new MlsEngineError(`malformed device key package: ${error.message}`);
    throw error;
  }
  const [keyId, wire, privateKeys] = parts as [Uint8Array, Uint8Array, Uint8Array];
  const decoded = privateKeyPackageDecoder(privateKeys, 0);
  if (!decoded || decoded[1] !== privateKeys.length)
    throw new MlsEngineError("malformed private key package");
  const wireText = encodeBase64Url(wire);
  return {
    keyId: utf8Text(keyId, "key ID"),
    wire: wireText,
    publicPackage: decodeKeyPackage(wireText),
    privatePackage: decoded[0],
  };
}

/** Section 8: group ID = the room ID's UTF-8; room state `{}`, required of every member. */
export async function createRoomGroup(roomId: string, own: DeviceKeyPackage): Promise<GroupState> {
  return createGroup({
    context: await context(),
    groupId: new TextEncoder().encode(roomId),
    keyPackage: own.publicPackage,
    privateKeyPackage: own.privatePackage,
    extensions: [
      makeCustomExtension({
        extensionType: ROOM_STATE_EXTENSION_TYPE,
        extensionData: canonicalJsonBytes({}),
      }),
      {
        extensionType: defaultExtensionTypes.required_capabilities,
        extensionData: {
          extensionTypes: [ROOM_STATE_EXTENSION_TYPE],
          proposalTypes: [],
          credentialTypes: [],
        },
      },
    ],
  });
}

/**
 * A commit adding devices (their D20 key package strings), removing leaves and, with `roomState`,
 * replacing the section 8 room state; it carries the federation object (section 3). With none of
 * these it is a self-update (an empty commit, which has an update path).
 *
 * ts-mls also commits, by reference, every proposal received in this epoch and not yet committed
 * (receiveRoomMessage lets through only members' Remove proposals for themselves, section 7):
 * a leaf such a proposal removes is not removed a second time here.
 *
 * ts-mls 2.0.0-rc.10 gives a commit with exactly one Remove (and nothing else that needs one) no
 * update path, nor one with only the room state change: follow a single removal with a
 * self-update, or the removed member can still read the next epoch.
 *
 * `state` is left as it is: the caller keeps it until the server accepts or refuses the commit.
 */
export async function createRoomCommit(params: {
  readonly state: GroupState;
  readonly federation: FederationObject;
  readonly addKeyPackages?: readonly string[];
  readonly removeLeafIndices?: readonly number[];
  readonly roomState?: RoomStateMap;
}): Promise<PendingCommit> {
  const own = ownLeafIndex(params.state);
  const proposed = proposedRemovals(params.state);
  if (proposed.includes(own)) {
    throw new MlsEngineError("this device asked to leave: another member commits its removal (section 7)");
  }
  const removeLeafIndices = [...new Set(params.removeLeafIndices ?? [])];
  if (removeLeafIndices.includes(own)) {
    throw new MlsEngineError(
      "a commit cannot remove its committer: leave with a self-remove proposal (section 7)",
    );
  }
  const adds: Proposal[] = (params.addKeyPackages ?? []).map((wire) => ({
    proposalType: defaultProposalTypes.add,
    add: { keyPackage: decodeKeyPackage(wire) },
  }));
  const removes: Proposal[] = removeLeafIndices
    .filter((leaf) => !proposed.includes(leaf))
    .map((removed) => ({ proposalType: defaultProposalTypes.remove, remove: { removed } }));
  const stateChange = params.roomState ? [roomStateProposal(params.state, params.roomState)] : [];
  const result = await createCommit({
    context: await context(),
    state: params.state,
    extraProposals: [...adds, ...removes, ...stateChange],
    ratchetTreeExtension: true, // section 9: the ratchet tree travels in the Welcome
    authenticatedData: encodeFederationObject(params.federation),
  });
  return {
    ciphertext: encodeMessage(result.commit),
    ...(result.welcome ? { welcome: encodeMessage(result.welcome) } : {}),
    pendingState: result.newState,
    consumed: result.consumed,
  };
}

// Section 8 state changes through one GroupContextExtensions proposal. It replaces the whole
// extension list (ts-mls: send the full list every time), so every other extension is kept.
function roomStateProposal(state: GroupState, roomState: RoomStateMap): Proposal {
  const extensionData = encodeRoomState(roomState);
  const current = state.groupContext.extensions;
  if (!current.some((extension) => extension.extensionType === ROOM_STATE_EXTENSION_TYPE)) {
    throw new MlsEngineError("the group has no room state extension 0xF6D0 (section 8)");
  }
  const extensions: GroupContextExtension[] = current.map((extension) =>
    extension.extensionType === ROOM_STATE_EXTENSION_TYPE
      ? makeCustomExtension({ extensionType: ROOM_STATE_EXTENSION_TYPE, extensionData })
      : extension,
  );
  return {
    proposalType: defaultProposalTypes.group_context_extensions,
    groupContextExtensions: { extensions },
  };
}

/**
 * Section 7, leaving: ts-mls has no self-remove proposal, so this is the RFC 9420 route, a Remove
 * proposal for our own leaf, sent as a PrivateMessage (content type proposal) in an
 * `m.room.encrypted` event; another member commits it. The returned state holds the proposal
 * as unapplied (so it can neither commit nor send messages any more).
 */
export async function createSelfRemoveProposal(
  state: GroupState,
  authenticatedData: Uint8Array = new Uint8Array(0),
): Promise<{ readonly ciphertext: string; readonly state: GroupState }> {
  const result = await createProposal({
    context: await context(),
    state,
    proposal: { proposalType: defaultProposalTypes.remove, remove: { removed: ownLeafIndex(state) } },
    authenticatedData,
  });
  return { ciphertext: encodeMessage(result.message), state: result.newState };
}

/**
 * Zeroes the secrets a commit used up. Only after the server accepted it: they include the old
 * state's init secret, needed to process a competing commit instead (ts-mls.md).
 */
export function wipeConsumedSecrets(accepted: PendingCommit): void {
  for (const secret of accepted.consumed) zeroOutUint8Array(secret);
}

/**
 * Section 8: the plaintext is the JSON `{type, content}`. ts-mls refuses application messages
 * while received proposals wait for a commit: commit them first (hasPendingProposals).
 */
export async function encryptRoomMessage(
  state: GroupState,
  message: RoomMessage,
): Promise<{ readonly ciphertext: string; readonly state: GroupState }> {
  if (hasPendingProposals(state)) {
    throw new MlsEngineError("proposals wait for a commit: no application message until one is made");
  }
  const result = await createApplicationMessage({
    context: await context(),
    state,
    message: canonicalJsonBytes({ type: message.type, content: message.content }),
  });
  return { ciphertext: encodeMessage(result.message), state: result.newState };
}

/**
 * Processes a commit, proposal or message event's ciphertext. Our own commit coming back is
 * recognised by its bytes and answered with the pending state (ts-mls cannot process it:
 * ts-mls.md); anything else of our own leaf is refused (the sender keeps its own plaintext).
 *
 * Refused as well: a proposal other than a member's Remove proposal for itself (section 7;
 * ts-mls would otherwise put it into our next commit unseen), and a commit that leaves the
 * room state unreadable or no longer required of every member (section 8).
 */
export async function receiveRoomMessage(
  state: GroupState,
  ciphertext: string,
  pending?: PendingCommit,
): Promise<ReceivedMessage> {
  const bytes = decodeBase64Lenient(ciphertext);
  if (pending && equalBytes(bytes, decodeBase64Lenient(pending.ciphertext))) {
    return { kind: "ownCommit", state: pending.pendingState };
  }
  const message = decodeMessage(bytes);
  if (message.wireformat !== wireformats.mls_private_message)
    throw new MlsEngineError("not a private message");
  // ts-mls 2.0.0-rc.10 loops until the process dies (not an exception) when a removed member's
  // state processes a later commit; past epochs' application messages are still fine to read.
  if (
    state.groupActiveState.kind === "removedFromGroup" &&
    message.privateMessage.contentType !== contentTypes.application
  ) {
    throw new MlsEngineError("removed from the group: this state reads only application messages");
  }
  const senderLeafIndex = await senderOf(state, message.privateMessage);
  const own = ownLeafIndex(state);
  if (senderLeafIndex === own) throw new MlsEngineError("sent by this device, which cannot decrypt its own");
  // What ts-mls found in the message, seen through its (synchronous) callback.
  const seen: { committed: readonly ProposalWithSender[]; proposed?: ProposalWithSender } = { committed: [] };
  const callback: IncomingMessageCallback = (incoming) => {
    if (incoming.kind === "commit") seen.committed = incoming.proposals;
    else seen.proposed = incoming.proposal;
    return "accept";
  };
  let result: ProcessMessageResult;
  try {
    result = await processMessage({ context: await context(), state, message, callback });
  } catch (error) {
    // RFC 9420 section 12.4.2: a member the commit removes cannot decrypt its update path. The
    // committer's signature, verified before the callback ran, is what it has to go on.
    if (!removedLeaves(seen.committed).includes(own)) throw error;
    return removedBy(state, message.privateMessage.authenticatedData);
  }
  if (result.kind === "applicationMessage") {
    const sender = identityOf(
      getCredentialFromLeafIndex(epochTree(state, message.privateMessage), senderLeafIndex as LeafIndex),
    );
    if (!sender) throw new MlsEngineError("sender has no section 9 credential");
    return {
      kind: "application",
      state: result.newState,
      message: parseRoomMessage(result.message),
      senderLeafIndex,
      sender,
    };
  }
  if (seen.proposed) {
    const removed = removedLeaves([seen.proposed]);
    if (removed.length !== 1 || removed[0] !== senderLeafIndex) {
      throw new MlsEngineError("refused a proposal: members may only propose their own removal (section 7)");
    }
    return { kind: "proposal", state: result.newState, removedLeafIndices: removed, senderLeafIndex };
  }
  if (result.newState.groupActiveState.kind === "removedFromGroup") return removedBy(state, result.aad);
  checkRoomGroupContext(result.newState);
  return { kind: "commit", state: result.newState, authenticatedData: result.aad, removedSelf: false };
}

// A removed member keeps the last epoch it belonged to, marked removed: it reads late messages
// of that epoch and earlier, never the next one (which ts-mls rc.10 would let it derive when the
// removal has no update path).
function removedBy(state: GroupState, authenticatedData: Uint8Array): ReceivedMessage {
  return {
    kind: "commit",
    state: { ...state, groupActiveState: { kind: "removedFromGroup" } },
    authenticatedData,
    removedSelf: true,
  };
}

export async function joinFromWelcome(welcome: string, own: DeviceKeyPackage): Promise<GroupState> {
  const state = await joinGroup({
    context: await context(),
    welcome: decodeWelcome(welcome),
    keyPackage: own.publicPackage,
    privateKeys: own.privatePackage,
  });
  checkRoomGroupContext(state);
  return state;
}

/**
 * Which of our key packages a Welcome is for: its secrets' new_member KeyPackageRefs, as unpadded
 * URL-safe base64 (the ref inside DeviceKeyPackage.keyId).
 */
export function welcomeKeyPackageRefs(welcome: string): string[] {
  return decodeWelcome(welcome).secrets.map((secret) => encodeBase64Url(secret.newMember));
}

/** Storage form of a group state. It holds the signature key and epoch secrets. */
export function encodeGroupState(state: GroupState): Uint8Array {
  return encode(clientStateEncoder, state);
}

export function decodeGroupState(bytes: Uint8Array): GroupState {
  const state = decode(clientStateDecoder, bytes);
  if (!state) throw new MlsEngineError("malformed group state");
  return state;
}

/** Our own leaf index in the group. */
export function ownLeafIndex(state: GroupState): number {
  return state.privatePath.leafIndex;
}

/** The epoch the group is in: what the next message or commit carries. */
export function groupEpoch(state: GroupState): bigint {
  return state.groupContext.epoch;
}

/** The room the group is (its group ID, UTF-8; section 8): how a joiner learns it from a Welcome. */
export function groupRoomId(state: GroupState): string {
  return utf8Text(state.groupContext.groupId, "group ID");
}

/** Section 11: the members come from the group, each leaf with its section 9 credential. */
/**
 * Whether the group already holds the leaf of this key package (D20 string): the same HPKE
 * encryption key. A re-welcome (docs/client-sdk.md) is done once its key package is in the group.
 */
export function groupHasKeyPackage(state: GroupState, wire: string): boolean {
  const { leafNode } = decodeKeyPackage(wire);
  return state.ratchetTree.some(
    (node) =>
      node?.nodeType === nodeTypes.leaf && equalBytes(node.leaf.hpkePublicKey, leafNode.hpkePublicKey),
  );
}

export function groupMembers(state: GroupState): GroupMember[] {
  const members: GroupMember[] = [];
  state.ratchetTree.forEach((node, nodeIndex) => {
    if (node?.nodeType !== nodeTypes.leaf) return;
    const identity = identityOf(node.leaf.credential);
    // The authentication service admits no leaf without one.
    if (!identity) throw new MlsEngineError(`leaf ${nodeIndex / 2} has no section 9 credential`);
    members.push({
      leafIndex: nodeIndex / 2, // leaves are the even nodes of the array-form tree
      userId: identity.userId,
      deviceId: identity.deviceId,
      signaturePublicKey: node.leaf.signaturePublicKey,
    });
  });
  return members;
}

/** Section 8: the room state, from the group's 0xF6D0 extension. */
export function roomStateOf(state: GroupState): RoomStateMap {
  const extension = state.groupContext.extensions.find(
    (candidate) => candidate.extensionType === ROOM_STATE_EXTENSION_TYPE,
  );
  if (!extension || !(extension.extensionData instanceof Uint8Array)) {
    throw new MlsEngineError("the group has no room state extension 0xF6D0 (section 8)");
  }
  return decodeRoomState(extension.extensionData);
}

/** Received proposals waiting for a commit (the next commit includes them). */
export function hasPendingProposals(state: GroupState): boolean {
  return Object.keys(state.unappliedProposals).length > 0;
}

/** Leaves that received, not yet committed Remove proposals remove. */
export function proposedRemovals(state: GroupState): number[] {
  return removedLeaves(Object.values(state.unappliedProposals));
}

/** The past epochs whose secrets the state still holds (to read late messages), oldest first. */
export function retainedEpochs(state: GroupState): bigint[] {
  return [...state.historicalReceiverData.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * security.window (section 3): a state without the past epochs `keep` refuses. Their secrets are
 * zeroed unless the returned state shares the bytes, so any other state still holding those
 * epochs (a pending commit's state made from this one) loses them too: prune the state you keep.
 */
export function pruneEpochSecrets(state: GroupState, keep: (epoch: bigint) => boolean): GroupState {
  return dropEpochSecrets(state, keep);
}

// Section 8: the room state stays readable and required of every member (required_capabilities).
function checkRoomGroupContext(state: GroupState): void {
  roomStateOf(state);
  const required = state.groupContext.extensions.find(
    (extension) => extension.extensionType === defaultExtensionTypes.required_capabilities,
  )?.extensionData;
  if (
    !required ||
    required instanceof Uint8Array ||
    !("extensionTypes" in required) ||
    !required.extensionTypes.includes(ROOM_STATE_EXTENSION_TYPE)
  ) {
    throw new MlsEngineError("the room state extension 0xF6D0 is not required of every member (section 8)");
  }
}

function removedLeaves(proposals: readonly ProposalWithSender[]): number[] {
  return proposals.flatMap(({ proposal }) =>
    proposal.proposalType === defaultProposalTypes.remove && "remove" in proposal
      ? [proposal.remove.removed]
      : [],
  );
}

/**
 * Whose key package a claimed one is: the section 9 identity of its leaf credential, when that
 * names the leaf's own signature key. The SDK adds a device only when this matches the device's
 * credential (a homeserver could hand out any key package).
 */
export function keyPackageIdentity(wire: string): DeviceIdentity | undefined {
  try {
    const { leafNode } = decodeKeyPackage(wire);
    const identity = identityOf(leafNode.credential);
    return identity && equalBytes(identity.signaturePublicKey, leafNode.signaturePublicKey)
      ? identity
      : undefined;
  } catch {
    return undefined;
  }
}

function identityOf(credential: Credential): DeviceIdentity | undefined {
  if (credential.credentialType !== defaultCredentialTypes.basic || !("identity" in credential))
    return undefined;
  try {
    return decodeIdentity(credential.identity);
  } catch {
    return undefined;
  }
}

// Application messages of a retained past epoch are read with that epoch's secrets and tree.
function epochData(state: GroupState, message: PrivateMessage) {
  if (message.epoch === state.groupContext.epoch) {
    return { senderDataSecret: state.keySchedule.senderDataSecret, ratchetTree: state.ratchetTree };
  }
  const past = state.historicalReceiverData.get(message.epoch);
  if (!past) throw new MlsEngineError(`no secrets for epoch ${message.epoch}`);
  return past;
}

function epochTree(state: GroupState, message: PrivateMessage) {
  return epochData(state, message).ratchetTree;
}

async function senderOf(state: GroupState, message: PrivateMessage): Promise<number> {
  const leaf = await decryptSenderLeafIndex(
    message,
    epochData(state, message).senderDataSecret,
    await cipherSuite(),
  );
  if (leaf === undefined) throw new MlsEngineError("sender data does not decrypt");
  return leaf;
}

function parseRoomMessage(plaintext: Uint8Array): RoomMessage {
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8Text(plaintext, "plaintext"));
  } catch {
    throw new MlsEngineError("plaintext is not JSON");
  }
  const { type, content } = (parsed ?? {}) as { type?: unknown; content?: unknown };
  if (typeof type !== "string" || typeof content !== "object" || content === null || Array.isArray(content)) {
    throw new MlsEngineError("plaintext is not {type, content}");
  }
  return { type, content: content as Record<string, unknown> };
}

function decodeKeyPackage(wire: string): KeyPackage {
  const message = decodeMessage(decodeBase64Lenient(wire));
  if (message.wireformat !== wireformats.mls_key_package) throw new MlsEngineError("not a key package");
  return message.keyPackage;
}

function decodeWelcome(welcome: string): Welcome {
  const message = decodeMessage(decodeBase64Lenient(welcome));
  if (message.wireformat !== wireformats.mls_welcome) throw new MlsEngineError("not a Welcome");
  return message.welcome;
}

function encodeMessage(message: MlsMessage): string {
  return encodeBase64Url(encode(mlsMessageEncoder, message));
}

function decodeMessage(bytes: Uint8Array): MlsMessage {
  const message = decode(mlsMessageDecoder, bytes);
  if (!message) throw new MlsEngineError("malformed MLSMessage");
  return message;
}

function utf8Text(bytes: Uint8Array, what: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new MlsEngineError(`${what} is not UTF-8`);
  }
}
