//! currents2mixpanel: Braze Currents Avro exports → Mixpanel events.
//!
//! The flow of a run: [`input`] lists the files; [`pipeline`] reads each with [`avro`],
//! turns each record into a Mixpanel event with the pure [`transform`] and streams the lines,
//! in file order, into a [`sink`] (NDJSON or Mixpanel's `/import`); [`report`] accounts for
//! every record.

pub mod avro;
pub mod catalogue;
pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod exit_codes;
pub mod import_api;
pub mod input;
pub mod json;
pub mod output;
pub mod pipeline;
pub mod progress;
pub mod record;
pub mod report;
pub mod run;
pub mod secret;
pub mod selection;
pub mod signals;
pub mod sink;
pub mod state;
pub mod timestamp;
pub mod transform;
