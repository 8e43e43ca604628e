// The client's only door to ts-mls (issue: keep every ts-mls call in one module, so the engine
// can be upgraded or tuned in one place). Pure functions over immutable group states, no I/O.
import {
  clientStateDecoder,
  clientStateEncoder,
  createApplicationMessage,
  createCommit,
  createGroup,
  decode,
  defaultCapabilities,
  defaultCredentialTypes,
  defaultExtensionTypes,
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
  processMessage,
  protocolVersions,
  wireformats,
  zeroOutUint8Array,
} from "ts-mls";
import type {
  AuthenticationService,
  CiphersuiteImpl,
  ClientState,
  Credential,
  KeyPackage,
  LeafIndex,
  MlsContext,
  MlsMessage,
  PrivateKeyPackage,
  PrivateMessage,
  Proposal,
} from "ts-mls";
import { decodeBase64Lenient, encodeBase64Url } from "../../protocol/base64.js";
import { canonicalJsonBytes } from "../../protocol/canonicalJson.js";
import { encodeFederationObject, type FederationObject } from "../../protocol/federationObject.js";
import { decodeIdentity, encodeIdentity, type DeviceIdentity } from "../../protocol/credential.js";
import { decryptSenderLeafIndex } from "./senderData.js";

export class MlsEngineError extends Error {
  override readonly name = "MlsEngineError";
}

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
  | { readonly kind: "commit"; readonly state: GroupState; readonly authenticatedData: Uint8Array }
  | {
      readonly kind: "application";
      readonly state: GroupState;
      readonly message: RoomMessage;
      readonly senderLeafIndex: number;
      readonly sender: DeviceIdentity;
    };

/** Section 8: the GroupContext extension holding the encrypted room state. */
export const ROOM_STATE_EXTENSION_TYPE = 0xf6d0;
/** RFC 9420 last_resort key package extension. */
const LAST_RESORT_EXTENSION_TYPE = 10;

let suite: Promise<CiphersuiteImpl> | undefined;

/**
 * Ciphersuite 1, created once. The noble provider hashes and derives synchronously: measured
 * about 2x faster than the WebCrypto default for adds and path commits (N = 100).
 */
export function cipherSuite(): Promise<CiphersuiteImpl> {
  suite ??= getCiphersuiteImpl("MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519", nobleCryptoProvider);
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
  return { cipherSuite: await cipherSuite(), authService };
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
 * A commit adding devices (their D20 key package strings) and removing leaves, carrying the
 * federation object (section 3). `state` is left as it is: the caller keeps it until the
 * server accepts or refuses the commit.
 */
export async function createRoomCommit(params: {
  readonly state: GroupState;
  readonly federation: FederationObject;
  readonly addKeyPackages?: readonly string[];
  readonly removeLeafIndices?: readonly number[];
}): Promise<PendingCommit> {
  const adds: Proposal[] = (params.addKeyPackages ?? []).map((wire) => ({
    proposalType: defaultProposalTypes.add,
    add: { keyPackage: decodeKeyPackage(wire) },
  }));
  const removes: Proposal[] = (params.removeLeafIndices ?? []).map((removed) => ({
    proposalType: defaultProposalTypes.remove,
    remove: { removed },
  }));
  const result = await createCommit({
    context: await context(),
    state: params.state,
    extraProposals: [...adds, ...removes],
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

/**
 * Zeroes the secrets a commit used up. Only after the server accepted it: they include the old
 * state's init secret, needed to process a competing commit instead (ts-mls.md).
 */
export function wipeConsumedSecrets(accepted: PendingCommit): void {
  for (const secret of accepted.consumed) zeroOutUint8Array(secret);
}

/** Section 8: the plaintext is the JSON `{type, content}`. */
export async function encryptRoomMessage(
  state: GroupState,
  message: RoomMessage,
): Promise<{ readonly ciphertext: string; readonly state: GroupState }> {
  const result = await createApplicationMessage({
    context: await context(),
    state,
    message: canonicalJsonBytes({ type: message.type, content: message.content }),
  });
  return { ciphertext: encodeMessage(result.message), state: result.newState };
}

/**
 * Processes a commit or message event's ciphertext. Our own commit coming back is recognised
 * by its bytes and answered with the pending state (ts-mls cannot process it: ts-mls.md).
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
  const senderLeafIndex = await senderOf(state, message.privateMessage);
  const result = await processMessage({ context: await context(), state, message });
  if (result.kind === "newState") {
    return { kind: "commit", state: result.newState, authenticatedData: result.aad };
  }
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

export async function joinFromWelcome(welcome: string, own: DeviceKeyPackage): Promise<GroupState> {
  const message = decodeMessage(decodeBase64Lenient(welcome));
  if (message.wireformat !== wireformats.mls_welcome) throw new MlsEngineError("not a Welcome");
  return joinGroup({
    context: await context(),
    welcome: message.welcome,
    keyPackage: own.publicPackage,
    privateKeys: own.privatePackage,
  });
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
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(plaintext));
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

function encodeMessage(message: MlsMessage): string {
  return encodeBase64Url(encode(mlsMessageEncoder, message));
}

function decodeMessage(bytes: Uint8Array): MlsMessage {
  const message = decode(mlsMessageDecoder, bytes);
  if (!message) throw new MlsEngineError("malformed MLSMessage");
  return message;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
