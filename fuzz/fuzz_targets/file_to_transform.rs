//! File bytes → Avro reader → transform: must never panic, hang or allocate without bound.
#![no_main]

use std::io::Cursor;

use currents2mixpanel::avro::{self, AvroFile};
use currents2mixpanel::transform::{transform, FilePlan, TransformOptions, CUSTOM_EVENT};
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_800_000_000;

fuzz_target!(|data: &[u8]| {
    avro::init();
    let options = TransformOptions::default();
    // Once as the type the schema names, once as a custom event (to reach `properties` parsing).
    for as_custom_event in [false, true] {
        let Ok(mut file) = AvroFile::from_reader(Cursor::new(data.to_vec())) else { return };
        let event_type = if as_custom_event { CUSTOM_EVENT.to_string() } else { file.event_type_from_schema().to_string() };
        let names: Vec<String> = file.field_names.clone();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let plan = FilePlan::new(&event_type, &names, &options);
        let mut out = Vec::new();
        while let Some(Ok(record)) = file.next_record() {
            out.clear();
            let _ = transform(record, &plan, &options, NOW, &mut out);
        }
    }
});
