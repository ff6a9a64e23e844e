#!/usr/bin/env python3
"""The Python peer: a straightforward Currents Avro -> Mixpanel NDJSON converter (SPEC section 3),
written the way a competent engineer would in an afternoon: fastavro.reader + json.dumps per
event, one process, no tricks. The benchmark compares `currents2mixpanel convert --threads 1`
against it.

Usage: peer.py OUT.ndjson INPUT...   (folders are searched recursively for *.avro)
Prints one JSON line with the counts (read, emitted, skipped, rejected) on stdout.
"""
import hashlib
import json
import math
import os
import re
import struct
import sys
import time

import fastavro

# Mixpanel event names of the default-on Currents types (from the event catalogue).
NAMES = {
    'users.behaviors.CustomEvent': '[Braze Custom Event] {name}',
    'users.behaviors.InstallAttribution': 'Install Attribution',
    'users.behaviors.Location': 'Location',
    'users.behaviors.Purchase': 'Purchase',
    'users.behaviors.Uninstall': 'Uninstall',
    'users.behaviors.app.FirstSession': 'First Session',
    'users.behaviors.app.NewsFeedImpression': 'News Feed Impression',
    'users.behaviors.app.SessionEnd': 'Session End',
    'users.behaviors.app.SessionStart': 'Session Start',
    'users.behaviors.subscription.GlobalStateChange': 'Global Subscription State Change',
    'users.behaviors.subscriptiongroup.StateChange': 'Subscription Group State Change',
    'users.campaigns.Abort': 'Campaign Abort',
    'users.campaigns.Conversion': 'Campaign Conversion',
    'users.campaigns.EnrollInControl': 'Campaign Control Group Enrollment',
    'users.canvas.Abort': 'Canvas Abort',
    'users.canvas.Conversion': 'Canvas Conversion',
    'users.canvas.Entry': 'Canvas Entry',
    'users.canvas.costep.Send': 'Canvas Costep Send',
    'users.canvas.exit.MatchedAudience': 'Exit Match Audience',
    'users.canvas.exit.PerformedEvent': 'Exit Perform Event',
    'users.canvas.experimentstep.Conversion': 'Experiment Step Conversion',
    'users.canvas.experimentstep.SplitEntry': 'Experiment Split Entry',
    'users.canvasstep.Progression': 'Canvas Step Progression',
    'users.messages.banner.Abort': 'Banner Abort',
    'users.messages.banner.Click': 'Banner Click',
    'users.messages.banner.Dismiss': 'Banner Dismiss',
    'users.messages.banner.Impression': 'Banner Impression',
    'users.messages.contentcard.Abort': 'Content Card Abort',
    'users.messages.contentcard.Click': 'Content Card Click',
    'users.messages.contentcard.Dismiss': 'Content Card Dismiss',
    'users.messages.contentcard.Impression': 'Content Card Impression',
    'users.messages.contentcard.Send': 'Content Card Send',
    'users.messages.email.Abort': 'Email Abort',
    'users.messages.email.Bounce': 'Email Bounce',
    'users.messages.email.Click': 'Email Click',
    'users.messages.email.Deferral': 'Email Deferral',
    'users.messages.email.Delivery': 'Email Delivery',
    'users.messages.email.MarkAsSpam': 'Email Mark As Spam',
    'users.messages.email.Open': 'Email Open',
    'users.messages.email.Retry': 'Email Retry',
    'users.messages.email.Send': 'Email Send',
    'users.messages.email.SoftBounce': 'Email Soft Bounce',
    'users.messages.email.Unsubscribe': 'Email Unsubscribe',
    'users.messages.featureflag.Impression': 'Feature Flag Experiment Impression',
    'users.messages.inappmessage.Abort': 'In-App Message Abort',
    'users.messages.inappmessage.Click': 'In-App Message Click',
    'users.messages.inappmessage.Impression': 'In-App Message Impression',
    'users.messages.line.Abort': 'LINE Abort',
    'users.messages.line.Click': 'LINE Click',
    'users.messages.line.InboundReceive': 'LINE Inbound Receive',
    'users.messages.line.Retry': 'LINE Retry',
    'users.messages.line.Send': 'LINE Send',
    'users.messages.liveactivity.Outcome': 'Live Activity Outcome',
    'users.messages.liveactivity.Send': 'Live Activity Send',
    'users.messages.newsfeedcard.Abort': 'News Feed Card Abort',
    'users.messages.newsfeedcard.Click': 'News Feed Card Click',
    'users.messages.newsfeedcard.Impression': 'News Feed Card Impression',
    'users.messages.pushnotification.Abort': 'Push Notification Abort',
    'users.messages.pushnotification.Bounce': 'Push Notification Bounce',
    'users.messages.pushnotification.IosForeground': 'Push Notification iOS Foreground Open',
    'users.messages.pushnotification.Open': 'Push Notification Open',
    'users.messages.pushnotification.Retry': 'Push Notification Retry',
    'users.messages.pushnotification.Send': 'Push Notification Send',
    'users.messages.rcs.Abort': 'RCS Abort',
    'users.messages.rcs.Click': 'RCS Click',
    'users.messages.rcs.Delivery': 'RCS Delivery',
    'users.messages.rcs.InboundReceive': 'RCS Inbound Receive',
    'users.messages.rcs.Read': 'RCS Read',
    'users.messages.rcs.Rejection': 'RCS Rejection',
    'users.messages.rcs.Send': 'RCS Send',
    'users.messages.sms.Abort': 'SMS Abort',
    'users.messages.sms.CarrierSend': 'SMS Send to Carrier',
    'users.messages.sms.Delivery': 'SMS Delivery',
    'users.messages.sms.DeliveryFailure': 'SMS Delivery Failure',
    'users.messages.sms.InboundReceive': 'SMS Inbound Received',
    'users.messages.sms.Rejection': 'SMS Rejection',
    'users.messages.sms.Retry': 'SMS Retry',
    'users.messages.sms.Send': 'SMS Send',
    'users.messages.sms.ShortLinkClick': 'SMS Short Link Click',
    'users.messages.webhook.Abort': 'Webhook Abort',
    'users.messages.webhook.Failure': 'Webhook Failure',
    'users.messages.webhook.Retry': 'Webhook Retry',
    'users.messages.webhook.Send': 'Webhook Send',
    'users.messages.whatsapp.Abort': 'WhatsApp Abort',
    'users.messages.whatsapp.Click': 'WhatsApp Tracked Link Click',
    'users.messages.whatsapp.Delivery': 'WhatsApp Delivery',
    'users.messages.whatsapp.Failure': 'WhatsApp Failure',
    'users.messages.whatsapp.InboundReceive': 'WhatsApp Inbound Received',
    'users.messages.whatsapp.Read': 'WhatsApp Read',
    'users.messages.whatsapp.Retry': 'WhatsApp Retry',
    'users.messages.whatsapp.Send': 'WhatsApp Send',
}

RENAMES = {"device_model": "$device", "os_version": "$os", "content_card_id": "card_id"}
PREFIXES = {"users.behaviors.CustomEvent": "[Custom event property] ",
            "users.behaviors.Purchase": "[Purchase property] "}
PLACEHOLDERS = {"00000000-0000-0000-0000-000000000000", "anon", "anonymous", "nil", "none", "null",
                "n/a", "na", "undefined", "unknown", "<nil>", "0", "-1", "true", "false", "[]", "{}"}
INSERT_ID_OK = re.compile(r"[A-Za-z0-9-]{1,36}")
LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
MIN_TIME = 31536000


class Reject(Exception):
    pass


def is_placeholder(s):
    return s.isascii() and s.lower() in PLACEHOLDERS


def f32_text(x):
    """Avro floats arrive as doubles; keep the shortest decimal that round-trips the 32 bits."""
    packed = struct.pack("<f", x)
    for digits in range(1, 10):
        candidate = float("%.*g" % (digits, x))
        if struct.pack("<f", candidate) == packed:
            return candidate
    return x


def bad_constant(name):
    raise ValueError("not JSON: " + name)


def check_float(text):
    value = float(text)
    if math.isinf(value):
        raise ValueError("number out of range: " + text)
    return value


def parse_properties(text):
    if text is None or text == "":
        return {}
    if not isinstance(text, str):
        raise Reject("invalid_properties_json")
    try:
        value = json.loads(text, parse_constant=bad_constant, parse_float=check_float)
    except ValueError:
        raise Reject("invalid_properties_json")
    if not isinstance(value, dict):
        raise Reject("invalid_properties_json")
    if "\\u" in text and LONE_SURROGATE.search(json.dumps(value, ensure_ascii=False, default=str)):
        raise Reject("invalid_properties_json")
    return value


def event_type_of(path, schema_name):
    for part in reversed(path.split(os.sep)):
        if part.startswith("event_type="):
            return part[len("event_type="):]
    m = re.match(r"dataexport\..*?\.inner\.(.*)", schema_name)
    return m.group(1) if m else schema_name


def is_float_type(t):
    return t == "float" or (isinstance(t, list) and "float" in t)


def convert(record, event_type, float_fields, now):
    t = record.get("time")
    if not isinstance(t, int) or isinstance(t, bool):
        raise Reject("missing_time")
    user = record.get("external_user_id")
    if user is None or user == "":
        return None  # skipped: no_external_user_id
    if not isinstance(user, str):
        user = json.dumps(user)
    if is_placeholder(user):
        raise Reject("placeholder_distinct_id")
    prefix = PREFIXES.get(event_type)
    custom = parse_properties(record.get("properties")) if prefix else {}
    if t < MIN_TIME or t > now + 3600:
        raise Reject("time_out_of_range")
    if record.get("id") is None:
        raise Reject("missing_id")
    rid = record["id"] if isinstance(record["id"], str) else json.dumps(record["id"])
    if INSERT_ID_OK.fullmatch(rid) and not is_placeholder(rid):
        insert_id = rid
    else:
        insert_id = hashlib.sha256(rid.encode("utf-8")).hexdigest()[:32]

    name = NAMES[event_type]
    if "{name}" in name:
        name = name.replace("{name}", str(record.get("name") or ""))
    props = {"time": t, "distinct_id": user, "$insert_id": insert_id, "$partner_id": "braze"}
    consumed = {"id", "time", "external_user_id"}
    if prefix:
        consumed.add("properties")
    if event_type == "users.behaviors.CustomEvent":
        consumed.add("name")
    for key, value in record.items():
        if key in consumed or value is None:
            continue
        if isinstance(value, float):
            if math.isnan(value) or math.isinf(value):
                continue
            if key in float_fields:
                value = f32_text(value)
        elif isinstance(value, bytes):
            value = value.decode("latin-1")
        out_key = RENAMES.get(key, key)
        if out_key not in props:
            props[out_key] = value
    for key, value in custom.items():
        props[prefix + key] = value
    if len(props) > 254:
        raise Reject("too_many_properties")
    line = json.dumps({"event": name, "properties": props}, ensure_ascii=False, separators=(",", ":"))
    data = line.encode("utf-8")
    if len(data) >= 1000000:
        raise Reject("event_too_large")
    return data


def avro_files(inputs):
    files = []
    for item in inputs:
        if os.path.isdir(item):
            for root, _, names in os.walk(item):
                files.extend(os.path.join(root, n) for n in names if n.endswith(".avro"))
        else:
            files.append(item)
    return sorted(set(files))


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: peer.py OUT.ndjson INPUT...")
    now = int(time.time())
    counts = {"files": 0, "read": 0, "emitted": 0, "skipped": {}, "rejected": {}}
    with open(sys.argv[1], "wb") as out:
        for path in avro_files(sys.argv[2:]):
            with open(path, "rb") as f:
                reader = fastavro.reader(f)
                schema = reader.writer_schema
                event_type = event_type_of(path, schema.get("name", ""))
                if event_type not in NAMES:
                    continue
                counts["files"] += 1
                float_fields = {fl["name"] for fl in schema["fields"] if is_float_type(fl["type"])}
                for record in reader:
                    counts["read"] += 1
                    try:
                        data = convert(record, event_type, float_fields, now)
                    except Reject as r:
                        counts["rejected"][str(r)] = counts["rejected"].get(str(r), 0) + 1
                        continue
                    if data is None:
                        counts["skipped"]["no_external_user_id"] = counts["skipped"].get("no_external_user_id", 0) + 1
                        continue
                    out.write(data)
                    out.write(b"\n")
                    counts["emitted"] += 1
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
