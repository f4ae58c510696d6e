//! Regions of one byte vector: the buffers of a tree's directories ([`crate::tree::names`]) held
//! together rather than one allocation each, which would cost an allocator's header and rounding
//! (some 16 bytes) and a fat pointer (16 more) a directory.
//!
//! A region grows in place when it is the last one, and is moved to the end otherwise; what a move
//! or a free leaves behind is garbage, squeezed out (in place, regions keeping their order) once it
//! is half the vector. Offsets are `u32`: a tree's names past 4 GiB are refused.

/// Where a region is: an offset and a length.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Region {
    at: u32,
    len: u32,
}

impl Region {
    /// Its length in bytes.
    pub fn size(&self) -> usize {
        self.len as usize
    }

    fn range(&self) -> std::ops::Range<usize> {
        self.at as usize..self.at as usize + self.len as usize
    }
}

/// Garbage below which the arena is never squeezed.
const SQUEEZE_FROM: usize = 64 * 1024;

/// The regions' bytes.
#[derive(Debug)]
pub struct Arena {
    bytes: Vec<u8>,
    garbage: usize,
    squeeze_from: usize,
}

impl Default for Arena {
    fn default() -> Self {
        Arena {
            bytes: Vec::new(),
            garbage: 0,
            squeeze_from: SQUEEZE_FROM,
        }
    }
}

impl Arena {
    /// An arena squeezed from `garbage` bytes of garbage on (for tests that want it squeezed often).
    #[cfg(test)]
    pub fn squeezed_from(garbage: usize) -> Self {
        Arena {
            squeeze_from: garbage,
            ..Arena::default()
        }
    }

    /// A new region holding `contents`, at the end (none when the arena would pass 4 GiB).
    pub fn alloc(&mut self, contents: &[u8]) -> Option<Region> {
        let at = u32::try_from(self.bytes.len()).ok()?;
        let len = u32::try_from(contents.len()).ok()?;
        at.checked_add(len)?;
        self.bytes.extend_from_slice(contents);
        Some(Region { at, len })
    }

    /// A region's bytes.
    pub fn get(&self, region: Region) -> &[u8] {
        self.bytes.get(region.range()).unwrap_or_default()
    }

    /// A region's bytes, to change.
    pub fn get_mut(&mut self, region: Region) -> &mut [u8] {
        self.bytes.get_mut(region.range()).unwrap_or_default()
    }

    fn is_last(&self, region: Region) -> bool {
        region.range().end == self.bytes.len()
    }

    /// The region grown (zeroed) or cut to `len` bytes, its first bytes kept: in place when it is
    /// the last one or shrinks, else moved to the end. `None` (the region unchanged) when the
    /// arena would pass 4 GiB.
    pub fn resize(&mut self, region: Region, len: usize) -> Option<Region> {
        let new_len = u32::try_from(len).ok()?;
        if self.is_last(region) {
            region.at.checked_add(new_len)?;
            self.bytes.resize(region.at as usize + len, 0);
            return Some(Region {
                at: region.at,
                len: new_len,
            });
        }
        if len <= region.size() {
            self.garbage += region.size() - len;
            return Some(Region {
                at: region.at,
                len: new_len,
            });
        }
        let at = u32::try_from(self.bytes.len()).ok()?;
        at.checked_add(new_len)?;
        self.bytes.extend_from_within(region.range());
        self.bytes.resize(at as usize + len, 0);
        self.garbage += region.size();
        Some(Region { at, len: new_len })
    }

    /// The region's bytes are no longer used.
    pub fn free(&mut self, region: Region) {
        if self.is_last(region) {
            self.bytes.truncate(region.at as usize);
        } else {
            self.garbage += region.size();
        }
    }

    /// Whether enough is garbage to [`Arena::squeeze`].
    pub fn wants_squeeze(&self) -> bool {
        self.garbage >= self.squeeze_from && self.garbage * 2 > self.bytes.len()
    }

    /// Moves every live region (all of them must be given) down over the garbage, in place.
    pub fn squeeze<'r>(&mut self, regions: impl Iterator<Item = &'r mut Region>) {
        let mut regions: Vec<&mut Region> = regions.collect();
        regions.sort_unstable_by_key(|region| region.at);
        let mut to = 0usize;
        for region in regions {
            let from = region.range();
            self.bytes.copy_within(from, to);
            region.at = to as u32;
            to += region.size();
        }
        self.bytes.truncate(to);
        self.bytes.shrink_to(to + to / 4);
        self.garbage = 0;
    }

    /// Forgets every region.
    pub fn clear(&mut self) {
        self.bytes = Vec::new();
        self.garbage = 0;
    }

    /// Bytes held, garbage included (for tests).
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_last_region_grows_in_place_and_another_moves() {
        let mut arena = Arena::default();
        let a = arena.alloc(b"aa").expect("room");
        let b = arena.alloc(b"bbb").expect("room");
        let b = arena.resize(b, 5).expect("room");
        assert_eq!(arena.get(b), b"bbb\0\0");
        assert_eq!(arena.held(), 7, "grown in place");
        let a = arena.resize(a, 4).expect("room");
        assert_eq!(arena.get(a), b"aa\0\0");
        assert_eq!(arena.held(), 11, "moved to the end, its old place garbage");
        assert_eq!(arena.garbage, 2);
        let a = arena.resize(a, 1).expect("room");
        assert_eq!(arena.get(a), b"a");
        arena.free(a);
        assert_eq!(
            arena.held(),
            7,
            "the last region freed gives its bytes back"
        );
        assert_eq!(arena.get(b), b"bbb\0\0");
    }

    #[test]
    fn squeezing_keeps_every_region_s_bytes() {
        let mut arena = Arena::default();
        let mut regions: Vec<(Region, Vec<u8>)> = (0..20_000u32)
            .map(|i| {
                let contents = i.to_le_bytes().repeat(1 + (i % 7) as usize);
                (arena.alloc(&contents).expect("room"), contents)
            })
            .collect();
        // Grow every other region (each moves) and free every third.
        for (i, (region, contents)) in regions.iter_mut().enumerate() {
            if i % 2 == 0 {
                *region = arena.resize(*region, contents.len() + 3).expect("room");
                contents.extend_from_slice(&[0, 0, 0]);
            }
        }
        let kept: Vec<(Region, Vec<u8>)> = regions
            .into_iter()
            .enumerate()
            .filter_map(|(i, kept)| {
                if i % 3 == 0 {
                    arena.free(kept.0);
                    None
                } else {
                    Some(kept)
                }
            })
            .collect();
        assert!(arena.wants_squeeze());
        let mut kept = kept;
        let live: usize = kept.iter().map(|(region, _)| region.size()).sum();
        arena.squeeze(kept.iter_mut().map(|(region, _)| region));
        assert_eq!(arena.held(), live);
        assert!(!arena.wants_squeeze());
        for (region, contents) in &kept {
            assert_eq!(arena.get(*region), contents.as_slice());
        }
    }
}
