//! Paths as bytes: how the engine names what is below a directory. A root may be `/` itself, so
//! nothing here assumes a directory's path does not end in a slash.

/// `dir/name`, without doubling a trailing slash (`/` and `x` give `/x`).
pub fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut path = Vec::with_capacity(dir.len() + 1 + name.len());
    path.extend_from_slice(dir);
    if !dir.ends_with(b"/") {
        path.push(b'/');
    }
    path.extend_from_slice(name);
    path
}

/// Whether `path` is strictly below `dir` (`/a/b` is below `/a` and `/`; `/ab` is not below `/a`).
pub fn is_below(path: &[u8], dir: &[u8]) -> bool {
    let Some(rest) = path.strip_prefix(dir) else {
        return false;
    };
    if dir.ends_with(b"/") {
        !rest.is_empty()
    } else {
        rest.first() == Some(&b'/')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_below_the_root_without_a_double_slash() {
        assert_eq!(join(b"/", b"x"), b"/x");
        assert_eq!(join(b"/a", b"x"), b"/a/x");
        assert_eq!(join(b"/a/", b"x"), b"/a/x");
        assert_eq!(join(b"/a", b"\xff"), b"/a/\xff");
    }

    #[test]
    fn tells_what_is_below_a_directory_the_root_included() {
        assert!(is_below(b"/x", b"/"));
        assert!(is_below(b"/a/b", b"/a"));
        assert!(is_below(b"/a/b", b"/a/"));
        assert!(!is_below(b"/a", b"/a"));
        assert!(!is_below(b"/ab", b"/a"));
        assert!(!is_below(b"/", b"/"));
    }
}
