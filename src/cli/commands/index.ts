// Which function runs each command of the table in args.ts.
import { chat } from "../chat.js";
import * as account from "./account.js";
import type { CommandHandler } from "./context.js";
import * as messages from "./messages.js";
import * as rooms from "./rooms.js";

export const HANDLERS: Readonly<Record<string, CommandHandler>> = {
  register: account.register,
  login: account.login,
  whoami: account.whoami,
  sync: account.sync,
  devices: account.devices,
  verify: account.verify,
  "approve-device": account.approveDevice,
  rooms: rooms.rooms,
  "create-room": rooms.createRoom,
  invite: rooms.invite,
  join: rooms.join,
  members: rooms.members,
  "set-name": rooms.setName,
  "set-topic": rooms.setTopic,
  remove: rooms.remove,
  leave: rooms.leave,
  send: messages.send,
  messages: messages.messages,
  chat,
};
