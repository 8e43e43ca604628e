// Which servers an event of ours goes to (section 7): every server in the `servers` of the room's
// current commit. A commit goes to the servers of the commit it replaces and of its own list, so
// that a server a commit removes learns of it, and a server it adds gets it.
import type { FederationObject } from "../../protocol/federationObject.js";

export function eventDestinations(
  ownServer: string,
  current: FederationObject | undefined,
  newCommit?: FederationObject,
): string[] {
  const servers = new Set([...(current?.federation.servers ?? []), ...(newCommit?.federation.servers ?? [])]);
  servers.delete(ownServer);
  return [...servers].sort();
}
