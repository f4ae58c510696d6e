//! `@parcel/watcher`'s ignore rules, as its C++ core applies what its `index.js` made of the
//! user's `ignore`: absolute paths, each leaving out itself and everything below it, and regular
//! expressions (picomatch's output for globs, wrapped RegExp sources), each matched whole, byte by
//! byte ([`ByteRegex`]), against the path relative to the root it lies under. A path outside every
//! root is judged by the paths alone, as there.

use crate::byte_regex::{ByteRegex, ByteText};
use crate::ignore_rules::Roots;
use crate::tree::IgnoreRule;

/// `@parcel/watcher`'s `ignorePaths` and `ignoreGlobs`, applied relative to each root of a tree.
#[derive(Debug, Clone)]
pub struct ParcelRule {
    paths: Vec<Vec<u8>>,
    globs: Vec<ByteRegex>,
    roots: Roots<()>,
}

impl ParcelRule {
    /// Compiles every expression; the error names the first that cannot be compiled, and why.
    pub fn new(paths: Vec<Vec<u8>>, globs: &[String]) -> Result<Self, String> {
        let globs = globs
            .iter()
            .map(|source| {
                ByteRegex::new(source).map_err(|reason| {
                    format!("the ignore expression /{source}/ cannot be compiled: {reason}")
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            paths,
            globs,
            roots: Roots::default(),
        })
    }

    /// Whether there is no rule at all (nothing is ever ignored).
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty() && self.globs.is_empty()
    }

    /// Whether `path` is one of the paths or lies below one.
    fn under_a_path(&self, path: &[u8]) -> bool {
        self.paths.iter().any(|ignored| {
            path.strip_prefix(ignored.as_slice())
                .is_some_and(|rest| rest.is_empty() || rest.first() == Some(&b'/'))
        })
    }
}

impl IgnoreRule for ParcelRule {
    fn add_root(&mut self, root: &[u8]) -> Result<(), crate::Error> {
        self.roots.add(root, ());
        Ok(())
    }

    fn move_root(&mut self, from: &[u8], to: &[u8]) {
        self.roots.rename(from, to);
    }

    fn is_ignored(&self, path: &[u8], _is_dir: bool) -> bool {
        if self.under_a_path(path) {
            return true;
        }
        match self.roots.relative(path) {
            Some((relative, ())) if !relative.is_empty() && !self.globs.is_empty() => {
                let text = ByteText::new(relative);
                self.globs.iter().any(|glob| glob.matches_whole(&text))
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(paths: &[&str], globs: &[&str], root: &str) -> ParcelRule {
        let paths = paths.iter().map(|p| p.as_bytes().to_vec()).collect();
        let globs: Vec<String> = globs.iter().map(|g| g.to_string()).collect();
        let mut rule = ParcelRule::new(paths, &globs).expect("valid");
        rule.add_root(root.as_bytes()).expect("nothing to read");
        rule
    }

    #[test]
    fn a_path_leaves_out_itself_and_what_lies_below_it_but_not_a_sibling_sharing_its_prefix() {
        let r = rule(&["/proj/src", "/elsewhere"], &[], "/proj");
        assert!(r.is_ignored(b"/proj/src", true));
        assert!(r.is_ignored(b"/proj/src/a/b.txt", false));
        assert!(!r.is_ignored(b"/proj/srcx", false));
        assert!(!r.is_ignored(b"/proj/a/src", true));
        assert!(
            r.is_ignored(b"/elsewhere/x", false),
            "paths hold outside the root too"
        );
        let all = rule(&["/proj"], &[], "/proj");
        assert!(
            all.is_ignored(b"/proj/anything", false),
            "the root as a path: all below it"
        );
    }

    #[test]
    fn an_expression_must_match_all_of_the_path_relative_to_the_root() {
        // picomatch's output for `*.txt` (with `dot: true`).
        let star = r"^(?:(?!(?:^|\/)\.{1,2}(?:\/|$))(?=.)[^/]*?\.txt\/?)$";
        let r = rule(&[], &[star, r"^[\s\S]*(?:^src$)[\s\S]*$"], "/proj");
        assert!(r.is_ignored(b"/proj/a.txt", false));
        assert!(r.is_ignored(b"/proj/.txt", false));
        assert!(
            !r.is_ignored(b"/proj/sub/a.txt", false),
            "* stops at a slash"
        );
        assert!(r.is_ignored(b"/proj/src", true));
        assert!(!r.is_ignored(b"/proj/src/a.js", false));
        assert!(
            !r.is_ignored(b"/proj", true),
            "a root is never matched by an expression"
        );
        assert!(
            !r.is_ignored(b"/other/a.txt", false),
            "nor is a path outside every root"
        );
    }

    #[test]
    fn follows_a_renamed_root_for_expressions_and_keeps_paths_as_they_were_given() {
        let mut r = rule(&["/proj/build"], &[r"^[\s\S]*(?:^lib\/)[\s\S]*$"], "/proj");
        r.move_root(b"/proj", b"/moved");
        assert!(r.is_ignored(b"/moved/lib/x", false));
        assert!(!r.is_ignored(b"/moved/build", true));
    }

    #[test]
    fn refuses_an_expression_that_does_not_compile_by_name() {
        let error = ParcelRule::new(Vec::new(), &["ok".into(), "a(".into()]).expect_err("bad");
        assert!(error.contains("/a(/"), "{error}");
        assert!(ParcelRule::new(Vec::new(), &[]).expect("empty").is_empty());
    }
}
