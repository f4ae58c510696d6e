//! A tree's ignore rules, matched before any watch is added: patterns with gitignore semantics
//! (globs, `**`, `!negation`, trailing `/` for directories only, a leading `/` anchoring to the
//! root), matched by the `ignore` crate per tree root, regular expressions
//! ([`crate::ignore_regex`]), and `@parcel/watcher`'s paths and expressions
//! ([`crate::ignore_parcel`]). Functions of the consumer are not here: they filter the output on the
//! consumer's thread, so the reader thread never waits for it.

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::error::Error;
use crate::ignore_parcel::ParcelRule;
use crate::ignore_regex::RegexRule;
use crate::paths::join;
use crate::tree::fs::errno_error;
use crate::tree::IgnoreRule;

/// The largest ignore file read; a larger one is refused whole, not cut.
pub const MAX_IGNORE_FILE_LEN: u64 = 1024 * 1024;

fn refused(path: &[u8], reason: &str) -> Error {
    Error::IgnoreFileRefused {
        path: path.to_vec(),
        reason: reason.to_string(),
    }
}

/// Reads the ignore file at `path` if it is a regular file: opened without following a symbolic
/// link (`O_NOFOLLOW`) and without blocking (`O_NONBLOCK`: a FIFO with no writer would block the
/// open forever), its type checked on the opened descriptor (what was checked is what is read),
/// and read to at most [`MAX_IGNORE_FILE_LEN`] bytes (`/dev/zero` never ends). `Ok(None)`: there is
/// none.
pub fn read_ignore_file(path: &[u8]) -> Result<Option<Vec<u8>>, Error> {
    let flags =
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    let fd = match rustix::fs::open(OsStr::from_bytes(path), flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(None),
        Err(Errno::LOOP) => {
            return Err(refused(path, "is a symbolic link (links are not followed)"))
        }
        Err(errno) => return Err(errno_error("open", errno, path)),
    };
    let stat = rustix::fs::fstat(&fd).map_err(|errno| errno_error("fstat", errno, path))?;
    let not_regular = match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile => None,
        FileType::Directory => Some("is a directory"),
        FileType::Fifo => Some("is a FIFO"),
        FileType::Socket => Some("is a socket"),
        FileType::CharacterDevice => Some("is a character device"),
        FileType::BlockDevice => Some("is a block device"),
        FileType::Symlink | FileType::Unknown => Some("is not a regular file"),
    };
    if let Some(what) = not_regular {
        return Err(refused(
            path,
            &format!("{what} (only a regular file is read)"),
        ));
    }
    let mut content = Vec::new();
    std::fs::File::from(fd)
        .take(MAX_IGNORE_FILE_LEN + 1)
        .read_to_end(&mut content)
        .map_err(|e| Error::Sys {
            syscall: "read",
            errno: e.raw_os_error().unwrap_or(crate::sys::EIO),
            path: Some(path.to_vec()),
        })?;
    if content.len() as u64 > MAX_IGNORE_FILE_LEN {
        return Err(refused(path, "is larger than 1 MiB"));
    }
    Ok(Some(content))
}

/// Adds the lines of an ignore file, as `GitignoreBuilder::add` would read them: a UTF-8 byte-order
/// mark at the start is dropped, a line that is not UTF-8 or not a valid pattern is skipped.
fn add_lines(builder: &mut GitignoreBuilder, from: &Path, content: &[u8]) {
    let content = content
        .strip_prefix("\u{feff}".as_bytes())
        .unwrap_or(content);
    for line in content.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Ok(line) = std::str::from_utf8(line) {
            let _ = builder.add_line(Some(PathBuf::from(from)), line);
        }
    }
}

/// The roots a rule is anchored at, each with what the rule keeps for it; the longest first, so
/// that a root nested in another is found before the outer one.
#[derive(Debug, Clone)]
pub struct Roots<T> {
    roots: Vec<(Vec<u8>, T)>,
}

impl<T> Default for Roots<T> {
    fn default() -> Self {
        Self { roots: Vec::new() }
    }
}

impl<T> Roots<T> {
    /// Adds a root.
    pub fn add(&mut self, root: &[u8], value: T) {
        self.roots.push((root.to_vec(), value));
        self.roots
            .sort_by_key(|(root, _)| std::cmp::Reverse(root.len()));
    }

    /// A root was renamed: paths below it now start with `to`.
    pub fn rename(&mut self, from: &[u8], to: &[u8]) {
        for (root, _) in self.roots.iter_mut().filter(|(root, _)| root == from) {
            *root = to.to_vec();
        }
        self.roots
            .sort_by_key(|(root, _)| std::cmp::Reverse(root.len()));
    }

    /// The innermost root `path` is (or lies under), and what is kept for it.
    pub fn find(&self, path: &[u8]) -> Option<(&[u8], &T)> {
        self.roots
            .iter()
            .find(|(root, _)| {
                path.starts_with(root)
                    && (path.len() == root.len()
                        || root.ends_with(b"/")
                        || path.get(root.len()) == Some(&b'/'))
            })
            .map(|(root, value)| (root.as_slice(), value))
    }

    /// `path` relative to its innermost root (empty for the root itself), and what is kept for it.
    pub fn relative<'p>(&self, path: &'p [u8]) -> Option<(&'p [u8], &T)> {
        let (root, value) = self.find(path)?;
        let rest = path.get(root.len()..).unwrap_or_default();
        Some((rest.strip_prefix(b"/").unwrap_or(rest), value))
    }
}

/// Gitignore-style patterns, applied relative to each root of a tree.
#[derive(Debug, Clone)]
pub struct GitignoreRule {
    patterns: Vec<String>,
    /// Also read each root's own `.gitignore` (its patterns come first; ours override them).
    read_gitignore: bool,
    roots: Roots<Gitignore>,
}

/// The matcher of one root: the content of its ignore file (if any) first, then `patterns`.
fn build(root: &[u8], patterns: &[String], file: Option<&[u8]>) -> Result<Gitignore, String> {
    let root_path = Path::new(OsStr::from_bytes(root));
    let mut builder = GitignoreBuilder::new(root_path);
    if let Some(content) = file {
        add_lines(&mut builder, &root_path.join(".gitignore"), content);
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
        build(b"/", &patterns, None)?;
        Ok(Self {
            patterns,
            read_gitignore: false,
            roots: Roots::default(),
        })
    }

    /// Also applies the `.gitignore` file at each root (read when the root is added).
    pub fn reading_gitignore(mut self, yes: bool) -> Self {
        self.read_gitignore = yes;
        self
    }
}

impl IgnoreRule for GitignoreRule {
    /// Reads the root's `.gitignore` when asked ([`read_ignore_file`]); one that cannot be read is
    /// the error, and the root goes on with the patterns alone.
    fn add_root(&mut self, root: &[u8]) -> Result<(), Error> {
        let (file, refused) = if self.read_gitignore {
            match read_ignore_file(&join(root, b".gitignore")) {
                Ok(file) => (file, None),
                Err(error) => (None, Some(error)),
            }
        } else {
            (None, None)
        };
        // The patterns were checked in `new`; a root that fails to build simply ignores nothing.
        if let Ok(matcher) = build(root, &self.patterns, file.as_deref()) {
            self.roots.add(root, matcher);
        }
        refused.map_or(Ok(()), Err)
    }

    fn move_root(&mut self, from: &[u8], to: &[u8]) {
        // The matcher stays anchored where it was built: paths are mapped back to it when matched.
        self.roots.rename(from, to);
    }

    fn is_ignored(&self, path: &[u8], is_dir: bool) -> bool {
        let Some((root, matcher)) = self.roots.find(path) else {
            return false;
        };
        if path.len() == root.len() {
            return false; // a root itself is never ignored
        }
        let anchor = matcher.path().as_os_str().as_bytes();
        let matched = if anchor == root {
            matcher.matched(Path::new(OsStr::from_bytes(path)), is_dir)
        } else {
            let mut at_anchor = anchor.to_vec();
            at_anchor.extend_from_slice(path.get(root.len()..).unwrap_or_default());
            matcher.matched(Path::new(OsStr::from_bytes(&at_anchor)), is_dir)
        };
        matched.is_ignore()
    }
}

/// Everything a tree leaves out: its gitignore patterns (and, when asked, each root's
/// `.gitignore`), its regular expressions and `@parcel/watcher`'s rules; a path any of them
/// matches is ignored.
#[derive(Debug, Clone)]
pub struct IgnoreRules {
    patterns: GitignoreRule,
    regexes: RegexRule,
    parcel: Option<ParcelRule>,
}

impl IgnoreRules {
    /// Checks the patterns and compiles the expressions; the error names what is wrong, and
    /// nothing is watched before it is known to be right.
    pub fn new(
        patterns: Vec<String>,
        regexes: &[String],
        read_gitignore: bool,
    ) -> Result<Self, String> {
        Ok(Self {
            patterns: GitignoreRule::new(patterns)?.reading_gitignore(read_gitignore),
            regexes: RegexRule::new(regexes)?,
            parcel: None,
        })
    }

    /// Also applies `@parcel/watcher`'s rules (an empty rule is left out).
    pub fn with_parcel(mut self, rule: ParcelRule) -> Self {
        self.parcel = (!rule.is_empty()).then_some(rule);
        self
    }
}

impl IgnoreRule for IgnoreRules {
    fn add_root(&mut self, root: &[u8]) -> Result<(), Error> {
        self.regexes.add_root(root)?;
        if let Some(parcel) = &mut self.parcel {
            parcel.add_root(root)?;
        }
        self.patterns.add_root(root)
    }

    fn move_root(&mut self, from: &[u8], to: &[u8]) {
        self.patterns.move_root(from, to);
        self.regexes.move_root(from, to);
        if let Some(parcel) = &mut self.parcel {
            parcel.move_root(from, to);
        }
    }

    fn is_ignored(&self, path: &[u8], is_dir: bool) -> bool {
        (!self.regexes.is_empty() && self.regexes.is_ignored(path, is_dir))
            || self
                .parcel
                .as_ref()
                .is_some_and(|parcel| parcel.is_ignored(path, is_dir))
            || self.patterns.is_ignored(path, is_dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(patterns: &[&str], root: &str) -> GitignoreRule {
        let mut rule =
            GitignoreRule::new(patterns.iter().map(|p| p.to_string()).collect()).expect("valid");
        rule.add_root(root.as_bytes()).expect("no file read");
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
    fn a_root_itself_and_a_sibling_sharing_its_prefix_are_never_ignored() {
        let r = rule(&["*"], "/proj");
        assert!(!r.is_ignored(b"/proj", true));
        assert!(!r.is_ignored(b"/projx/a", false));
        assert!(r.is_ignored(b"/proj/a", false));
    }

    #[test]
    fn roots_find_the_innermost_root_and_the_path_relative_to_it() {
        let mut roots = Roots::default();
        roots.add(b"/a", 1);
        roots.add(b"/a/b", 2);
        roots.add(b"/", 0);
        assert_eq!(roots.relative(b"/a/b/c"), Some((&b"c"[..], &2)));
        assert_eq!(roots.relative(b"/a/bc"), Some((&b"bc"[..], &1)));
        assert_eq!(roots.relative(b"/a"), Some((&b""[..], &1)));
        assert_eq!(roots.relative(b"/x/y"), Some((&b"x/y"[..], &0)));
        roots.rename(b"/a/b", b"/z");
        assert_eq!(roots.relative(b"/z/c"), Some((&b"c"[..], &2)));
        assert_eq!(roots.relative(b"/a/b/c"), Some((&b"b/c"[..], &1)));
        let mut only = Roots::default();
        only.add(b"/a", ());
        assert_eq!(only.find(b"/ab"), None);
    }

    #[test]
    fn ignore_rules_leave_out_what_a_pattern_or_an_expression_matches() {
        let mut rules = IgnoreRules::new(
            vec!["*.log".into(), "!keep.log".into()],
            &[r"^vendor\/".into(), r"\.tmp$".into()],
            false,
        )
        .expect("valid");
        rules.add_root(b"/proj").expect("no file read");
        assert!(rules.is_ignored(b"/proj/a.log", false));
        assert!(!rules.is_ignored(b"/proj/keep.log", false));
        assert!(rules.is_ignored(b"/proj/vendor/x", false));
        assert!(!rules.is_ignored(b"/proj/vendor", true));
        assert!(rules.is_ignored(b"/proj/a/b.tmp", false));
        assert!(!rules.is_ignored(b"/proj/src/main.rs", false));
        rules.move_root(b"/proj", b"/moved");
        assert!(rules.is_ignored(b"/moved/vendor/x", false));
        assert!(rules.is_ignored(b"/moved/a.log", false));
        let plain = IgnoreRules::new(Vec::new(), &[], false).expect("nothing to check");
        assert!(!plain.is_ignored(b"/proj/a.log", false));
    }

    #[test]
    fn ignore_rules_leave_out_what_parcels_rules_match_too() {
        let parcel = ParcelRule::new(
            vec![b"/proj/vendor".to_vec()],
            &[r"^(?:(a|b)\.txt)$".into()],
        )
        .expect("valid");
        let mut rules = IgnoreRules::new(vec!["*.log".into()], &[], false)
            .expect("valid")
            .with_parcel(parcel);
        rules.add_root(b"/proj").expect("no file read");
        assert!(rules.is_ignored(b"/proj/vendor/x", false));
        assert!(rules.is_ignored(b"/proj/b.txt", false));
        assert!(!rules.is_ignored(b"/proj/c.txt", false));
        assert!(rules.is_ignored(b"/proj/c.log", false));
        rules.move_root(b"/proj", b"/moved");
        assert!(rules.is_ignored(b"/moved/a.txt", false));
    }

    #[test]
    fn ignore_rules_refuse_a_bad_pattern_or_expression_by_name() {
        let glob = IgnoreRules::new(vec!["a{b".into()], &[], false).expect_err("bad glob");
        assert!(glob.contains("a{b"), "{glob}");
        let regex = IgnoreRules::new(Vec::new(), &["x(?=y)".into()], false).expect_err("lookahead");
        assert!(regex.contains("/x(?=y)/"), "{regex}");
    }

    /// `read_ignore_file` on another thread, failing the test if it does not return in time (a
    /// FIFO opened for reading without O_NONBLOCK blocks until a writer comes: forever here).
    fn read_within_deadline(path: &Path) -> Result<Option<Vec<u8>>, Error> {
        let (sender, receiver) = std::sync::mpsc::channel();
        let path = path.as_os_str().as_bytes().to_vec();
        std::thread::spawn(move || {
            let _ = sender.send(read_ignore_file(&path));
        });
        receiver
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("read_ignore_file returns")
    }

    fn refusal(result: Result<Option<Vec<u8>>, Error>) -> String {
        match result {
            Err(error @ Error::IgnoreFileRefused { .. }) => error.to_string(),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn an_ignore_file_is_read_only_when_it_is_a_regular_file_of_at_most_one_mib() {
        let temp = tempfile::tempdir().expect("temp dir");
        let at = |name: &str| temp.path().join(name);
        assert_eq!(read_within_deadline(&at("absent")), Ok(None));
        std::fs::write(at("regular"), b"a\nb\n").expect("write");
        assert_eq!(
            read_within_deadline(&at("regular")),
            Ok(Some(b"a\nb\n".to_vec()))
        );
        let limit = MAX_IGNORE_FILE_LEN as usize;
        std::fs::write(at("full"), vec![b'#'; limit]).expect("write");
        assert_eq!(
            read_within_deadline(&at("full")).map(|c| c.map(|c| c.len())),
            Ok(Some(limit))
        );
        std::fs::write(at("large"), vec![b'#'; limit + 1]).expect("write");
        assert!(refusal(read_within_deadline(&at("large"))).contains("larger than 1 MiB"));
        nix::unistd::mkfifo(&at("fifo"), nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        assert!(refusal(read_within_deadline(&at("fifo"))).contains("is a FIFO"));
        std::os::unix::fs::symlink("/dev/zero", at("zero")).expect("symlink");
        assert!(refusal(read_within_deadline(&at("zero"))).contains("symbolic link"));
        std::os::unix::fs::symlink("regular", at("link")).expect("symlink");
        assert!(refusal(read_within_deadline(&at("link"))).contains("symbolic link"));
        std::fs::create_dir(at("dir")).expect("mkdir");
        assert!(refusal(read_within_deadline(&at("dir"))).contains("is a directory"));
    }

    #[test]
    fn a_root_whose_gitignore_is_refused_reports_it_and_keeps_the_other_patterns() {
        let temp = tempfile::tempdir().expect("temp dir");
        let root = temp.path().to_str().expect("utf8").to_owned();
        std::fs::create_dir(temp.path().join(".gitignore")).expect("mkdir");
        let mut rule = GitignoreRule::new(vec!["*.tmp".into()])
            .expect("valid")
            .reading_gitignore(true);
        let error = rule.add_root(root.as_bytes()).expect_err("refused");
        assert!(
            error.to_string().contains(".gitignore is a directory"),
            "{error}"
        );
        assert!(rule.is_ignored(format!("{root}/a.tmp").as_bytes(), false));
    }

    #[test]
    fn reads_the_roots_gitignore_when_asked_and_our_patterns_override_it() {
        let temp = tempfile::tempdir().expect("temp dir");
        let root = temp.path().to_str().expect("utf8").to_owned();
        std::fs::write(
            temp.path().join(".gitignore"),
            b"\xef\xbb\xbftarget/\r\n\xff.bin\n*.tmp\n",
        )
        .expect("write");
        let mut rule = GitignoreRule::new(vec!["!keep.tmp".into()])
            .expect("valid")
            .reading_gitignore(true);
        rule.add_root(root.as_bytes()).expect("a regular file");
        assert!(rule.is_ignored(format!("{root}/target").as_bytes(), true));
        assert!(rule.is_ignored(format!("{root}/a.tmp").as_bytes(), false));
        assert!(!rule.is_ignored(format!("{root}/keep.tmp").as_bytes(), false));
        let mut plain = GitignoreRule::new(Vec::new()).expect("valid");
        plain.add_root(root.as_bytes()).expect("not read");
        assert!(!plain.is_ignored(format!("{root}/a.tmp").as_bytes(), false));
    }
}
