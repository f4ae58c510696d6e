//! The engine's judgement of a mask, asked by `src/masks.ts` before anything is opened: what a
//! watch and a tree accept is decided in the engine only.

use inotify_engine::mask::{check_tree_mask, check_watch_mask, MaskError};
use napi_derive::napi;

/// A mask accepted (`mask`: the mask to use) or refused (`problem` and the `bits` at fault).
#[napi(object)]
pub struct MaskVerdict {
    /// The mask to use, when accepted.
    pub mask: Option<u32>,
    /// Why it is refused: `'unknownBits'`, `'noEvent'` or `'addWithCreate'`.
    pub problem: Option<String>,
    /// The bits at fault (0 for `'noEvent'`).
    pub bits: Option<u32>,
}

fn verdict(judged: Result<u32, MaskError>) -> MaskVerdict {
    match judged {
        Ok(mask) => MaskVerdict {
            mask: Some(mask),
            problem: None,
            bits: None,
        },
        Err(error) => MaskVerdict {
            mask: None,
            problem: Some(
                match error {
                    MaskError::UnknownBits(_) => "unknownBits",
                    MaskError::NoEvent => "noEvent",
                    MaskError::AddWithCreate => "addWithCreate",
                }
                .to_string(),
            ),
            bits: Some(error.bits()),
        },
    }
}

/// Judges a mask for `inotify_add_watch(2)`.
#[napi]
pub fn judge_watch_mask(mask: u32) -> MaskVerdict {
    verdict(check_watch_mask(mask))
}

/// Judges a tree's mask; an accepted one comes back without `IN_ISDIR`.
#[napi]
pub fn judge_tree_mask(mask: u32) -> MaskVerdict {
    verdict(check_tree_mask(mask))
}
