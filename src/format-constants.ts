// Generated from the engine's constants by crates/engine/tests/formats.rs, which fails when
// this file is stale: change them there, then run
// `UPDATE_GOLDEN=1 cargo test -p inotify-engine --test formats`.
/**
 * The constants of the engine's two byte formats and of its doorbell, as it defines them.
 * @module
 */

/** A batch of events: its layout and flags (`crates/engine/src/wire.rs` documents each). */
export const BATCH = {
  HEADER_LEN: 20,
  EVENT_COUNT_AT: 0,
  PATH_COUNT_AT: 4,
  NAMES_OFFSET_AT: 8,
  PATHS_OFFSET_AT: 12,
  BATCH_FLAGS_AT: 16,
  COLUMNS: 7,
  COLUMN_WD: 0,
  COLUMN_MASK: 1,
  COLUMN_COOKIE: 2,
  COLUMN_LEN: 3,
  COLUMN_PATH_INDEX: 4,
  COLUMN_FLAGS: 5,
  COLUMN_NAME_END: 6,
  NO_PATH: 0xffffffff,
  FLAG_SYNTHETIC: 0x1,
  FLAG_REPLACED: 0x2,
  FLAG_ASCII_NAME: 0x4,
  BATCH_SETTLED: 0x1,
  BATCH_ANSWER: 0x2,
} as const

/** A set of changes: its layout and flags (`crates/engine/src/changes_wire.rs` documents each). */
export const CHANGES = {
  HEADER_LEN: 4,
  KIND_AT: 0,
  FLAGS_AT: 1,
  PATH_LEN_AT: 2,
  PATH_AT: 6,
  CHANGE_IS_DIR: 0x1,
  CHANGE_SYNTHETIC: 0x2,
  NO_OLD_PATH: 0xffffffff,
} as const

/** A change's `type`, by its code in a set of changes. */
export const CHANGE_KINDS = ['create', 'modify', 'delete', 'rename', 'overflow'] as const

/** The events a tree watched for changes (`watch()`) asks the kernel for. */
export const CHANGES_MASK = 0x7ce

/** What a ring of a session's doorbell says (`crates/engine/src/doorbell.rs` documents each). */
export const RING = {
  READY: 0,
  REPORTS: 1,
  RELEASED: 2,
} as const
