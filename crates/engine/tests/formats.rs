//! The two byte formats that cross to JavaScript, defined once, here in the engine. This test
//! writes what the TypeScript side reads of them: its constants (`src/format-constants.ts`, from
//! the engine's own) and golden files (`__test__/fixtures/golden/`: batches and change sets this
//! engine's encoders write, each with a JSON of what it means), on which the TypeScript decoders
//! are tested. It fails when a committed file differs from what the engine writes now; with
//! `UPDATE_GOLDEN=1` in the environment it rewrites them instead.

use std::path::{Path, PathBuf};

use inotify_engine::changes::CHANGES_MASK;
use inotify_engine::changes_wire::{self, Change, ChangeKind, ChangesEncoder};
use inotify_engine::doorbell;
use inotify_engine::mask::*;
use inotify_engine::wire::{self, BatchEncoder, DecodedEvent, EncodedBatch};
use inotify_engine::RawEvent;
use serde_json::{json, Value};

const GOLDEN_DIR: &str = "__test__/fixtures/golden";
const TYPESCRIPT: &str = "src/format-constants.ts";
const UPDATE: &str = "UPDATE_GOLDEN";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Compares `bytes` with the committed file `relative` to the repository's root; rewrites it
/// instead when `UPDATE_GOLDEN=1`.
fn check_or_update(relative: &str, bytes: &[u8]) {
    let path = repo_root().join(relative);
    if std::env::var(UPDATE).as_deref() == Ok("1") {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create the golden directory");
        }
        std::fs::write(&path, bytes).expect("write a golden file");
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == bytes,
        "{relative} differs from what the engine writes now; if the change is meant, run \
         `{UPDATE}=1 cargo test -p inotify-engine --test formats` and commit the result"
    );
}

/// A byte string in JSON: a string when it is UTF-8, else `{ "hex": "..." }`.
fn text(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(s) => json!(s),
        Err(_) => {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            json!({ "hex": hex })
        }
    }
}

fn pretty(value: &Value) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(value).expect("serialize JSON");
    out.push(b'\n');
    out
}

// ---- The TypeScript constants ------------------------------------------------------------------

/// `(name, value)` of a constant, its value written by `style`.
macro_rules! constant {
    ($path:path, $style:expr) => {{
        let name = stringify!($path)
            .rsplit("::")
            .next()
            .unwrap_or_default()
            .trim();
        (name, $style($path as u64))
    }};
}

fn dec(value: u64) -> String {
    value.to_string()
}

fn hex(value: u64) -> String {
    format!("0x{value:x}")
}

fn object(out: &mut String, name: &str, doc: &str, entries: &[(&str, String)]) {
    out.push_str(&format!("\n/** {doc} */\nexport const {name} = {{\n"));
    for (key, value) in entries {
        out.push_str(&format!("  {key}: {value},\n"));
    }
    out.push_str("} as const\n");
}

fn typescript() -> String {
    let mut ts = String::from(
        "// Generated from the engine's constants by crates/engine/tests/formats.rs, which fails when\n\
         // this file is stale: change them there, then run\n\
         // `UPDATE_GOLDEN=1 cargo test -p inotify-engine --test formats`.\n\
         /**\n \
         * The constants of the engine's two byte formats and of its doorbell, as it defines them.\n \
         * @module\n \
         */\n",
    );
    object(
        &mut ts,
        "BATCH",
        "A batch of events: its layout and flags (`crates/engine/src/wire.rs` documents each).",
        &[
            constant!(wire::HEADER_LEN, dec),
            constant!(wire::EVENT_COUNT_AT, dec),
            constant!(wire::PATH_COUNT_AT, dec),
            constant!(wire::NAMES_OFFSET_AT, dec),
            constant!(wire::PATHS_OFFSET_AT, dec),
            constant!(wire::BATCH_FLAGS_AT, dec),
            constant!(wire::COLUMNS, dec),
            constant!(wire::COLUMN_WD, dec),
            constant!(wire::COLUMN_MASK, dec),
            constant!(wire::COLUMN_COOKIE, dec),
            constant!(wire::COLUMN_LEN, dec),
            constant!(wire::COLUMN_PATH_INDEX, dec),
            constant!(wire::COLUMN_FLAGS, dec),
            constant!(wire::COLUMN_NAME_END, dec),
            constant!(wire::NO_PATH, hex),
            constant!(wire::FLAG_SYNTHETIC, hex),
            constant!(wire::FLAG_REPLACED, hex),
            constant!(wire::FLAG_ASCII_NAME, hex),
            constant!(wire::BATCH_SETTLED, hex),
            constant!(wire::BATCH_ANSWER, hex),
        ],
    );
    object(
        &mut ts,
        "CHANGES",
        "A set of changes: its layout and flags (`crates/engine/src/changes_wire.rs` documents each).",
        &[
            constant!(changes_wire::HEADER_LEN, dec),
            constant!(changes_wire::KIND_AT, dec),
            constant!(changes_wire::FLAGS_AT, dec),
            constant!(changes_wire::PATH_LEN_AT, dec),
            constant!(changes_wire::PATH_AT, dec),
            constant!(changes_wire::CHANGE_IS_DIR, hex),
            constant!(changes_wire::CHANGE_SYNTHETIC, hex),
            constant!(changes_wire::NO_OLD_PATH, hex),
        ],
    );
    let kinds: Vec<String> = ChangeKind::ALL
        .iter()
        .map(|kind| format!("'{}'", kind.name()))
        .collect();
    ts.push_str(&format!(
        "\n/** A change's `type`, by its code in a set of changes. */\n\
         export const CHANGE_KINDS = [{}] as const\n",
        kinds.join(", ")
    ));
    ts.push_str(&format!(
        "\n/** The events a tree watched for changes (`watch()`) asks the kernel for. */\n\
         export const CHANGES_MASK = {}\n",
        hex(u64::from(CHANGES_MASK))
    ));
    object(
        &mut ts,
        "RING",
        "What a ring of a session's doorbell says (`crates/engine/src/doorbell.rs` documents each).",
        &[
            ("READY", dec(u64::from(doorbell::RING_READY))),
            ("REPORTS", dec(u64::from(doorbell::RING_REPORTS))),
            ("RELEASED", dec(u64::from(doorbell::RING_RELEASED))),
        ],
    );
    ts
}

#[test]
fn the_typescript_constants_are_the_engines() {
    check_or_update(TYPESCRIPT, typescript().as_bytes());
}

// ---- Golden batches ----------------------------------------------------------------------------

/// One event as the encoder is given it.
struct Pushed {
    wd: i32,
    mask: u32,
    cookie: u32,
    name: &'static [u8],
    path: Option<&'static [u8]>,
    flags: u32,
}

/// The kernel's `len` of a name: with its NUL, padded to 16 bytes (0 for no name).
fn padded_len(name: &[u8]) -> u32 {
    if name.is_empty() {
        0
    } else {
        (name.len() + 1).next_multiple_of(16) as u32
    }
}

fn ev(wd: i32, mask: u32, name: &'static [u8], path: &'static [u8]) -> Pushed {
    Pushed {
        wd,
        mask,
        cookie: 0,
        name,
        path: Some(path),
        flags: 0,
    }
}

/// Events covering every field and flag: names with odd bytes (not UTF-8, multi-byte, control
/// characters, long), an overflow, a rename pair, a watch whose path changes within the batch, a
/// path that is not UTF-8, a root of `/`, synthetic and replaced events.
fn part_events() -> Vec<Pushed> {
    vec![
        ev(1, IN_CREATE, b"a", b"/w"),
        Pushed {
            flags: wire::FLAG_SYNTHETIC,
            ..ev(1, IN_CREATE | IN_ISDIR, b"sub\xff", b"/w")
        },
        Pushed {
            path: None,
            ..ev(-1, IN_Q_OVERFLOW, b"", b"")
        },
        Pushed {
            cookie: 7,
            ..ev(2, IN_MOVED_FROM, "名前".as_bytes(), "/w/日本".as_bytes())
        },
        Pushed {
            cookie: 7,
            flags: wire::FLAG_REPLACED,
            ..ev(2, IN_MOVED_TO, b"new\nline\t\x1b[0m", "/w/日本".as_bytes())
        },
        ev(3, IN_MODIFY, b"a-name-longer-than-thirteen.txt", b"/w/\xfe"),
        ev(1, IN_ATTRIB | IN_ISDIR, b"", b"/w"),
        ev(1, IN_CLOSE_WRITE, "😀".as_bytes(), b"/w-renamed"),
        ev(4, IN_DELETE, b"x", b"/"),
        ev(4, IN_IGNORED, b"", b"/"),
    ]
}

fn encode(events: &[Pushed]) -> EncodedBatch {
    let mut encoder = BatchEncoder::new();
    for e in events {
        let raw = RawEvent {
            wd: e.wd,
            mask: e.mask,
            cookie: e.cookie,
            len: padded_len(e.name),
            name: e.name,
        };
        encoder.push(&raw, e.path, e.flags);
    }
    encoder.finish()
}

fn batch_meaning(file: &str, batch: &EncodedBatch, events: &[Pushed]) -> Value {
    let events: Vec<Value> = events
        .iter()
        .map(|e| {
            let ascii = if e.name.is_ascii() {
                wire::FLAG_ASCII_NAME
            } else {
                0
            };
            json!({
                "wd": e.wd,
                "mask": e.mask,
                "cookie": e.cookie,
                "len": padded_len(e.name),
                "path": e.path.map(text),
                "flags": e.flags | ascii,
                "name": text(e.name),
            })
        })
        .collect();
    json!({
        "file": file,
        "settled": batch.settled(),
        "answer": batch.answer(),
        "events": events,
    })
}

#[test]
fn golden_batches_are_what_the_encoder_writes_and_read_back_as_what_they_mean() {
    let part = part_events();
    let answer = vec![
        ev(5, IN_OPEN, b"f", b"/r"),
        ev(5, IN_CLOSE_NOWRITE, b"f", b"/r"),
    ];
    let mut fixtures = vec![
        ("batch-part.bin", encode(&part), part),
        ("batch-answer.bin", encode(&answer), answer),
        ("batch-tick.bin", encode(&[]), Vec::new()),
    ];
    fixtures[1].1.set_answer();
    fixtures[2].1.set_settled(true);
    let mut meanings = Vec::new();
    for (file, batch, events) in &fixtures {
        let decoded = wire::decode(&batch.bytes).expect("a well-formed batch");
        let expected: Vec<DecodedEvent> = events
            .iter()
            .map(|e| DecodedEvent {
                wd: e.wd,
                mask: e.mask,
                cookie: e.cookie,
                len: padded_len(e.name),
                path: e.path.map(<[u8]>::to_vec),
                flags: e.flags,
                name: e.name.to_vec(),
            })
            .collect();
        assert_eq!(decoded, expected, "{file} reads back as it was written");
        check_or_update(&format!("{GOLDEN_DIR}/{file}"), &batch.bytes);
        meanings.push(batch_meaning(file, batch, events));
    }
    let (part, answer, tick) = (&fixtures[0].1, &fixtures[1].1, &fixtures[2].1);
    assert!(!part.settled() && !part.answer(), "one batch with no flag");
    assert!(answer.settled() && answer.answer(), "one settled answer");
    assert!(
        tick.settled() && !tick.answer() && tick.events == 0,
        "one tick"
    );
    let about = "Batches of events the engine's encoder wrote (crates/engine/src/wire.rs), and what \
                 they mean. A byte string is a string when it is UTF-8, else {\"hex\": its bytes}. `flags` is \
                 the flags column as written (FLAG_ASCII_NAME included); `path` is null for none.";
    check_or_update(
        &format!("{GOLDEN_DIR}/batches.json"),
        &pretty(&json!({ "about": about, "batches": meanings })),
    );
}

// ---- Golden change sets ------------------------------------------------------------------------

fn change(kind: ChangeKind, path: &[u8], old_path: Option<&[u8]>) -> Change {
    Change {
        kind,
        path: path.to_vec(),
        old_path: old_path.map(<[u8]>::to_vec),
        is_dir: false,
        synthetic: false,
    }
}

/// Every kind and flag: a rename pair of files and one of directories, odd bytes in names, a
/// root of `/`, an overflow (its path empty: it concerns the whole instance).
fn golden_changes() -> Vec<Change> {
    vec![
        change(ChangeKind::Create, b"/r/a", None),
        Change {
            is_dir: true,
            synthetic: true,
            ..change(ChangeKind::Create, "/r/日本".as_bytes(), None)
        },
        Change {
            synthetic: true,
            ..change(ChangeKind::Create, b"/r/new\nline", None)
        },
        change(ChangeKind::Modify, b"/r/\xff\xfe", None),
        Change {
            is_dir: true,
            ..change(ChangeKind::Delete, b"/r/gone", None)
        },
        change(ChangeKind::Rename, b"/r/b", Some(b"/r/a\xff")),
        Change {
            is_dir: true,
            ..change(ChangeKind::Rename, "/😀".as_bytes(), Some(b"/d"))
        },
        change(ChangeKind::Overflow, b"", None),
    ]
}

#[test]
fn golden_change_sets_are_what_the_encoder_writes_and_read_back_as_what_they_mean() {
    let changes = golden_changes();
    let kinds: Vec<ChangeKind> = changes.iter().map(|c| c.kind).collect();
    for kind in ChangeKind::ALL {
        assert!(kinds.contains(&kind), "the golden set has a {kind:?}");
    }
    let mut encoder = ChangesEncoder::with_capacity(0);
    for c in &changes {
        encoder.push(c);
    }
    let bytes = encoder.finish();
    assert_eq!(changes_wire::decode(&bytes).as_ref(), Some(&changes));
    check_or_update(&format!("{GOLDEN_DIR}/changes.bin"), &bytes);
    let meaning: Vec<Value> = changes
        .iter()
        .map(|c| {
            json!({
                "type": c.kind.name(),
                "path": text(&c.path),
                "oldPath": c.old_path.as_deref().map(text),
                "isDir": c.is_dir,
                "synthetic": c.synthetic,
            })
        })
        .collect();
    let about = "A set of changes the engine's encoder wrote (crates/engine/src/changes_wire.rs), \
                 and what it means. A byte string is a string when it is UTF-8, else {\"hex\": its bytes}; \
                 `oldPath` is null for none; an overflow's path is empty.";
    check_or_update(
        &format!("{GOLDEN_DIR}/changes.json"),
        &pretty(&json!({ "about": about, "file": "changes.bin", "changes": meaning })),
    );
}
