// What the CLI prints: lines for people by default, one JSON object per line with --json (the
// SDK's own shapes, so scripts see what the SDK sees). Errors go to stderr in the same style.
import type { ClientEvent, Member, RoomSummary, TimelineMessage } from "../client/events.js";
import type { CliError } from "./errors.js";
import { UsageError } from "./errors.js";
import { usageHint } from "./args.js";

export interface Writer {
  write(text: string): unknown;
}

export class Output {
  constructor(
    readonly json: boolean,
    private readonly stdout: Writer = process.stdout,
    private readonly stderr: Writer = process.stderr,
  ) {}

  /** One result: `text` for people, `object` for --json. */
  result(text: string | readonly string[], object: unknown): void {
    if (this.json) this.stdout.write(`${JSON.stringify(object)}\n`);
    else for (const line of typeof text === "string" ? [text] : text) this.stdout.write(`${line}\n`);
  }

  /** Plain text for people only (headings, progress); nothing in --json mode. */
  note(text: string): void {
    if (!this.json) this.stderr.write(`${text}\n`);
  }

  error(error: CliError | UsageError): void {
    const hint = error instanceof UsageError ? usageHint(error.command) : error.hint;
    if (this.json) {
      const code = error instanceof UsageError ? "usage" : error.code;
      this.stderr.write(`${JSON.stringify({ error: code, message: error.message, hint })}\n`);
    } else {
      this.stderr.write(`myelin: ${error.message}\n`);
      if (hint !== undefined) this.stderr.write(`  ${hint}\n`);
    }
  }
}

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

/** `12:03` for today, `2025-11-26 12:03` for other days, in local time. */
export function formatTime(ts: number, now = new Date()): string {
  const date = new Date(ts);
  const time = `${pad(date.getHours())}:${pad(date.getMinutes())}`;
  return date.toDateString() === now.toDateString()
    ? time
    : `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${time}`;
}

function messageText(message: TimelineMessage): string {
  const body = message.content.body;
  if (typeof body !== "string") return `<${message.type}>`;
  return message.content.msgtype === "m.emote" ? `* ${body}` : body;
}

/** `[12:03] @alice:localhost (ALICEDEV): hello` */
export function formatMessage(message: TimelineMessage, now?: Date): string {
  const { userId, deviceId } = message.sender;
  return `[${formatTime(message.originServerTs, now)}] ${userId} (${deviceId}): ${messageText(message)}`;
}

export function messageObject(message: TimelineMessage): Record<string, unknown> {
  return { kind: "message", ...message };
}

export function formatRoom(room: RoomSummary): string {
  const name = room.name === undefined ? "" : ` ${JSON.stringify(room.name)}`;
  const members =
    room.membership !== "joined"
      ? ""
      : room.removed
        ? ", removed from the group"
        : `, ${room.memberCount} members`;
  const inviter = room.inviter === undefined ? "" : ` by ${room.inviter}`;
  const topic = room.topic === undefined ? "" : `  topic: ${room.topic}`;
  return `${room.roomId}${name} (${room.membership}${inviter}${members})${topic}`;
}

export function formatMember(member: Member): string {
  return `${member.userId} (${member.deviceId}) ${member.verification}`;
}

/** A line for an SDK event shown in a live view (`chat`, `sync`, `messages --follow`). */
export function formatEvent(event: ClientEvent, now?: Date): string | undefined {
  switch (event.kind) {
    case "message":
      return formatMessage(event, now);
    case "state":
      if (event.eventType === "m.room.name") return `* room name is now ${showValue(event.content?.name)}`;
      if (event.eventType === "m.room.topic") return `* topic is now ${showValue(event.content?.topic)}`;
      return `* ${event.eventType} changed`;
    case "membership": {
      const lines = [
        ...event.added.map((device) => `* ${device.userId} (${device.deviceId}) added to ${event.roomId}`),
        ...event.removed.map(
          (device) => `* ${device.userId} (${device.deviceId}) removed from ${event.roomId}`,
        ),
      ];
      return lines.length > 0 ? lines.join("\n") : undefined;
    }
    case "invite":
      return `* invited to ${event.roomId}${event.inviter ? ` by ${event.inviter}` : ""}: myelin join ${event.roomId}`;
    case "joined":
      return `* you joined ${event.roomId}`;
    case "removed":
      return `* you were removed from ${event.roomId}`;
    case "commit":
      // Accepted commits show up as their effects (state, membership); only failures are news.
      return event.outcome === "dropped"
        ? `! ${event.intent.kind} in ${event.roomId} did not happen${event.detail ? `: ${event.detail}` : ""}`
        : undefined;
    case "error":
      return `! ${event.error}${event.roomId ? ` in ${event.roomId}` : ""}: ${event.reason}`;
  }
}

function showValue(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : "unset";
}
