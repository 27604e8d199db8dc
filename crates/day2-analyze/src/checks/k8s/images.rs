//! placeholder
use crate::checks::Check;
pub(super) static CHECKS: &[Check] = &[];
