// Push rules: this server sends no push notifications (it has no pushers), so every user has the
// spec's default global ruleset, read-only. It is kept to the rules that can match here: message
// bodies are MLS ciphertext (section 8), so content rules and mention rules never could.

export const PUSH_RULE_KINDS = ["override", "content", "room", "sender", "underride"] as const;
export type PushRuleKind = (typeof PUSH_RULE_KINDS)[number];

export interface PushRule {
  readonly rule_id: string;
  readonly default: boolean;
  readonly enabled: boolean;
  readonly actions: readonly unknown[];
  readonly conditions?: readonly Record<string, unknown>[];
}

export type PushRuleset = Record<PushRuleKind, readonly PushRule[]>;

const rule = (
  ruleId: string,
  actions: readonly unknown[],
  conditions: readonly Record<string, unknown>[],
  enabled = true,
): PushRule => ({ rule_id: ruleId, default: true, enabled, actions, conditions });

const eventMatch = (key: string, pattern: string) => ({ kind: "event_match", key, pattern });
const oneToOne = { kind: "room_member_count", is: "2" };
const NOTIFY = ["notify"];
const notifyWithSound = (sound: string) => ["notify", { set_tweak: "sound", value: sound }];

export function defaultPushRules(userId: string): PushRuleset {
  return {
    override: [
      rule(".m.rule.master", [], [], false),
      rule(".m.rule.suppress_notices", [], [eventMatch("content.msgtype", "m.notice")]),
      rule(".m.rule.invite_for_me", notifyWithSound("default"), [
        eventMatch("type", "m.room.member"),
        eventMatch("content.membership", "invite"),
        eventMatch("state_key", userId),
      ]),
      rule(".m.rule.member_event", [], [eventMatch("type", "m.room.member")]),
    ],
    content: [],
    room: [],
    sender: [],
    underride: [
      rule(".m.rule.encrypted_room_one_to_one", notifyWithSound("default"), [
        oneToOne,
        eventMatch("type", "m.room.encrypted"),
      ]),
      rule(".m.rule.room_one_to_one", notifyWithSound("default"), [
        oneToOne,
        eventMatch("type", "m.room.message"),
      ]),
      rule(".m.rule.message", NOTIFY, [eventMatch("type", "m.room.message")]),
      rule(".m.rule.encrypted", NOTIFY, [eventMatch("type", "m.room.encrypted")]),
    ],
  };
}

export function isPushRuleKind(kind: string): kind is PushRuleKind {
  return (PUSH_RULE_KINDS as readonly string[]).includes(kind);
}
