//! Ignore patterns with gitignore semantics (globs, `**`, `!negation`, trailing `/` for directories
//! only, a leading `/` anchoring to the root), matched by the `ignore` crate per tree root.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::tree::IgnoreRule;

/// Gitignore-style patterns, applied relative to each root of a tree.
#[derive(Debug, Clone)]
pub struct GitignoreRule {
    patterns: Vec<String>,
    /// Also read each root's own `.gitignore` (its patterns come first; ours override them).
    read_gitignore: bool,
    roots: Vec<(Vec<u8>, Gitignore)>,
}

fn build(root: &[u8], patterns: &[String], read_gitignore: bool) -> Result<Gitignore, String> {
    let root = Path::new(OsStr::from_bytes(root));
    let mut builder = GitignoreBuilder::new(root);
    if read_gitignore {
        // A root without a .gitignore (or with an unreadable one) adds nothing; a bad line in it
        // is skipped by the parser, the rest applies.
        let _ = builder.add(root.join(".gitignore"));
    }
    for pattern in patterns {
        builder
            .add_line(None, pattern)
            .map_err(|e| format!("invalid ignore pattern {pattern:?}: {e}"))?;
    }
    builder.build().map_err(|e| e.to_string())
}

impl GitignoreRule {
    /// Checks the patterns (every one must be a valid glob) and keeps them for the roots to come.
    pub fn new(patterns: Vec<String>) -> Result<Self, String> {
        build(b"/", &patterns, false)?;
        Ok(Self {
            patterns,
            read_gitignore: false,
            roots: Vec::new(),
        })
    }

    /// Also applies the `.gitignore` file at each root (read when the root is added).
    pub fn reading_gitignore(mut self, yes: bool) -> Self {
        self.read_gitignore = yes;
        self
    }
}

impl IgnoreRule for GitignoreRule {
    fn add_root(&mut self, root: &[u8]) {
        // The patterns were checked in `new`; a root that fails to build simply ignores nothing.
        if let Ok(matcher) = build(root, &self.patterns, self.read_gitignore) {
            self.roots.push((root.to_vec(), matcher));
            // Longest root first, so a root nested in another uses its own anchoring.
            self.roots
                .sort_by_key(|(root, _)| std::cmp::Reverse(root.len()));
        }
    }

    fn move_root(&mut self, from: &[u8], to: &[u8]) {
        // The matcher stays anchored where it was built: paths are mapped back to it when matched.
        for (root, _) in self.roots.iter_mut().filter(|(root, _)| root == from) {
            *root = to.to_vec();
        }
        self.roots
            .sort_by_key(|(root, _)| std::cmp::Reverse(root.len()));
    }

    fn is_ignored(&self, path: &[u8], is_dir: bool) -> bool {
        let Some((root, matcher)) = self.roots.iter().find(|(root, _)| {
            path.starts_with(root) && (root.ends_with(b"/") || path.get(root.len()) == Some(&b'/'))
        }) else {
            return false;
        };
        let anchor = matcher.path().as_os_str().as_bytes();
        let matched = if anchor == root.as_slice() {
            matcher.matched(Path::new(OsStr::from_bytes(path)), is_dir)
        } else {
            let mut at_anchor = anchor.to_vec();
            at_anchor.extend_from_slice(path.get(root.len()..).unwrap_or_default());
            matcher.matched(Path::new(OsStr::from_bytes(&at_anchor)), is_dir)
        };
        matched.is_ignore()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(patterns: &[&str], root: &str) -> GitignoreRule {
        let mut rule =
            GitignoreRule::new(patterns.iter().map(|p| p.to_string()).collect()).expect("valid");
        rule.add_root(root.as_bytes());
        rule
    }

    #[test]
    fn matches_gitignore_globs_relative_to_the_root() {
        let r = rule(&["node_modules", "*.log", "/build", "dist/"], "/proj");
        assert!(r.is_ignored(b"/proj/node_modules", true));
        assert!(r.is_ignored(b"/proj/a/node_modules", true));
        assert!(r.is_ignored(b"/proj/a/x.log", false));
        assert!(r.is_ignored(b"/proj/build", true));
        assert!(
            !r.is_ignored(b"/proj/a/build", true),
            "a leading / anchors to the root"
        );
        assert!(r.is_ignored(b"/proj/dist", true));
        assert!(
            !r.is_ignored(b"/proj/dist", false),
            "a trailing / matches directories only"
        );
        assert!(!r.is_ignored(b"/proj/src/main.rs", false));
        assert!(
            !r.is_ignored(b"/elsewhere/x.log", false),
            "paths outside every root are kept"
        );
    }

    #[test]
    fn negation_re_includes_what_an_earlier_pattern_excluded() {
        let r = rule(&["*.log", "!keep.log"], "/proj");
        assert!(r.is_ignored(b"/proj/a.log", false));
        assert!(!r.is_ignored(b"/proj/keep.log", false));
        assert!(!r.is_ignored(b"/proj/sub/keep.log", false));
    }

    #[test]
    fn rejects_an_invalid_glob() {
        let error = GitignoreRule::new(vec!["a{b".into()]).expect_err("unclosed alternation");
        assert!(error.contains("a{b"), "{error}");
    }

    #[test]
    fn reads_the_roots_gitignore_when_asked_and_our_patterns_override_it() {
        let temp = tempfile::tempdir().expect("temp dir");
        let root = temp.path().to_str().expect("utf8").to_owned();
        std::fs::write(temp.path().join(".gitignore"), "target/\n*.tmp\n").expect("write");
        let mut rule = GitignoreRule::new(vec!["!keep.tmp".into()])
            .expect("valid")
            .reading_gitignore(true);
        rule.add_root(root.as_bytes());
        assert!(rule.is_ignored(format!("{root}/target").as_bytes(), true));
        assert!(rule.is_ignored(format!("{root}/a.tmp").as_bytes(), false));
        assert!(!rule.is_ignored(format!("{root}/keep.tmp").as_bytes(), false));
        let mut plain = GitignoreRule::new(Vec::new()).expect("valid");
        plain.add_root(root.as_bytes());
        assert!(!plain.is_ignored(format!("{root}/a.tmp").as_bytes(), false));
    }
}
