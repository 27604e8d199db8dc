//! Terraform checks (AWS provider first), one file per service area. The list below is the index of areas.

mod s3;

use super::Check;

/// Terraform check lists, by area.
pub static CHECKS: &[&[Check]] = &[s3::CHECKS];
