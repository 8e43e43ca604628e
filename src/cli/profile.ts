// A profile is a folder (mode 0700) holding one device's client store, `store.sqlite`. One
// process at a time may use it: two processes advancing the same MLS groups would fork the
// state and could reuse message keys, so a lock file names the process that holds it.
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { MyelinClient } from "../client/client.js";
import { NotLoggedInError } from "../client/errors.js";
import type { ClientStore } from "../client/store/clientStore.js";
import { openSqliteStore } from "../client/store/sqliteStore.js";
import { CliError } from "./errors.js";
import { LOGIN_HINT, toCliError } from "./failures.js";

const STORE_FILE = "store.sqlite";
const LOCK_FILE = "lock";

export function profileDir(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return resolve(flag ?? env.MYELIN_PROFILE ?? join(homedir(), ".myelin", "default"));
}

function notLoggedIn(dir: string): CliError {
  return new CliError("not_logged_in", `not logged in (profile ${dir})`, LOGIN_HINT);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Takes the profile's lock, or fails naming the process that holds it; a dead holder's lock is taken over. */
function lockProfile(dir: string): () => void {
  const path = join(dir, LOCK_FILE);
  const mine = String(process.pid);
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(path, mine, { flag: "wx", mode: 0o600 });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) throw error;
      const holder = Number.parseInt(readFileSync(path, "utf8"), 10);
      if (Number.isInteger(holder) && holder !== process.pid && isRunning(holder)) {
        throw new CliError(
          "profile_busy",
          `profile ${dir} is in use by another myelin process (pid ${holder})`,
          "wait for it to finish, or quit its `chat` or `messages --follow`",
        );
      }
      unlinkSync(path);
    }
  }
  const release = (): void => {
    process.off("exit", release);
    try {
      if (readFileSync(path, "utf8") === mine) unlinkSync(path);
    } catch {
      // already gone
    }
  };
  // Also released when the process exits without reaching the caller's finally (process.exit).
  process.on("exit", release);
  return release;
}

async function closeQuietly(store: ClientStore): Promise<void> {
  try {
    await store.close();
  } catch {
    // the SDK may have closed it already
  }
}

/**
 * Opens the logged-in client of a profile, runs one sync pass so the command sees the latest
 * (`beforeSync` may subscribe to what it brings), runs `use`, and closes everything again, also
 * when `use` fails.
 */
export async function withClient<T>(
  dir: string,
  use: (client: MyelinClient) => Promise<T>,
  beforeSync?: (client: MyelinClient) => void,
): Promise<T> {
  const storePath = join(dir, STORE_FILE);
  if (!existsSync(storePath)) throw notLoggedIn(dir);
  const release = lockProfile(dir);
  let server: string | undefined;
  try {
    const store = await openSqliteStore(storePath);
    let client: MyelinClient;
    try {
      client = await MyelinClient.open({ store });
    } catch (error) {
      await closeQuietly(store);
      throw error instanceof NotLoggedInError ? notLoggedIn(dir) : error;
    }
    server = client.baseUrl;
    try {
      beforeSync?.(client);
      await client.syncOnce(0);
      return await use(client);
    } finally {
      await client.close();
    }
  } catch (error) {
    throw toCliError(error, server);
  } finally {
    release();
  }
}

/**
 * Creates the profile folder (0700) and store file (0600) if needed, refuses a profile that is
 * already logged in, and runs `create` (register or login) on the empty store; then like withClient.
 */
export async function withNewAccount<T>(
  dir: string,
  server: string,
  create: (store: ClientStore) => Promise<MyelinClient>,
  use: (client: MyelinClient) => Promise<T>,
): Promise<T> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const release = lockProfile(dir);
  try {
    const storePath = join(dir, STORE_FILE);
    // SQLite gives its -wal and -shm files the mode of the database file.
    closeSync(openSync(storePath, "a", 0o600));
    await refuseLoggedIn(dir, storePath);
    const store = await openSqliteStore(storePath);
    let client: MyelinClient;
    try {
      client = await create(store);
    } catch (error) {
      await closeQuietly(store);
      throw error;
    }
    try {
      return await use(client);
    } finally {
      await client.close();
    }
  } catch (error) {
    throw toCliError(error, server);
  } finally {
    release();
  }
}

async function refuseLoggedIn(dir: string, storePath: string): Promise<void> {
  const store = await openSqliteStore(storePath);
  let client: MyelinClient;
  try {
    client = await MyelinClient.open({ store });
  } catch (error) {
    await closeQuietly(store);
    if (error instanceof NotLoggedInError) return;
    throw error;
  }
  const who = `${client.userId} (device ${client.deviceId})`;
  await client.close();
  throw new CliError(
    "already_logged_in",
    `profile ${dir} is already logged in as ${who}`,
    "use another --profile DIR for another account or device",
  );
}
