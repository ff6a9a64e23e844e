//! Test and benchmark support for currents2mixpanel (never shipped in the tool itself).
//!
//! - [`fixtures`]: writes Currents-shaped Avro trees (real layout, every codec, edge cases).
//! - [`mock`]: an in-process mock of Mixpanel's `/import` endpoint with fault injection.

pub mod fixtures;
pub mod mock;
