// The federation side of the keys domain (KeyFederation, keys/keyFederation.ts): device list
// announcements through the outbound queue, and POST /user/keys/query and /user/keys/claim to
// other servers through the signing federation client.
import type { KeyFederation } from "../../keyFederation.js";
import { KeyServerError } from "../../keyFederation.js";
import { FederationRequestError, type Federation } from "../../federationTypes.js";
import { announceDeviceChange, announceSigningKeys } from "./deviceListOutbound.js";
import { USER_KEYS_CLAIM_PATH, USER_KEYS_QUERY_PATH } from "./userKeys.js";

export interface KeyFederationDeps {
  readonly serverName: string;
  readonly federation: Pick<Federation, "client" | "outbound">;
}

export function createKeyFederation({ serverName, federation }: KeyFederationDeps): KeyFederation {
  const announcer = { serverName, outbound: federation.outbound };
  return {
    announceDeviceChange: (tx, update) => announceDeviceChange(tx, announcer, update),
    announceSigningKeys: (tx, userId, keys) => announceSigningKeys(tx, announcer, userId, keys),
    requestUserKeys: async (server, request, body, { timeoutMs, signal }) => {
      const path = request === "query" ? USER_KEYS_QUERY_PATH : USER_KEYS_CLAIM_PATH;
      try {
        return await federation.client.request<unknown>(server, "POST", path, { body, timeoutMs, signal });
      } catch (error) {
        if (!(error instanceof FederationRequestError)) throw error;
        throw new KeyServerError(error.status, error.errcode, error.message);
      }
    },
  };
}
