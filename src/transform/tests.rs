//! Rule-by-rule tests of the transform (SPEC §3).

use super::*;
use crate::secret::Secret;

const NOW: i64 = 1_795_000_000; // 2026-11-18
const T: i64 = 1_793_491_200; // 2026-11-01T00:00:00Z

/// A record built from `(field, value)` pairs; values are JSON-ish literals.
enum V<'a> {
    Null,
    S(&'a str),
    I(i64),
    F(f32),
    D(f64),
    B(bool),
    J(&'a str),
}

fn build(fields: &[(&str, V)]) -> (Vec<String>, Record) {
    let mut record = Record::default();
    for (_, v) in fields {
        match v {
            V::Null => record.push(Value::Null),
            V::S(s) => record.push_str(s),
            V::I(i) => record.push(Value::Int(*i)),
            V::F(f) => record.push(Value::Float(*f)),
            V::D(f) => record.push(Value::Double(*f)),
            V::B(b) => record.push(Value::Bool(*b)),
            V::J(j) => {
                let start = record.begin_json();
                record.json_buf().extend_from_slice(j.as_bytes());
                record.end_json(start);
            }
        }
    }
    (fields.iter().map(|(n, _)| n.to_string()).collect(), record)
}

fn run_with(event_type: &str, fields: &[(&str, V)], options: &TransformOptions) -> (Outcome, serde_json::Value) {
    let (names, record) = build(fields);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let plan = FilePlan::new(event_type, &names, options);
    let mut out = b"previous line\n".to_vec();
    let outcome = transform(&record, &plan, options, NOW, &mut out);
    let line = &out[b"previous line\n".len()..];
    if outcome == Outcome::Emit {
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
        (outcome, serde_json::from_slice(line).unwrap())
    } else {
        assert!(line.is_empty(), "a non-emitted record must leave the buffer as it was");
        (outcome, serde_json::Value::Null)
    }
}

fn run(event_type: &str, fields: &[(&str, V)]) -> (Outcome, serde_json::Value) {
    run_with(event_type, fields, &TransformOptions::default())
}

fn base<'a>(user: V<'a>) -> Vec<(&'a str, V<'a>)> {
    vec![
        ("id", V::S("8adc1855-3392-4d58-b2e3-994299b7e024")),
        ("user_id", V::S("594925ec0b4f0d15d6d6d8f7")),
        ("external_user_id", user),
        ("time", V::I(T)),
    ]
}

fn rejected(outcome: &Outcome) -> RejectReason {
    match outcome {
        Outcome::Reject(reason, message) => {
            assert!(!message.is_empty());
            *reason
        }
        other => panic!("expected a reject, got {other:?}"),
    }
}

#[test]
fn emits_the_required_properties_and_copies_the_rest() {
    let mut fields = base(V::S("user-1"));
    fields.push(("campaign_name", V::S("Spring ☀️")));
    fields.push(("canvas_id", V::Null));
    let (outcome, event) = run("users.messages.email.Send", &fields);
    assert_eq!(outcome, Outcome::Emit);
    assert_eq!(
        event,
        serde_json::json!({"event": "Email Send", "properties": {
            "time": T, "distinct_id": "user-1", "$insert_id": "8adc1855-3392-4d58-b2e3-994299b7e024",
            "$partner_id": "braze", "user_id": "594925ec0b4f0d15d6d6d8f7", "campaign_name": "Spring ☀️"}})
    );
}

#[test]
fn line_is_compact_and_ordered() {
    let (names, record) = build(&base(V::S("u")));
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let options = TransformOptions::default();
    let plan = FilePlan::new("users.behaviors.Uninstall", &names, &options);
    let mut out = Vec::new();
    transform(&record, &plan, &options, NOW, &mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "{\"event\":\"Uninstall\",\"properties\":{\"time\":1793491200,\"distinct_id\":\"u\",\
         \"$insert_id\":\"8adc1855-3392-4d58-b2e3-994299b7e024\",\"$partner_id\":\"braze\",\
         \"user_id\":\"594925ec0b4f0d15d6d6d8f7\"}}\n"
    );
}

#[test]
fn renames_device_os_and_content_card() {
    let mut fields = base(V::S("u"));
    fields.push(("device_model", V::S("iPhone15,2")));
    fields.push(("os_version", V::S("iOS 17.1")));
    fields.push(("content_card_id", V::S("card-9")));
    let (_, event) = run("users.messages.contentcard.Click", &fields);
    let p = &event["properties"];
    assert_eq!(p["$device"], "iPhone15,2");
    assert_eq!(p["$os"], "iOS 17.1");
    assert_eq!(p["card_id"], "card-9");
    for gone in ["device_model", "os_version", "content_card_id", "id", "external_user_id"] {
        assert!(p.get(gone).is_none(), "{gone} must not be copied");
    }
}

#[test]
fn renamed_field_wins_over_a_plain_field_of_the_same_name() {
    let mut fields = base(V::S("u"));
    fields.push(("card_id", V::S("plain")));
    fields.push(("content_card_id", V::S("renamed")));
    let (_, event) = run("partner.Thing", &fields);
    assert_eq!(event["properties"]["card_id"], "renamed");
}

#[test]
fn custom_event_name_and_prefixed_properties() {
    let mut fields = base(V::S("u"));
    fields.push(("name", V::S("Added to Cart")));
    fields.push(("properties", V::S(r#"{"plan":"pro","n":3,"ok":true,"tags":["a"],"nested":{"x":null},"none":null}"#)));
    let (outcome, event) = run(CUSTOM_EVENT, &fields);
    assert_eq!(outcome, Outcome::Emit);
    assert_eq!(event["event"], "[Braze Custom Event] Added to Cart");
    let p = event["properties"].as_object().unwrap();
    assert_eq!(p["[Custom event property] plan"], "pro");
    assert_eq!(p["[Custom event property] n"], 3);
    assert_eq!(p["[Custom event property] ok"], true);
    assert_eq!(p["[Custom event property] tags"], serde_json::json!(["a"]));
    assert_eq!(p["[Custom event property] nested"], serde_json::json!({"x": null}));
    assert!(p["[Custom event property] none"].is_null(), "JSON nulls inside properties are kept");
    assert!(!p.contains_key("name") && !p.contains_key("properties"));
}

#[test]
fn purchase_properties_are_prefixed_and_name_is_kept_for_other_types() {
    let mut fields = base(V::S("u"));
    fields.push(("product_id", V::S("sku-1")));
    fields.push(("price", V::F(9.99)));
    fields.push(("properties", V::S(r#"{"color":"red"}"#)));
    let (_, event) = run(PURCHASE, &fields);
    assert_eq!(event["event"], "Purchase");
    assert_eq!(event["properties"]["[Purchase property] color"], "red");
    assert_eq!(event["properties"]["price"].to_string(), "9.99");

    let mut fields = base(V::S("u"));
    fields.push(("name", V::S("kept")));
    fields.push(("properties", V::S("not json, not parsed")));
    let (outcome, event) = run("users.messages.email.Send", &fields);
    assert_eq!(outcome, Outcome::Emit);
    assert_eq!(event["properties"]["name"], "kept");
    assert_eq!(event["properties"]["properties"], "not json, not parsed");
}

#[test]
fn big_integers_in_properties_survive_exactly() {
    let mut fields = base(V::S("u"));
    fields.push(("name", V::S("e")));
    fields.push(("properties", V::S(r#"{"big":123456789012345678901234567890,"f":1.5e300}"#)));
    let (names, record) = build(&fields);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let options = TransformOptions::default();
    let mut out = Vec::new();
    transform(&record, &FilePlan::new(CUSTOM_EVENT, &names, &options), &options, NOW, &mut out);
    let line = String::from_utf8(out).unwrap();
    assert!(line.contains(r#""[Custom event property] big":123456789012345678901234567890"#), "{line}");
}

#[test]
fn floats_are_shortest_and_non_finite_are_omitted() {
    let mut fields = base(V::S("u"));
    fields.push(("latitude", V::F(1.1)));
    fields.push(("longitude", V::D(-122.4194)));
    fields.push(("altitude", V::F(f32::NAN)));
    fields.push(("ll_accuracy", V::D(f64::INFINITY)));
    let (names, record) = build(&fields);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let options = TransformOptions::default();
    let mut out = Vec::new();
    transform(&record, &FilePlan::new("users.behaviors.Location", &names, &options), &options, NOW, &mut out);
    let line = String::from_utf8(out).unwrap();
    assert!(line.contains(r#""latitude":1.1,"longitude":-122.4194}"#), "{line}");
    assert!(!line.contains("altitude") && !line.contains("ll_accuracy"));
}

#[test]
fn arrays_and_nested_values_stay_json() {
    let mut fields = base(V::S("u"));
    fields.push(("suspected_bot_click_reason", V::J(r#"["ua","ip"]"#)));
    fields.push(("ad_tracking_enabled", V::B(false)));
    let (_, event) = run("users.messages.email.Click", &fields);
    assert_eq!(event["properties"]["suspected_bot_click_reason"], serde_json::json!(["ua", "ip"]));
    assert_eq!(event["properties"]["ad_tracking_enabled"], false);
}

#[test]
fn missing_null_or_empty_external_user_id_is_skipped() {
    for user in [V::Null, V::S("")] {
        let (outcome, _) = run("users.messages.email.Send", &base(user));
        assert_eq!(outcome, Outcome::Skip(SkipReason::NoExternalUserId));
    }
    let fields: Vec<_> = base(V::Null).into_iter().filter(|(n, _)| *n != "external_user_id").collect();
    assert_eq!(run("users.messages.email.Send", &fields).0, Outcome::Skip(SkipReason::NoExternalUserId));
}

#[test]
fn placeholder_distinct_ids_are_rejected_case_insensitively_and_untrimmed() {
    for placeholder in PLACEHOLDERS.iter().copied().chain(["NULL", "Undefined", "N/A", "<NIL>", "None", "TRUE"]) {
        let (outcome, _) = run("users.messages.email.Send", &base(V::S(placeholder)));
        assert_eq!(rejected(&outcome), RejectReason::PlaceholderDistinctId, "{placeholder}");
    }
    for fine in [" null", "null ", "nulls", "00", "-2", "anon1"] {
        assert_eq!(run("users.messages.email.Send", &base(V::S(fine))).0, Outcome::Emit, "{fine:?}");
    }
}

#[test]
fn insert_id_is_the_id_when_valid_else_a_stable_hash() {
    let hash = |id: &str| {
        let digest = Sha256::digest(id.as_bytes());
        digest[..16].iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let cases = [
        ("8adc1855-3392-4d58-b2e3-994299b7e024", "8adc1855-3392-4d58-b2e3-994299b7e024".to_string()),
        ("A", "A".to_string()),
        ("abcdefghijabcdefghijabcdefghij123456", "abcdefghijabcdefghijabcdefghij123456".to_string()),
        ("abcdefghijabcdefghijabcdefghij1234567", hash("abcdefghijabcdefghijabcdefghij1234567")),
        ("ajs-next-1:2", hash("ajs-next-1:2")),
        ("null", hash("null")),
        ("0", hash("0")),
        ("", hash("")),
        ("ünïcode", hash("ünïcode")),
    ];
    for (id, expected) in cases {
        let mut fields = base(V::S("u"));
        fields[0].1 = V::S(id);
        let (outcome, event) = run("users.behaviors.Uninstall", &fields);
        assert_eq!(outcome, Outcome::Emit);
        assert_eq!(event["properties"]["$insert_id"], expected.as_str(), "{id:?}");
        assert_eq!(expected.len().min(32), expected.len().min(32));
    }
    assert_eq!(hash("x").len(), 32);
}

#[test]
fn invalid_properties_json_is_rejected() {
    let invalid = [
        "   ",
        "[1,2]",
        "\"str\"",
        "null",
        "{\"a\":NaN}",
        "{\"a\":Infinity}",
        "{\"a\":1e400}",
        "{\"a\":-1.0e999}",
        "{\"a\":\"\\ud800\"}",
        "{\"a\":\"\\udc00x\"}",
        "{\"a\":1}x",
        "{\"a\":1,}",
        "{'a':1}",
        "{\"a\":01}",
    ];
    for text in invalid {
        let mut fields = base(V::S("u"));
        fields.push(("name", V::S("e")));
        fields.push(("properties", V::S(text)));
        let (outcome, _) = run(CUSTOM_EVENT, &fields);
        assert_eq!(rejected(&outcome), RejectReason::InvalidPropertiesJson, "{text:?}");
    }
}

#[test]
fn empty_properties_is_an_empty_object_and_repeated_keys_keep_the_last() {
    let mut fields = base(V::S("u"));
    fields.push(("name", V::S("e")));
    fields.push(("properties", V::S("")));
    let (outcome, event) = run(CUSTOM_EVENT, &fields);
    assert_eq!(outcome, Outcome::Emit);
    assert_eq!(event["properties"].as_object().unwrap().len(), 5);

    fields[5].1 = V::S(r#"{"a":1,"b":2,"a":3}"#);
    let (_, event) = run(CUSTOM_EVENT, &fields);
    assert_eq!(event["properties"]["[Custom event property] a"], 3);
    assert_eq!(event["properties"]["[Custom event property] b"], 2);
}

#[test]
fn time_rules() {
    let at = |t: i64| {
        let mut fields = base(V::S("u"));
        fields[3].1 = V::I(t);
        run("users.behaviors.Uninstall", &fields).0
    };
    assert_eq!(rejected(&at(MIN_TIME - 1)), RejectReason::TimeOutOfRange);
    assert_eq!(at(MIN_TIME), Outcome::Emit);
    assert_eq!(at(NOW + 3600), Outcome::Emit);
    assert_eq!(rejected(&at(NOW + 3601)), RejectReason::TimeOutOfRange);
    assert_eq!(rejected(&at(2_033_802_504)), RejectReason::TimeOutOfRange);
}

#[test]
fn missing_or_non_integer_time_is_rejected_first() {
    for value in [V::Null, V::S("1793491200"), V::D(1.7e9)] {
        let mut fields = base(V::S("null")); // a placeholder too: missing_time still wins
        fields[3].1 = value;
        assert_eq!(rejected(&run("partner.Thing", &fields).0), RejectReason::MissingTime);
    }
    let fields: Vec<_> = base(V::S("u")).into_iter().filter(|(n, _)| *n != "time").collect();
    assert_eq!(rejected(&run("partner.Thing", &fields).0), RejectReason::MissingTime);
}

#[test]
fn missing_id_is_rejected() {
    let fields: Vec<_> = base(V::S("u")).into_iter().filter(|(n, _)| *n != "id").collect();
    assert_eq!(rejected(&run("partner.Thing", &fields).0), RejectReason::MissingId);
    let mut fields = base(V::S("u"));
    fields[0].1 = V::Null;
    assert_eq!(rejected(&run("partner.Thing", &fields).0), RejectReason::MissingId);
}

#[test]
fn time_window_skips_with_inclusive_since_and_exclusive_until() {
    let options = TransformOptions { since: Some(T), until: Some(T + 10), ..Default::default() };
    let at = |t: i64| {
        let mut fields = base(V::S("u"));
        fields[3].1 = V::I(t);
        run_with("users.behaviors.Uninstall", &fields, &options).0
    };
    assert_eq!(at(T - 1), Outcome::Skip(SkipReason::OutsideTimeWindow));
    assert_eq!(at(T), Outcome::Emit);
    assert_eq!(at(T + 9), Outcome::Emit);
    assert_eq!(at(T + 10), Outcome::Skip(SkipReason::OutsideTimeWindow));
}

#[test]
fn reasons_follow_the_documented_precedence() {
    // outside the window beats no user and a future time.
    let options = TransformOptions { until: Some(T), ..Default::default() };
    let mut fields = base(V::Null);
    fields[3].1 = V::I(2_033_802_504);
    assert_eq!(run_with("partner.Thing", &fields, &options).0, Outcome::Skip(SkipReason::OutsideTimeWindow));
    // no user beats a placeholder-free bad properties string and a bad time.
    let mut fields = base(V::Null);
    fields[3].1 = V::I(5);
    fields.push(("name", V::S("e")));
    fields.push(("properties", V::S("[")));
    assert_eq!(run(CUSTOM_EVENT, &fields).0, Outcome::Skip(SkipReason::NoExternalUserId));
    // placeholder beats invalid properties; invalid properties beat time out of range.
    fields[2].1 = V::S("anon");
    assert_eq!(rejected(&run(CUSTOM_EVENT, &fields).0), RejectReason::PlaceholderDistinctId);
    fields[2].1 = V::S("u");
    assert_eq!(rejected(&run(CUSTOM_EVENT, &fields).0), RejectReason::InvalidPropertiesJson);
    // time out of range beats missing id.
    let mut fields: Vec<_> = base(V::S("u")).into_iter().filter(|(n, _)| *n != "id").collect();
    fields[2].1 = V::I(5);
    assert_eq!(rejected(&run("partner.Thing", &fields).0), RejectReason::TimeOutOfRange);
}

fn custom_event_with_keys(n: usize) -> Vec<(&'static str, V<'static>)> {
    let props: String = (0..n).map(|i| format!("\"k{i}\":{i}")).collect::<Vec<_>>().join(",");
    let mut fields = base(V::S("u"));
    fields.push(("name", V::S("e")));
    fields.push(("properties", V::S(Box::leak(format!("{{{props}}}").into_boxed_str()))));
    fields
}

#[test]
fn too_many_properties_counts_every_key() {
    // distinct_id, time, $insert_id, $partner_id, user_id = 5 before the custom keys.
    assert_eq!(run(CUSTOM_EVENT, &custom_event_with_keys(249)).0, Outcome::Emit);
    assert_eq!(rejected(&run(CUSTOM_EVENT, &custom_event_with_keys(250)).0), RejectReason::TooManyProperties);
    // dropping a property brings it back under the limit; a token pushes it over.
    let options = TransformOptions { drop_properties: ["user_id".to_string()].into(), ..Default::default() };
    assert_eq!(run_with(CUSTOM_EVENT, &custom_event_with_keys(250), &options).0, Outcome::Emit);
    let options = TransformOptions { token: Some(Secret::new("tok")), ..Default::default() };
    assert_eq!(
        rejected(&run_with(CUSTOM_EVENT, &custom_event_with_keys(249), &options).0),
        RejectReason::TooManyProperties
    );
}

#[test]
fn event_too_large_is_measured_on_the_compact_line() {
    let line_len = |pad: usize| {
        let mut fields = base(V::S("u"));
        let big = "x".repeat(pad);
        fields.push(("abort_log", V::S(Box::leak(big.into_boxed_str()))));
        let (names, record) = build(&fields);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let options = TransformOptions::default();
        let mut out = Vec::new();
        let outcome =
            transform(&record, &FilePlan::new("users.behaviors.Uninstall", &names, &options), &options, NOW, &mut out);
        (outcome, out.len())
    };
    let (_, small) = line_len(0);
    let overhead = small - 1; // the line without its newline, with an empty abort_log
    let fits = MAX_EVENT_BYTES - overhead;
    assert_eq!(line_len(fits), (Outcome::Emit, MAX_EVENT_BYTES + 1));
    let (outcome, len) = line_len(fits + 1);
    assert_eq!((rejected(&outcome), len), (RejectReason::EventTooLarge, 0));
}

#[test]
fn drop_property_removes_fields_constants_and_custom_properties() {
    let options = TransformOptions {
        drop_properties: ["$device", "user_id", "$partner_id", "[Custom event property] secret"]
            .map(String::from)
            .into(),
        ..Default::default()
    };
    let mut fields = base(V::S("u"));
    fields.push(("device_model", V::S("Pixel")));
    fields.push(("name", V::S("e")));
    fields.push(("properties", V::S(r#"{"secret":1,"kept":2}"#)));
    let (_, event) = run_with(CUSTOM_EVENT, &fields, &options);
    let p = event["properties"].as_object().unwrap();
    let keys: Vec<&str> = p.keys().map(String::as_str).collect();
    assert_eq!(keys, ["time", "distinct_id", "$insert_id", "[Custom event property] kept"]);
}

#[test]
fn token_is_added_to_every_event() {
    let options = TransformOptions { token: Some(Secret::new("proj-token")), ..Default::default() };
    let (_, event) = run_with("users.behaviors.Uninstall", &base(V::S("u")), &options);
    assert_eq!(event["properties"]["token"], "proj-token");
}

#[test]
fn event_names_from_user_map_unknown_types_and_name_interpolation() {
    let options = TransformOptions {
        event_names: [
            ("users.messages.email.Send".to_string(), "Sent: email".to_string()),
            (CUSTOM_EVENT.to_string(), "{name} (custom)".to_string()),
        ]
        .into(),
        ..Default::default()
    };
    assert_eq!(run_with("users.messages.email.Send", &base(V::S("u")), &options).1["event"], "Sent: email");
    assert_eq!(run_with("partner.custom.Thing", &base(V::S("u")), &options).1["event"], "partner.custom.Thing");
    let mut fields = base(V::S("u"));
    fields.push(("name", V::S("Quote \" ☃")));
    assert_eq!(run_with(CUSTOM_EVENT, &fields, &options).1["event"], "Quote \" ☃ (custom)");
    assert_eq!(run(CUSTOM_EVENT, &fields).1["event"], "[Braze Custom Event] Quote \" ☃");
}

#[test]
fn reserved_names_are_never_duplicated() {
    let mut fields = base(V::S("u"));
    fields.push(("distinct_id", V::S("shadow")));
    fields.push(("token", V::S("field-token")));
    let options = TransformOptions { token: Some(Secret::new("flag-token")), ..Default::default() };
    let (names, record) = build(&fields);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    transform(&record, &FilePlan::new("partner.Thing", &names, &options), &options, NOW, &mut out);
    let line = String::from_utf8(out).unwrap();
    assert_eq!(line.matches("\"distinct_id\"").count(), 1);
    assert_eq!(line.matches("\"token\"").count(), 1);
    assert!(line.contains("flag-token") && !line.contains("shadow"));
}

#[test]
fn non_string_identifiers_are_used_as_text() {
    let mut fields = base(V::I(42));
    fields[0].1 = V::I(7);
    let (outcome, event) = run("partner.Thing", &fields);
    assert_eq!(outcome, Outcome::Emit);
    assert_eq!(event["properties"]["distinct_id"], "42");
    assert_eq!(event["properties"]["$insert_id"], "7");
    let (outcome, _) = run("partner.Thing", &base(V::I(0)));
    assert_eq!(rejected(&outcome), RejectReason::PlaceholderDistinctId);
}
