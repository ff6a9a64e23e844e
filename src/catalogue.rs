//! The Currents event catalogue: every known Currents event type, its Mixpanel event name (as
//! Braze's own Mixpanel connector names it) and whether it is converted by default.
//!
//! Compiled in so the binary needs no data files. `{name}` in a name is replaced by the record's
//! `name` field (custom events).

/// One known Currents event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogueEntry {
    /// The Currents event type, e.g. `users.messages.email.Send`.
    pub event_type: &'static str,
    /// The Mixpanel event name template, e.g. `Email Send`.
    pub mixpanel_name: &'static str,
    /// Whether files of this type are converted unless the user selects types explicitly.
    pub default_on: bool,
}

const fn entry(event_type: &'static str, mixpanel_name: &'static str, default_on: bool) -> CatalogueEntry {
    CatalogueEntry { event_type, mixpanel_name, default_on }
}

/// All 100 known Currents event types, sorted by type.
pub const CATALOGUE: &[CatalogueEntry] = &[
    entry("agentconsole.AgentExecuted", "agentconsole.AgentExecuted", false),
    entry("agentconsole.ToolInvocation", "agentconsole.ToolInvocation", false),
    entry("users.RandomBucketNumberUpdate", "users.RandomBucketNumberUpdate", false),
    entry("users.UserDeleteRequest", "users.UserDeleteRequest", false),
    entry("users.UserOrphan", "users.UserOrphan", false),
    entry("users.behaviors.CustomEvent", "[Braze Custom Event] {name}", true),
    entry("users.behaviors.InstallAttribution", "Install Attribution", true),
    entry("users.behaviors.Location", "Location", true),
    entry("users.behaviors.Purchase", "Purchase", true),
    entry("users.behaviors.Uninstall", "Uninstall", true),
    entry("users.behaviors.app.FirstSession", "First Session", true),
    entry("users.behaviors.app.NewsFeedImpression", "News Feed Impression", true),
    entry("users.behaviors.app.SessionEnd", "Session End", true),
    entry("users.behaviors.app.SessionStart", "Session Start", true),
    entry(
        "users.behaviors.liveactivity.PushToStartTokenChange",
        "users.behaviors.liveactivity.PushToStartTokenChange",
        false,
    ),
    entry("users.behaviors.liveactivity.UpdateTokenChange", "users.behaviors.liveactivity.UpdateTokenChange", false),
    entry(
        "users.behaviors.pushnotification.TokenStateChange",
        "users.behaviors.pushnotification.TokenStateChange",
        false,
    ),
    entry("users.behaviors.subscription.GlobalStateChange", "Global Subscription State Change", true),
    entry("users.behaviors.subscriptiongroup.StateChange", "Subscription Group State Change", true),
    entry("users.campaigns.Abort", "Campaign Abort", true),
    entry("users.campaigns.Conversion", "Campaign Conversion", true),
    entry("users.campaigns.EnrollInControl", "Campaign Control Group Enrollment", true),
    entry("users.canvas.Abort", "Canvas Abort", true),
    entry("users.canvas.Conversion", "Canvas Conversion", true),
    entry("users.canvas.Entry", "Canvas Entry", true),
    entry("users.canvas.costep.Send", "Canvas Costep Send", true),
    entry("users.canvas.exit.MatchedAudience", "Exit Match Audience", true),
    entry("users.canvas.exit.PerformedEvent", "Exit Perform Event", true),
    entry("users.canvas.experimentstep.Conversion", "Experiment Step Conversion", true),
    entry("users.canvas.experimentstep.SplitEntry", "Experiment Split Entry", true),
    entry("users.canvasstep.Progression", "Canvas Step Progression", true),
    entry("users.messages.banner.Abort", "Banner Abort", true),
    entry("users.messages.banner.Click", "Banner Click", true),
    entry("users.messages.banner.Dismiss", "Banner Dismiss", true),
    entry("users.messages.banner.Impression", "Banner Impression", true),
    entry("users.messages.contentcard.Abort", "Content Card Abort", true),
    entry("users.messages.contentcard.Click", "Content Card Click", true),
    entry("users.messages.contentcard.Dismiss", "Content Card Dismiss", true),
    entry("users.messages.contentcard.Impression", "Content Card Impression", true),
    entry("users.messages.contentcard.Send", "Content Card Send", true),
    entry("users.messages.email.Abort", "Email Abort", true),
    entry("users.messages.email.Bounce", "Email Bounce", true),
    entry("users.messages.email.Click", "Email Click", true),
    entry("users.messages.email.Deferral", "Email Deferral", true),
    entry("users.messages.email.Delivery", "Email Delivery", true),
    entry("users.messages.email.MarkAsSpam", "Email Mark As Spam", true),
    entry("users.messages.email.Open", "Email Open", true),
    entry("users.messages.email.Retry", "Email Retry", true),
    entry("users.messages.email.Send", "Email Send", true),
    entry("users.messages.email.SoftBounce", "Email Soft Bounce", true),
    entry("users.messages.email.Unsubscribe", "Email Unsubscribe", true),
    entry("users.messages.featureflag.Impression", "Feature Flag Experiment Impression", true),
    entry("users.messages.inappmessage.Abort", "In-App Message Abort", true),
    entry("users.messages.inappmessage.Click", "In-App Message Click", true),
    entry("users.messages.inappmessage.Impression", "In-App Message Impression", true),
    entry("users.messages.line.Abort", "LINE Abort", true),
    entry("users.messages.line.Click", "LINE Click", true),
    entry("users.messages.line.InboundReceive", "LINE Inbound Receive", true),
    entry("users.messages.line.Retry", "LINE Retry", true),
    entry("users.messages.line.Send", "LINE Send", true),
    entry("users.messages.liveactivity.Outcome", "Live Activity Outcome", true),
    entry("users.messages.liveactivity.Send", "Live Activity Send", true),
    entry("users.messages.newsfeedcard.Abort", "News Feed Card Abort", true),
    entry("users.messages.newsfeedcard.Click", "News Feed Card Click", true),
    entry("users.messages.newsfeedcard.Impression", "News Feed Card Impression", true),
    entry("users.messages.pushnotification.Abort", "Push Notification Abort", true),
    entry("users.messages.pushnotification.Bounce", "Push Notification Bounce", true),
    entry("users.messages.pushnotification.IosForeground", "Push Notification iOS Foreground Open", true),
    entry("users.messages.pushnotification.Open", "Push Notification Open", true),
    entry("users.messages.pushnotification.Retry", "Push Notification Retry", true),
    entry("users.messages.pushnotification.Send", "Push Notification Send", true),
    entry("users.messages.rcs.Abort", "RCS Abort", true),
    entry("users.messages.rcs.Click", "RCS Click", true),
    entry("users.messages.rcs.Delivery", "RCS Delivery", true),
    entry("users.messages.rcs.InboundReceive", "RCS Inbound Receive", true),
    entry("users.messages.rcs.Read", "RCS Read", true),
    entry("users.messages.rcs.Rejection", "RCS Rejection", true),
    entry("users.messages.rcs.Send", "RCS Send", true),
    entry("users.messages.sms.Abort", "SMS Abort", true),
    entry("users.messages.sms.CarrierSend", "SMS Send to Carrier", true),
    entry("users.messages.sms.Delivery", "SMS Delivery", true),
    entry("users.messages.sms.DeliveryFailure", "SMS Delivery Failure", true),
    entry("users.messages.sms.InboundReceive", "SMS Inbound Received", true),
    entry("users.messages.sms.Rejection", "SMS Rejection", true),
    entry("users.messages.sms.Retry", "SMS Retry", true),
    entry("users.messages.sms.Send", "SMS Send", true),
    entry("users.messages.sms.ShortLinkClick", "SMS Short Link Click", true),
    entry("users.messages.webhook.Abort", "Webhook Abort", true),
    entry("users.messages.webhook.Failure", "Webhook Failure", true),
    entry("users.messages.webhook.Retry", "Webhook Retry", true),
    entry("users.messages.webhook.Send", "Webhook Send", true),
    entry("users.messages.whatsapp.Abort", "WhatsApp Abort", true),
    entry("users.messages.whatsapp.Click", "WhatsApp Tracked Link Click", true),
    entry("users.messages.whatsapp.Delivery", "WhatsApp Delivery", true),
    entry("users.messages.whatsapp.Failure", "WhatsApp Failure", true),
    entry("users.messages.whatsapp.InboundReceive", "WhatsApp Inbound Received", true),
    entry("users.messages.whatsapp.Read", "WhatsApp Read", true),
    entry("users.messages.whatsapp.Retry", "WhatsApp Retry", true),
    entry("users.messages.whatsapp.Send", "WhatsApp Send", true),
    entry("users.profile.Update", "users.profile.Update", false),
];

/// The catalogue entry for a Currents event type, if it is a known type.
pub fn lookup(event_type: &str) -> Option<&'static CatalogueEntry> {
    CATALOGUE.binary_search_by(|e| e.event_type.cmp(event_type)).ok().map(|i| &CATALOGUE[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_sorted_unique_and_complete() {
        assert_eq!(CATALOGUE.len(), 100);
        assert!(CATALOGUE.windows(2).all(|w| w[0].event_type < w[1].event_type));
    }

    #[test]
    fn lookup_finds_known_types_and_their_names() {
        assert_eq!(lookup("users.messages.email.Send").unwrap().mixpanel_name, "Email Send");
        assert_eq!(lookup("users.behaviors.CustomEvent").unwrap().mixpanel_name, "[Braze Custom Event] {name}");
        assert!(!lookup("users.RandomBucketNumberUpdate").unwrap().default_on);
        assert!(lookup("users.behaviors.Nope").is_none());
    }
}
