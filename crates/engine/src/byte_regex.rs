//! ECMAScript regular expressions matched over bytes, as `@parcel/watcher` matches its ignore
//! expressions: its C++ core hands the UTF-8 of a JavaScript source to `std::regex` (ECMAScript
//! grammar) over `char`, so a pattern and a path are both read one byte at a time: `.` or `[^/]`
//! is one byte, and `é` (two bytes) needs two of them.
//!
//! The engine is `regress` (ECMAScript syntax and semantics, look-around included), fed code
//! units instead of characters: an ASCII byte is itself, a byte from 0x80 up is a private-use
//! code point of its own (U+E080..U+E0FF), in the pattern and in the path alike. So `\s`, `\w`,
//! `\d` and `\b` never take a non-ASCII byte for a space, a letter or a digit (as `std::regex`
//! in the C locale does not), and a non-ASCII character written in a pattern matches its bytes.
//! A byte written as an escape from `\x80` (`\u0080`) to `\xFF` is mapped the same way.
//!
//! `regress` backtracks, as `std::regex` and JavaScript do: a pattern written to backtrack
//! without end (`(a+)+$`) stalls whoever matches it, there as here.

use regress::{Flags, Regex};

/// The first of the code units that stand for the bytes 0x80..=0xFF.
const HIGH_BYTES: u32 = 0xE000;

/// The code unit that stands for `byte`.
fn unit(byte: u8) -> u32 {
    if byte < 0x80 {
        u32::from(byte)
    } else {
        HIGH_BYTES + u32::from(byte)
    }
}

/// The value of `digits` hexadecimal ASCII digits at the start of `bytes`, if they are all there.
fn hex(bytes: &[u8], digits: usize) -> Option<u32> {
    let text = std::str::from_utf8(bytes.get(..digits)?).ok()?;
    if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(text, 16).ok()
}

/// The pattern as code units: its bytes mapped by [`unit`], and each escape of a byte from 0x80 up
/// (`\xHH`, `\u00HH`) rewritten as the escape of that byte's code unit (`\uE0HH`).
fn pattern_units(source: &[u8]) -> Vec<u32> {
    let mut units = Vec::with_capacity(source.len());
    let mut i = 0;
    while let Some(&byte) = source.get(i) {
        if byte != b'\\' {
            units.push(unit(byte));
            i += 1;
            continue;
        }
        let rest = source.get(i + 2..).unwrap_or_default();
        let escaped = match source.get(i + 1) {
            Some(b'x') => hex(rest, 2).map(|value| (value, 4)),
            Some(b'u') => hex(rest, 4).map(|value| (value, 6)),
            _ => None,
        };
        match escaped {
            Some((value, len)) if (0x80..=0xFF).contains(&value) => {
                let code = format!("\\u{:04X}", HIGH_BYTES + value);
                units.extend(code.bytes().map(u32::from));
                i += len;
            }
            _ => {
                // Any other escape is kept as written, with the character it escapes (so that `\\x80`
                // stays a backslash and the text `x80`).
                units.push(u32::from(byte));
                if let Some(&next) = source.get(i + 1) {
                    units.push(unit(next));
                }
                i += 2;
            }
        }
    }
    units
}

/// A regular expression matched whole against bytes (`std::regex_match`'s semantics).
#[derive(Debug, Clone)]
pub struct ByteRegex {
    whole: Regex,
}

impl ByteRegex {
    /// Compiles `source` (ECMAScript syntax, no flags); the error is `regress`'s reason.
    pub fn new(source: &str) -> Result<Self, String> {
        let units = pattern_units(source.as_bytes());
        // Checked alone first: wrapped, an unbalanced `)` could close the wrapping group instead.
        Regex::from_unicode(units.iter().copied(), Flags::default()).map_err(|e| e.to_string())?;
        let wrapped: Vec<u32> = "^(?:"
            .bytes()
            .map(u32::from)
            .chain(units)
            .chain(")$".bytes().map(u32::from))
            .collect();
        let whole = Regex::from_unicode(wrapped.into_iter(), Flags::default())
            .map_err(|e| e.to_string())?;
        Ok(Self { whole })
    }

    /// Whether the expression matches all of `text`.
    pub fn matches_whole(&self, text: &ByteText) -> bool {
        self.whole.find_from_ucs2(&text.units, 0).next().is_some()
    }
}

/// Bytes as the code units [`ByteRegex`] reads: made once, matched by any number of expressions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByteText {
    units: Vec<u16>,
}

impl ByteText {
    /// The code units of `bytes`.
    pub fn new(bytes: &[u8]) -> Self {
        // Every unit fits in 16 bits: ASCII, or U+E080..U+E0FF.
        let units = bytes
            .iter()
            .map(|&b| u16::try_from(unit(b)).unwrap_or(u16::MAX))
            .collect();
        Self { units }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(source: &str, text: &str) -> bool {
        ByteRegex::new(source)
            .expect("compiles")
            .matches_whole(&ByteText::new(text.as_bytes()))
    }

    #[test]
    fn matches_the_whole_text_trying_every_alternative() {
        assert!(
            whole("a|ab", "ab"),
            "regex_match takes the alternative that spans all"
        );
        assert!(!whole("a", "ab"));
        assert!(!whole("b", "ab"));
        assert!(whole(r"^[\s\S]*(?:b)[\s\S]*$", "abc"));
        assert!(whole("zzz|", ""));
        assert!(!whole("zzz|", "a"));
    }

    #[test]
    fn reads_pattern_and_text_one_byte_at_a_time() {
        assert!(!whole(r"^.\.md$", "é.md"), "é is two bytes");
        assert!(whole(r"^..\.md$", "é.md"));
        assert!(whole(r"a[^/]{2}c", "aéc"));
        assert!(
            whole("é", "é"),
            "a character written in the pattern is its bytes"
        );
        assert!(whole("[é]+", "é"));
        assert!(whole(r"\xC3\xA9", "é"), "escapes of bytes from 0x80 up");
        assert!(whole(r"\u00c3\u00A9", "é"));
        assert!(
            !whole(r"\\xC3\\xA9", "é"),
            "an escaped backslash is a backslash"
        );
        assert!(whole(r"\\xC3", r"\xC3"));
    }

    #[test]
    fn never_takes_a_non_ascii_byte_for_a_space_a_letter_or_a_digit() {
        // à is C3 A0: JavaScript's \s holds U+00A0, the C locale's isspace() does not hold 0xA0.
        assert!(!whole(r"[\s\S]*\s[\s\S]*", "à"));
        assert!(whole(r"\S\S", "à"));
        assert!(!whole(r"\w+", "é"));
        assert!(!whole(r"\d", "\u{663}"));
        assert!(whole(r"[\s\S]*\bb\b[\s\S]*", "a(b).txt"));
        assert!(
            whole(r"[\s\S]*\bb\b[\s\S]*", "ébé"),
            "é is no word character, so \\b holds"
        );
    }

    #[test]
    fn has_look_around_backreferences_and_named_groups() {
        assert!(whole(r"^(?!src).*\.txt$", "a.txt"));
        assert!(!whole(r"^(?!src).*\.txt$", "src/a.txt"));
        assert!(whole(r"[\s\S]*(?<!\.)js", "bjs"));
        assert!(!whole(r"[\s\S]*(?<!\.)js", "b.js"));
        assert!(whole(r"[\s\S]*(?<=\.)js", "b.js"));
        assert!(whole(r"(a)\1", "aa"));
        assert!(whole(r"(?<name>foo)\/x", "foo/x"));
        assert!(!whole(".", "\n"), ". is no line terminator");
    }

    #[test]
    fn reads_javascript_sources_as_javascript_does() {
        // RegExp#source escapes `/`; without the u flag, `\p` is a `p` and a lone `]` or `{` itself.
        assert!(whole(r"a\/b", "a/b"));
        assert!(whole(r"\p{L}", "p{L}"));
        assert!(whole(r"]", "]"));
        assert!(whole(r"a{", "a{"));
        // The rest of JavaScript's web-compatibility grammar (Annex B), which RegExp takes.
        for source in [
            r"[\b]", r"\k", r"a{1,2", r"[^]", r"\8", r"(?=a)*", r"\c1", r"[a-\d]", r"}",
        ] {
            assert!(ByteRegex::new(source).is_ok(), "{source}");
        }
    }

    #[test]
    fn refuses_what_is_no_regular_expression() {
        for source in ["(", "a)", "[b", "*", "a)|(b"] {
            assert!(ByteRegex::new(source).is_err(), "{source}");
        }
    }

    #[test]
    fn matches_names_that_are_not_utf8() {
        let r = ByteRegex::new(r"[\s\S]*\.bin").expect("compiles");
        assert!(r.matches_whole(&ByteText::new(b"\xff\xfe.bin")));
        let r = ByteRegex::new(r"\xFF.").expect("compiles");
        assert!(r.matches_whole(&ByteText::new(b"\xff\xfe")));
    }
}
