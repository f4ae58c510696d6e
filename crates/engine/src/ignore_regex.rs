//! Ignore rules written as regular expressions: the `source` of a JS `RegExp`, compiled by the
//! `regex` crate and matched, as `@parcel/watcher` matches them, against the path relative to the
//! root it lies under (`src/x.log` under the root `/proj`), with `RegExp.prototype.test`'s
//! semantics: a match anywhere in that path ignores it (anchor with `^` and `$` to say otherwise).
//!
//! The `regex` crate runs in time linear in the path, so no pattern can stall the reader thread; the
//! price is that it has no look-around and no backreferences, and a source that uses them is
//! refused when the rule is made, before anything is watched.

use regex::bytes::{Regex, RegexSet};

use crate::ignore_rules::Roots;
use crate::tree::IgnoreRule;

/// Regular expressions, applied relative to each root of a tree.
#[derive(Debug, Clone)]
pub struct RegexRule {
    set: RegexSet,
    roots: Roots<()>,
}

/// The one-line reason the `regex` crate gives (its message also draws the pattern and a caret).
fn reason(error: &regex::Error) -> String {
    let text = error.to_string();
    let last = text.lines().last().unwrap_or_default().trim();
    last.strip_prefix("error: ").unwrap_or(last).to_string()
}

impl RegexRule {
    /// Compiles every source; the error names the first that cannot be compiled, and why.
    pub fn new(sources: &[String]) -> Result<Self, String> {
        for source in sources {
            Regex::new(source).map_err(|error| {
                format!(
                    "the ignore RegExp /{source}/ cannot be compiled by the native matcher \
                     (Rust's regex crate, which has no look-around and no backreferences): {}",
                    reason(&error)
                )
            })?;
        }
        let set = RegexSet::new(sources).map_err(|error| reason(&error))?;
        Ok(Self {
            set,
            roots: Roots::default(),
        })
    }

    /// Whether there is no expression at all (nothing is ever ignored).
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

impl IgnoreRule for RegexRule {
    fn add_root(&mut self, root: &[u8]) -> Result<(), crate::Error> {
        self.roots.add(root, ());
        Ok(())
    }

    fn move_root(&mut self, from: &[u8], to: &[u8]) {
        self.roots.rename(from, to);
    }

    fn is_ignored(&self, path: &[u8], _is_dir: bool) -> bool {
        match self.roots.relative(path) {
            Some((relative, ())) if !relative.is_empty() => self.set.is_match(relative),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(sources: &[&str], roots: &[&str]) -> RegexRule {
        let sources: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
        let mut rule = RegexRule::new(&sources).expect("valid");
        for root in roots {
            rule.add_root(root.as_bytes()).expect("nothing to read");
        }
        rule
    }

    #[test]
    fn matches_anywhere_in_the_path_relative_to_the_root_as_regexp_test_does() {
        let r = rule(&[r"node_modules", r"\.log$", r"^build\/"], &["/proj"]);
        assert!(r.is_ignored(b"/proj/node_modules", true));
        assert!(r.is_ignored(b"/proj/a/node_modules/x", false));
        assert!(r.is_ignored(b"/proj/a/b.log", false));
        assert!(r.is_ignored(b"/proj/build/x", false));
        assert!(
            !r.is_ignored(b"/proj/build", true),
            "`^build\\/` needs the slash"
        );
        assert!(
            !r.is_ignored(b"/proj/a/build/x", false),
            "^ anchors at the start of the relative path"
        );
        assert!(!r.is_ignored(b"/proj/src/main.rs", false));
    }

    #[test]
    fn never_judges_a_root_itself_nor_a_path_outside_every_root() {
        let r = rule(&["proj", "(?:)"], &["/srv/proj"]);
        assert!(!r.is_ignored(b"/srv/proj", true));
        assert!(!r.is_ignored(b"/srv/other/x", false));
        assert!(
            !r.is_ignored(b"/srv/projx/y", false),
            "a sibling that shares a prefix is outside"
        );
        assert!(
            r.is_ignored(b"/srv/proj/x", false),
            "(?:) matches every path"
        );
    }

    #[test]
    fn matches_relative_to_the_innermost_root_and_follows_a_renamed_root() {
        let mut r = rule(&[r"^inner\/"], &["/a", "/a/b"]);
        assert!(r.is_ignored(b"/a/inner/x", false));
        assert!(
            !r.is_ignored(b"/a/b/c", false),
            "relative to /a/b, the path is `c`"
        );
        assert!(r.is_ignored(b"/a/b/inner/x", false));
        r.move_root(b"/a/b", b"/a/renamed");
        assert!(r.is_ignored(b"/a/renamed/inner/x", false));
        let slash = rule(&[r"^etc\/"], &["/"]);
        assert!(slash.is_ignored(b"/etc/passwd", false));
        assert!(!slash.is_ignored(b"/usr/etc/x", false));
    }

    #[test]
    fn matches_names_that_are_not_utf8() {
        let r = rule(&[r"\.bin$"], &["/proj"]);
        assert!(r.is_ignored(b"/proj/\xff\xfe.bin", false));
        assert!(!r.is_ignored(b"/proj/\xff\xfe.txt", false));
    }

    #[test]
    fn takes_what_javascript_writes_in_a_source() {
        // `RegExp.prototype.source` escapes every `/`; named groups and `\u` escapes are common.
        let r = rule(&[r"a\/b", r"(?<name>x)y", r"\u0041\-z", r"(?:)"], &["/p"]);
        assert!(!r.is_empty());
        assert!(r.is_ignored(b"/p/a/b", false));
    }

    #[test]
    fn refuses_look_around_and_backreferences_naming_the_source_and_the_reason() {
        for (source, why) in [
            (r"(?<=a)b", "look-around"),
            (r"a(?!b)", "look-around"),
            (r"(a)\1", "backreferences"),
        ] {
            let error = RegexRule::new(&["ok".into(), source.into()]).expect_err(source);
            assert!(error.contains(&format!("/{source}/")), "{error}");
            assert!(error.contains(why), "{error}");
            assert!(!error.contains('\n'), "one line: {error}");
        }
    }
}
