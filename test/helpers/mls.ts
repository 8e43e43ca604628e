// Test helper: real MLS groups and messages made with ts-mls, so protocol tests never
// pose hand-made bytes as MLS.
import {
  createApplicationMessage,
  createCommit,
  createGroup,
  createProposal,
  defaultProposalTypes,
  encode,
  generateKeyPackage,
  getCiphersuiteImpl,
  mlsMessageEncoder,
  unsafeTestingAuthenticationService,
  defaultCredentialTypes,
  type CiphersuiteImpl,
  type ClientState,
  type MlsContext,
  protocolVersions,
  wireformats,
} from "ts-mls";

let cachedImpl: Promise<CiphersuiteImpl> | undefined;

export function ciphersuite1(): Promise<CiphersuiteImpl> {
  cachedImpl ??= getCiphersuiteImpl("MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519");
  return cachedImpl;
}

async function context(): Promise<MlsContext> {
  return { cipherSuite: await ciphersuite1(), authService: unsafeTestingAuthenticationService };
}

/** A one-member MLS group whose group ID is the UTF-8 of `groupId` (a room ID). */
export async function newGroup(groupId: string, identity = "@alice:example.org|DEV"): Promise<ClientState> {
  const cs = await ciphersuite1();
  const kp = await generateKeyPackage({
    credential: {
      credentialType: defaultCredentialTypes.basic,
      identity: new TextEncoder().encode(identity),
    },
    cipherSuite: cs,
  });
  return createGroup({
    context: await context(),
    groupId: new TextEncoder().encode(groupId),
    keyPackage: kp.publicPackage,
    privateKeyPackage: kp.privatePackage,
  });
}

/** Serialized MLSMessage bytes of an empty commit (self-update) carrying `authenticatedData`. */
export async function commitBytes(
  state: ClientState,
  authenticatedData: Uint8Array,
): Promise<{ bytes: Uint8Array; newState: ClientState }> {
  const result = await createCommit({ context: await context(), state, authenticatedData });
  return { bytes: encode(mlsMessageEncoder, result.commit), newState: result.newState };
}

/** Serialized MLSMessage bytes of an application message. */
export async function applicationBytes(
  state: ClientState,
  plaintext = "{}",
  authenticatedData: Uint8Array = new Uint8Array(),
): Promise<Uint8Array> {
  const result = await createApplicationMessage({
    context: await context(),
    state,
    message: new TextEncoder().encode(plaintext),
    authenticatedData,
  });
  return encode(mlsMessageEncoder, result.message);
}

/** Serialized MLSMessage bytes of a proposal: the sender (leaf 0) proposes removing itself. */
export async function proposalBytes(
  state: ClientState,
  authenticatedData: Uint8Array = new Uint8Array(),
): Promise<Uint8Array> {
  const result = await createProposal({
    context: await context(),
    state,
    proposal: { proposalType: defaultProposalTypes.remove, remove: { removed: 0 } },
    authenticatedData,
  });
  return encode(mlsMessageEncoder, result.message);
}

/** Serialized MLSMessage bytes of a KeyPackage (wire format mls_key_package). */
export async function keyPackageBytes(identity = "@bob:example.org|DEV"): Promise<Uint8Array> {
  const kp = await generateKeyPackage({
    credential: {
      credentialType: defaultCredentialTypes.basic,
      identity: new TextEncoder().encode(identity),
    },
    cipherSuite: await ciphersuite1(),
  });
  return encode(mlsMessageEncoder, {
    wireformat: wireformats.mls_key_package,
    version: protocolVersions.mls10,
    keyPackage: kp.publicPackage,
  });
}
