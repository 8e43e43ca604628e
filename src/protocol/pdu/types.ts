// Section 3: the PDU of MLS mode rooms. No `sender`, no `depth`.

export interface Pdu {
  readonly room_id: string;
  readonly type: string;
  /** Only on create and commit events, always "" (R1, R2). */
  readonly state_key?: string;
  readonly origin: string;
  readonly origin_server_ts: number;
  readonly content: Readonly<Record<string, unknown>>;
  readonly prev_events: readonly string[];
  readonly auth_events: readonly string[];
  readonly hashes: { readonly sha256: string };
  readonly signatures: Readonly<Record<string, Readonly<Record<string, string>>>>;
  readonly unsigned?: Readonly<Record<string, unknown>>;
}

/** A PDU before hashing and signing. */
export type UnsignedPdu = Omit<Pdu, "hashes" | "signatures" | "unsigned">;

/** Top-level keys a PDU of this room version may carry (D2 keeps all of them but `unsigned`). */
export const PDU_KEYS: readonly string[] = [
  "room_id",
  "type",
  "state_key",
  "origin",
  "origin_server_ts",
  "content",
  "prev_events",
  "auth_events",
  "hashes",
  "signatures",
  "unsigned",
];

/** Every room version caps a PDU at 64 KiB of canonical JSON. */
export const MAX_PDU_BYTES = 65_536;
export const MAX_PREV_EVENTS = 20;
/** R4 allows two; a few more are accepted by the shape check so that R4 names the problem. */
export const MAX_AUTH_EVENTS = 10;
