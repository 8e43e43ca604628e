// A test-side MLS member (ts-mls): what a client does for a room, without the SDK, so server
// tests can drive real commits, Welcomes and messages.
import {
  createApplicationMessage,
  createCommit,
  createGroup,
  decode,
  defaultCredentialTypes,
  defaultProposalTypes,
  encode,
  generateKeyPackage,
  joinGroup,
  mlsMessageDecoder,
  mlsMessageEncoder,
  processMessage,
  protocolVersions,
  unsafeTestingAuthenticationService,
  wireformats,
  type ClientState,
  type KeyPackage,
  type MlsContext,
  type MlsFramedMessage,
  type PrivateKeyPackage,
} from "ts-mls";
import { decodeBase64Lenient, encodeBase64Url } from "../../src/protocol/base64.js";
import { encodeFederationObject, type FederationObject } from "../../src/protocol/federationObject.js";
import { ciphersuite1 } from "./mls.js";

async function context(): Promise<MlsContext> {
  return { cipherSuite: await ciphersuite1(), authService: unsafeTestingAuthenticationService };
}

export interface KeyPackagePair {
  readonly publicPackage: KeyPackage;
  readonly privatePackage: PrivateKeyPackage;
  /** Base64 of the MLSMessage wrapping the KeyPackage (D20). */
  readonly wire: string;
}

export async function makeKeyPackage(identity: string): Promise<KeyPackagePair> {
  const kp = await generateKeyPackage({
    credential: {
      credentialType: defaultCredentialTypes.basic,
      identity: new TextEncoder().encode(identity),
    },
    cipherSuite: await ciphersuite1(),
  });
  const bytes = encode(mlsMessageEncoder, {
    wireformat: wireformats.mls_key_package,
    version: protocolVersions.mls10,
    keyPackage: kp.publicPackage,
  });
  return { ...kp, wire: encodeBase64Url(bytes) };
}

export function fed(
  servers: string[],
  powers = servers.slice(0, 1),
  canPropose: string[] = [],
): FederationObject {
  return {
    federation: { servers, powers, canPropose },
    security: { window: 0, requiredVerification: "m.cross" },
  };
}

/** A member's view of one group; commits are adopted only once the server accepted them. */
export class MlsMember {
  private constructor(public state: ClientState) {}

  static async create(roomId: string, identity: string): Promise<MlsMember> {
    const kp = await makeKeyPackage(identity);
    const state = await createGroup({
      context: await context(),
      groupId: new TextEncoder().encode(roomId),
      keyPackage: kp.publicPackage,
      privateKeyPackage: kp.privatePackage,
    });
    return new MlsMember(state);
  }

  static async fromWelcome(
    welcomeB64: string,
    kp: { readonly publicPackage: KeyPackage; readonly privatePackage: PrivateKeyPackage },
  ): Promise<MlsMember> {
    const message = decode(mlsMessageDecoder, decodeBase64Lenient(welcomeB64));
    if (message?.wireformat !== wireformats.mls_welcome) throw new Error("not a Welcome");
    const state = await joinGroup({
      context: await context(),
      welcome: message.welcome,
      keyPackage: kp.publicPackage,
      privateKeys: kp.privatePackage,
    });
    return new MlsMember(state);
  }

  get epoch(): bigint {
    return this.state.groupContext.epoch;
  }

  /** The KeyPackage inside a claimed key package value (D20). */
  static readKeyPackage(value: string): KeyPackage {
    const message = decode(mlsMessageDecoder, decodeBase64Lenient(value));
    if (message?.wireformat !== wireformats.mls_key_package) throw new Error("not a key package");
    return message.keyPackage;
  }

  /** A commit (optionally adding key packages) with the federation object; not yet adopted. */
  async commit(federation: FederationObject, add: KeyPackage[] = []) {
    const result = await createCommit({
      context: await context(),
      state: this.state,
      authenticatedData: encodeFederationObject(federation),
      ratchetTreeExtension: true,
      extraProposals: add.map((keyPackage) => ({
        proposalType: defaultProposalTypes.add,
        add: { keyPackage },
      })),
    });
    return {
      ciphertext: encodeBase64Url(encode(mlsMessageEncoder, result.commit)),
      welcome: result.welcome ? encodeBase64Url(encode(mlsMessageEncoder, result.welcome)) : undefined,
      adopt: () => {
        this.state = result.newState;
      },
    };
  }

  async encrypt(plaintext: string): Promise<string> {
    const result = await createApplicationMessage({
      context: await context(),
      state: this.state,
      message: new TextEncoder().encode(plaintext),
    });
    this.state = result.newState;
    return encodeBase64Url(encode(mlsMessageEncoder, result.message));
  }

  /** Processes a commit or message from another member; returns the plaintext of messages. */
  async receive(ciphertext: string): Promise<string | undefined> {
    const message = decode(mlsMessageDecoder, decodeBase64Lenient(ciphertext)) as MlsFramedMessage;
    const result = await processMessage({ context: await context(), state: this.state, message });
    this.state = result.newState;
    return result.kind === "applicationMessage" ? new TextDecoder().decode(result.message) : undefined;
  }
}
