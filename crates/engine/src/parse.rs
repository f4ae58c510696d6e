//! Parsing what `read(2)` on an inotify descriptor returns: a run of `struct inotify_event` records,
//! each a 16-byte header (`wd`, `mask`, `cookie`, `len`, native endian) and `len` bytes of name padded
//! with NULs. The records are not aligned for us to cast, so every field is read from bytes.
//! See inotify(7), "Reading events from an inotify file descriptor".

use crate::event::RawEvent;

/// Size of the fixed part of `struct inotify_event`.
pub const HEADER_LEN: usize = 16;

/// Iterates the records in `buf`. Stops at the first record that is not whole; [`Events::leftover`]
/// then tells how many bytes were not parsed (the kernel only returns whole records, so a leftover
/// means the buffer was not a kernel buffer).
pub fn parse_events(buf: &[u8]) -> Events<'_> {
    Events { buf, offset: 0 }
}

/// Iterator over the records of one read.
#[derive(Debug, Clone)]
pub struct Events<'a> {
    buf: &'a [u8],
    offset: usize,
}

impl Events<'_> {
    /// Bytes not yet parsed: 0 once the iterator has consumed a well-formed buffer.
    pub fn leftover(&self) -> usize {
        self.buf.len() - self.offset
    }
}

fn field(bytes: &[u8], at: usize) -> [u8; 4] {
    let mut out = [0u8; 4];
    out.copy_from_slice(&bytes[at..at + 4]);
    out
}

impl<'a> Iterator for Events<'a> {
    type Item = RawEvent<'a>;

    fn next(&mut self) -> Option<RawEvent<'a>> {
        let rest = &self.buf[self.offset..];
        let header = rest.get(..HEADER_LEN)?;
        let len = u32::from_ne_bytes(field(header, 12));
        let end = HEADER_LEN.checked_add(usize::try_from(len).ok()?)?;
        let padded = rest.get(HEADER_LEN..end)?;
        let name_len = padded.iter().position(|&b| b == 0).unwrap_or(padded.len());
        self.offset += end;
        Some(RawEvent {
            wd: i32::from_ne_bytes(field(header, 0)),
            mask: u32::from_ne_bytes(field(header, 4)),
            cookie: u32::from_ne_bytes(field(header, 8)),
            len,
            name: &padded[..name_len],
        })
    }
}

/// Builds kernel-format records, for tests here and in other crates' tests.
pub fn encode_record(out: &mut Vec<u8>, wd: i32, mask: u32, cookie: u32, name: &[u8]) {
    // The kernel pads the name with at least one NUL up to a multiple of the header size.
    let len = if name.is_empty() {
        0
    } else {
        (name.len() + 1).div_ceil(HEADER_LEN) * HEADER_LEN
    };
    out.extend_from_slice(&wd.to_ne_bytes());
    out.extend_from_slice(&mask.to_ne_bytes());
    out.extend_from_slice(&cookie.to_ne_bytes());
    out.extend_from_slice(&(len as u32).to_ne_bytes());
    out.extend_from_slice(name);
    out.resize(out.len() + len - name.len(), 0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::*;

    #[test]
    fn parses_events_with_and_without_names() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 1, IN_CREATE, 0, b"aa");
        encode_record(&mut buf, 1, IN_DELETE_SELF, 0, b"");
        let mut events = parse_events(&buf);
        let first = events.next().expect("first record");
        assert_eq!(
            (first.wd, first.mask, first.len, first.name),
            (1, IN_CREATE, 16, &b"aa"[..])
        );
        let second = events.next().expect("second record");
        assert_eq!(
            (second.mask, second.len, second.name),
            (IN_DELETE_SELF, 0, &b""[..])
        );
        assert!(events.next().is_none());
        assert_eq!(events.leftover(), 0);
    }

    #[test]
    fn parses_the_overflow_record_with_wd_minus_one() {
        let mut buf = Vec::new();
        encode_record(&mut buf, -1, IN_Q_OVERFLOW, 0, b"");
        let event = parse_events(&buf).next().expect("overflow record");
        assert_eq!(
            (event.wd, event.mask, event.name),
            (-1, IN_Q_OVERFLOW, &b""[..])
        );
    }

    #[test]
    fn keeps_move_cookies_and_non_utf8_names() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 3, IN_MOVED_FROM, 77, b"caf\xe9");
        encode_record(&mut buf, 3, IN_MOVED_TO, 77, "日本語".as_bytes());
        let events: Vec<_> = parse_events(&buf).collect();
        assert_eq!(events[0].cookie, 77);
        assert_eq!(events[0].name, b"caf\xe9");
        assert_eq!(events[1].name, "日本語".as_bytes());
    }

    #[test]
    fn a_name_that_fills_its_padding_exactly_ends_at_the_buffer_end() {
        // A 15-byte name plus NUL is exactly 16 bytes: the record ends on the buffer's last byte.
        let mut buf = Vec::new();
        encode_record(&mut buf, 2, IN_CREATE, 0, b"fifteen-chars!!");
        assert_eq!(buf.len(), HEADER_LEN + 16);
        let event = parse_events(&buf).next().expect("record at the boundary");
        assert_eq!(event.name, b"fifteen-chars!!");
        // A name with no NUL at all (len bytes of name) is still read to the end of its field.
        let mut raw = Vec::new();
        raw.extend_from_slice(&2i32.to_ne_bytes());
        raw.extend_from_slice(&IN_CREATE.to_ne_bytes());
        raw.extend_from_slice(&0u32.to_ne_bytes());
        raw.extend_from_slice(&4u32.to_ne_bytes());
        raw.extend_from_slice(b"abcd");
        assert_eq!(
            parse_events(&raw).next().map(|e| e.name),
            Some(&b"abcd"[..])
        );
    }

    #[test]
    fn a_255_byte_name_parses_whole() {
        let name = vec![b'x'; 255];
        let mut buf = Vec::new();
        encode_record(&mut buf, 1, IN_CREATE, 0, &name);
        let event = parse_events(&buf).next().expect("long name");
        assert_eq!(event.name.len(), 255);
        assert_eq!(event.len, 256);
    }

    #[test]
    fn stops_at_a_truncated_record_without_reading_past_the_end() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 1, IN_CREATE, 0, b"whole");
        encode_record(&mut buf, 1, IN_CREATE, 0, b"cut-short");
        for cut in 1..=(HEADER_LEN + 16) {
            let truncated = &buf[..buf.len() - cut];
            let mut events = parse_events(truncated);
            let parsed: Vec<_> = events.by_ref().collect();
            assert_eq!(parsed.len(), 1, "cut {cut}");
            assert_eq!(events.leftover(), truncated.len() - (HEADER_LEN + 16));
        }
        let mut huge_len = Vec::new();
        huge_len.extend_from_slice(&[0u8; 12]);
        huge_len.extend_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(parse_events(&huge_len).count(), 0);
    }
}

/// Properties over arbitrary bytes: the parser never panics, never reads past the buffer, and
/// accounts for every byte. Failing cases are kept in `proptest-regressions/parse.txt`.
#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    fn record() -> impl Strategy<Value = (i32, u32, u32, Vec<u8>)> {
        let name = proptest::collection::vec(1u8..=255, 0..=255);
        (any::<i32>(), any::<u32>(), any::<u32>(), name)
    }

    /// Random bytes, or runs of headers whose `len` is small (so that records parse) followed by
    /// payloads of any length (so that `len` and what follows disagree).
    fn buffer() -> impl Strategy<Value = Vec<u8>> {
        let chunk = (
            any::<[u8; 12]>(),
            0u32..80,
            proptest::collection::vec(any::<u8>(), 0..80),
        )
            .prop_map(|(head, len, payload)| {
                let mut chunk = head.to_vec();
                chunk.extend_from_slice(&len.to_ne_bytes());
                chunk.extend_from_slice(&payload);
                chunk
            });
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..2048),
            proptest::collection::vec(chunk, 0..32).prop_map(|chunks| chunks.concat()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: crate::props_cases(256),
            ..ProptestConfig::default()
        })]

        #[test]
        fn arbitrary_bytes_parse_without_panic_and_every_byte_is_accounted_for(
            buf in buffer(),
        ) {
            let mut events = parse_events(&buf);
            let mut consumed = 0usize;
            for event in events.by_ref() {
                let record_len = HEADER_LEN + event.len as usize;
                prop_assert!(event.name.len() <= event.len as usize);
                prop_assert!(!event.name.contains(&0));
                consumed += record_len;
                prop_assert!(consumed <= buf.len());
            }
            prop_assert_eq!(consumed + events.leftover(), buf.len());
            // What is left is never a whole record: a header that does not fit, or a name that runs
            // past the end.
            let rest = &buf[consumed..];
            let stopped_on_a_part = rest.len() < HEADER_LEN
                || HEADER_LEN + u32::from_ne_bytes(field(rest, 12)) as usize > rest.len();
            prop_assert!(stopped_on_a_part);
        }

        #[test]
        fn kernel_records_round_trip_and_a_cut_anywhere_loses_only_the_cut_record(
            records in proptest::collection::vec(record(), 0..24),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut buf = Vec::new();
            let mut ends = Vec::new();
            for (wd, mask, cookie, name) in &records {
                encode_record(&mut buf, *wd, *mask, *cookie, name);
                ends.push(buf.len());
            }
            let parsed: Vec<_> = parse_events(&buf).collect();
            prop_assert_eq!(parsed.len(), records.len());
            for (event, (wd, mask, cookie, name)) in parsed.iter().zip(&records) {
                prop_assert_eq!((event.wd, event.mask, event.cookie, event.name), (*wd, *mask, *cookie, &name[..]));
            }
            let at = if buf.is_empty() { 0 } else { cut.index(buf.len()) };
            let whole = ends.iter().filter(|&&end| end <= at).count();
            let mut truncated = parse_events(&buf[..at]);
            prop_assert_eq!(truncated.by_ref().count(), whole);
            prop_assert_eq!(truncated.leftover(), at - ends.get(whole.wrapping_sub(1)).copied().unwrap_or(0));
        }
    }
}
