// Commands about the account and this device: register, login, whoami, sync, devices, verify,
// approve-device.
import type { ClientEvent } from "../../client/events.js";
import { MyelinClient } from "../../client/client.js";
import { formatEvent, formatTime } from "../output.js";
import { readPassword } from "../password.js";
import { withClient, withNewAccount } from "../profile.js";
import { qualifyUser } from "../resolve.js";
import type { CommandContext } from "./context.js";

async function showIdentity(context: CommandContext, client: MyelinClient, heading?: string): Promise<void> {
  const fingerprint = await client.fingerprint();
  context.out.result(
    [
      ...(heading ? [heading] : []),
      client.userId,
      `  device       ${client.deviceId}`,
      `  server       ${client.baseUrl}`,
      `  fingerprint  ${fingerprint}`,
      `  profile      ${context.profile}`,
    ],
    {
      userId: client.userId,
      deviceId: client.deviceId,
      server: client.baseUrl,
      fingerprint,
      profile: context.profile,
    },
  );
}

export async function register(context: CommandContext): Promise<void> {
  const { inv, env } = context;
  const baseUrl = inv.required("server");
  const username = inv.required("user");
  const password = await readPassword(inv.string("password"), env);
  const deviceName = inv.string("device-name");
  const registrationToken = inv.string("registration-token");
  await withNewAccount(
    context.profile,
    baseUrl,
    (store) =>
      MyelinClient.register({
        baseUrl,
        username,
        password,
        store,
        ...(deviceName !== undefined ? { deviceName } : {}),
        ...(registrationToken !== undefined ? { registrationToken } : {}),
      }),
    (client) => showIdentity(context, client, "registered"),
  );
}

export async function login(context: CommandContext): Promise<void> {
  const { inv, env } = context;
  const baseUrl = inv.required("server");
  const user = inv.required("user");
  const password = await readPassword(inv.string("password"), env);
  const deviceName = inv.string("device-name");
  await withNewAccount(
    context.profile,
    baseUrl,
    (store) =>
      MyelinClient.login({
        baseUrl,
        user,
        password,
        store,
        ...(deviceName !== undefined ? { deviceName } : {}),
      }),
    (client) =>
      showIdentity(
        context,
        client,
        "logged in; from a device you already use, run `myelin approve-device` with this device ID",
      ),
  );
}

export async function whoami(context: CommandContext): Promise<void> {
  await withClient(context.profile, (client) => showIdentity(context, client));
}

export async function sync(context: CommandContext): Promise<void> {
  const events: ClientEvent[] = [];
  await withClient(
    context.profile,
    async () => {
      for (const event of events) {
        const line = formatEvent(event);
        if (line !== undefined || context.inv.json) context.out.result(line ?? "", event);
      }
      if (events.length === 0) context.out.note("nothing new");
    },
    (client) => void client.on((event) => events.push(event)),
  );
}

export async function devices(context: CommandContext): Promise<void> {
  await withClient(context.profile, async (client) => {
    for (const device of await client.devices()) {
      const name = device.displayName === undefined ? "" : ` ${JSON.stringify(device.displayName)}`;
      const seen = device.lastSeenTs === undefined ? "" : `, last seen ${formatTime(device.lastSeenTs)}`;
      const current = device.current ? " (this device)" : "";
      context.out.result(`${device.deviceId}${name}${current}: ${device.verification}${seen}`, device);
    }
  });
}

export async function verify(context: CommandContext): Promise<void> {
  const { inv, out } = context;
  await withClient(context.profile, async (client) => {
    const userId = qualifyUser(inv.arg("USER"), client.userId);
    const compared = inv.optionalArg("FINGERPRINT...");
    const fingerprint = await client.verifyUser(userId, compared);
    if (compared === undefined) {
      out.result(
        [
          `${userId}  ${fingerprint}`,
          `compare it with what ${userId} sees in \`myelin whoami\`; if they match: myelin verify ${userId} '${fingerprint}'`,
        ],
        { userId, fingerprint, verified: false },
      );
    } else {
      out.result(`${userId} verified (${fingerprint})`, { userId, fingerprint, verified: true });
    }
  });
}

export async function approveDevice(context: CommandContext): Promise<void> {
  const deviceId = context.inv.arg("DEVICE");
  await withClient(context.profile, async (client) => {
    await client.approveDevice(deviceId);
    context.out.result(`device ${deviceId} approved and added to your rooms`, { deviceId, approved: true });
  });
}
