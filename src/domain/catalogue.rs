//! The event catalogue: every event type edgehook accepts, grouped by resource, and the subscription patterns
//! (`type`, `resource.*`, `*`) that select them.

/// One event type and what it means to a receiver (the API answers it as `api::events::CatalogueEntry`).
#[derive(Debug, Clone, Copy)]
pub struct EventType {
    pub name: &'static str,
    pub description: &'static str,
}

const fn e(name: &'static str, description: &'static str) -> EventType {
    EventType { name, description }
}

/// Every type, in catalogue order (grouped by resource, the resource being the part before the last dot).
pub const EVENT_TYPES: &[EventType] = &[
    e("lead.created", "A lead was created."),
    e("lead.updated", "A lead's fields changed; `changes` lists each changed field."),
    e("lead.deleted", "A lead was deleted."),
    e("lead.converted", "A lead was converted into a contact, account or opportunity."),
    e("contact.created", "A contact was created."),
    e("contact.updated", "A contact's fields changed; `changes` lists each changed field."),
    e("contact.deleted", "A contact was deleted."),
    e("contact.assigned", "A contact was assigned to an owner."),
    e("account.created", "An account was created."),
    e("account.updated", "An account's fields changed; `changes` lists each changed field."),
    e("opportunity.created", "An opportunity was created."),
    e("opportunity.updated", "An opportunity's fields changed; `changes` lists each changed field."),
    e("opportunity.won", "An opportunity was closed as won."),
    e("opportunity.lost", "An opportunity was closed as lost."),
    e("deal.created", "A deal was created."),
    e("deal.updated", "A deal's fields changed; `changes` lists each changed field."),
    e("deal.stage_changed", "A deal moved to another pipeline stage."),
    e("deal.won", "A deal was won."),
    e("deal.lost", "A deal was lost."),
    e("deal.assigned", "A deal was assigned to an owner."),
    e("quote.created", "A quote was created."),
    e("quote.approved", "A quote was approved."),
    e("quote.sent", "A quote was sent to the customer."),
    e("order.created", "An order was created."),
    e("order.completed", "An order was completed."),
    e("meeting.scheduled", "A meeting was scheduled."),
    e("meeting.completed", "A meeting took place."),
    e("task.created", "A task was created."),
    e("task.completed", "A task was completed."),
    e("activity.created", "An activity (call, email, note) was logged."),
    e("pipeline.updated", "A pipeline's stages or settings changed."),
    e("conversation.created", "A conversation was started."),
    e("conversation.assigned", "A conversation was assigned to an agent."),
    e("conversation.status_changed", "A conversation was opened, snoozed or closed."),
    e("message.received", "An inbound message arrived."),
    e("message.sent", "An outbound message was sent."),
    e("message.delivered", "An outbound message was delivered."),
    e("message.read", "An outbound message was read."),
    e("message.failed", "An outbound message could not be delivered."),
    e("broadcast.response", "A recipient answered a broadcast."),
    e("zoom.recording.completed", "A Zoom meeting recording is ready."),
    e("person.created", "A person was created."),
    e("person.updated", "A person's fields changed; `changes` lists each changed field."),
    e("email.sent", "An email was sent."),
    e("email.opened", "A sent email was opened."),
    e("email.clicked", "A link in a sent email was clicked."),
    e("email.replied", "A sent email was replied to."),
    e("email.bounced", "A sent email bounced."),
    e("call.completed", "A call ended."),
    e("cadence.membership_changed", "A person joined or left a cadence."),
    e("edgehook.delivery.failing", "A delivery to one of your webhooks failed its third attempt; it keeps retrying."),
    e("edgehook.delivery.exhausted", "A delivery to one of your webhooks failed its last attempt."),
    e("edgehook.webhook.disabled", "One of your webhooks was disabled after repeated delivery failures."),
    e("edgehook.webhook.recovered", "One of your webhooks delivered successfully again after failed deliveries."),
];

/// edgehook's own operational events start with this. `*` does not select them: a webhook opts in with `edgehook.*`
/// (or a narrower pattern), so no subscriber of everything is surprised by them.
pub const OPERATIONAL_PREFIX: &str = "edgehook.";
/// Every operational event.
pub const ALL_OPERATIONAL: &str = "edgehook.*";
/// The name `edgehook.webhook.disabled` had before; still accepted in subscriptions, and selects it.
pub const LEGACY_DISABLED: &str = "webhook.disabled";
pub const WEBHOOK_DISABLED: &str = "edgehook.webhook.disabled";

pub fn is_operational(event_type: &str) -> bool {
    event_type.starts_with(OPERATIONAL_PREFIX)
}

/// The resource of a type: everything before the last dot (`zoom.recording` for `zoom.recording.completed`).
pub fn resource_of(event_type: &str) -> &str {
    event_type.rsplit_once('.').map_or(event_type, |(resource, _)| resource)
}

pub fn is_known_type(event_type: &str) -> bool {
    EVENT_TYPES.iter().any(|t| t.name == event_type)
}

/// Whether a subscription pattern names something real: a known type, `*`, or `resource.*` for a known resource.
pub fn is_valid_pattern(pattern: &str) -> bool {
    if pattern == "*" || pattern == ALL_OPERATIONAL || pattern == LEGACY_DISABLED || is_known_type(pattern) {
        return true;
    }
    match pattern.strip_suffix(".*") {
        Some(resource) => EVENT_TYPES.iter().any(|t| resource_of(t.name) == resource),
        None => false,
    }
}

/// Whether one subscription pattern selects an event type.
pub fn pattern_matches(pattern: &str, event_type: &str) -> bool {
    if is_operational(event_type) {
        if pattern == "*" {
            return false;
        }
        if pattern == ALL_OPERATIONAL || (pattern == LEGACY_DISABLED && event_type == WEBHOOK_DISABLED) {
            return true;
        }
    }
    if pattern == "*" || pattern == event_type {
        return true;
    }
    match pattern.strip_suffix(".*") {
        Some(resource) => resource_of(event_type) == resource,
        None => false,
    }
}

/// An event type's name is at most this long.
pub const MAX_TYPE_CHARS: usize = 100;

/// Whether `name` could name an event type an organization defines (`invoice.paid`): up to [`MAX_TYPE_CHARS`]
/// letters, digits, `_` and `-` in two or more dot-separated parts (a resource, then what happened to it), none
/// empty, and not one of edgehook's own (`edgehook.…`).
pub fn is_valid_type_name(name: &str) -> bool {
    name.contains('.')
        && name.len() <= MAX_TYPE_CHARS
        && !is_operational(name)
        && name
            .split('.')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
}

/// Whether a pattern could select types an organization defines: a type name or `resource.*`. Whether it names
/// one that exists is [`is_valid_pattern_with`]'s question.
pub fn is_plausible_pattern(pattern: &str) -> bool {
    match pattern.strip_suffix(".*") {
        Some(resource) => is_valid_type_name(&format!("{resource}.any")),
        None => is_valid_type_name(pattern),
    }
}

/// [`is_valid_pattern`] for an organization that defined the types `own` besides the default ones.
pub fn is_valid_pattern_with(pattern: &str, own: &[String]) -> bool {
    if is_valid_pattern(pattern) || own.iter().any(|t| t == pattern) {
        return true;
    }
    pattern.strip_suffix(".*").is_some_and(|resource| own.iter().any(|t| resource_of(t) == resource))
}

/// Whether a list may be narrowed to this type: a known one, or a name an organization could have defined.
pub fn could_be_type(name: &str) -> bool {
    is_known_type(name) || is_valid_type_name(name)
}

/// The default type of that name, if there is one.
pub fn default_type(name: &str) -> Option<&'static EventType> {
    EVENT_TYPES.iter().find(|t| t.name == name)
}

/// Whether any of a webhook's patterns selects the event type.
pub fn subscribed(patterns: &[String], event_type: &str) -> bool {
    patterns.iter().any(|p| pattern_matches(p, event_type))
}

/// Event types grouped by resource, in their order, as `GET /api/webhooks/events` returns them; `name` reads an
/// item's type.
pub fn grouped<T>(items: impl IntoIterator<Item = T>, name: impl Fn(&T) -> &str) -> Vec<(String, Vec<T>)> {
    let mut groups: Vec<(String, Vec<T>)> = Vec::new();
    for item in items {
        let resource = resource_of(name(&item)).to_string();
        match groups.iter_mut().find(|(r, _)| *r == resource) {
            Some((_, types)) => types.push(item),
            None => groups.push((resource, vec![item])),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organizations_name_their_own_types_and_patterns_find_them() {
        for ok in ["invoice.paid", "ticket.closed", "billing.invoice.payment_failed", "a-b.c_d", "Order.Created"] {
            assert!(is_valid_type_name(ok), "{ok}");
        }
        let long = "a".repeat(MAX_TYPE_CHARS + 1);
        for bad in
            ["", "ping", ".paid", "invoice.", "invoice..paid", "invoice.*", "*", "in voice.paid", "edgehook.x", &long]
        {
            assert!(!is_valid_type_name(bad), "{bad}");
        }
        assert!(is_plausible_pattern("invoice.*") && is_plausible_pattern("invoice.paid"));
        assert!(!is_plausible_pattern("*.paid") && !is_plausible_pattern("edgehook.delivery.*"));
        let own = vec!["invoice.paid".to_string(), "ticket.closed".to_string()];
        for ok in ["invoice.paid", "invoice.*", "ticket.*", "lead.created", "deal.*", "*"] {
            assert!(is_valid_pattern_with(ok, &own), "{ok}");
        }
        for bad in ["invoice.refunded", "refund.*", "invoice.paid.*"] {
            assert!(!is_valid_pattern_with(bad, &own), "{bad}");
        }
        assert_eq!(default_type("lead.created").map(|t| t.name), Some("lead.created"));
        assert!(default_type("invoice.paid").is_none());
    }

    #[test]
    fn catalogue_names_every_type_once() {
        assert_eq!(EVENT_TYPES.len(), 54);
        let mut names: Vec<_> = EVENT_TYPES.iter().map(|t| t.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), EVENT_TYPES.len());
        assert!(is_known_type("zoom.recording.completed"));
        assert!(is_known_type("edgehook.webhook.disabled"));
        assert!(!is_known_type("webhook.disabled"), "the old name is a pattern, not a type");
        assert!(!is_known_type("lead.exploded"));
    }

    #[test]
    fn patterns_select_exact_wildcard_and_all() {
        assert!(pattern_matches("lead.created", "lead.created"));
        assert!(!pattern_matches("lead.created", "lead.updated"));
        assert!(pattern_matches("lead.*", "lead.updated"));
        assert!(!pattern_matches("lead.*", "contact.updated"));
        assert!(pattern_matches("zoom.recording.*", "zoom.recording.completed"));
        assert!(!pattern_matches("zoom.*", "zoom.recording.completed"));
        assert!(pattern_matches("*", "deal.won"));
        assert!(subscribed(&["deal.won".into(), "lead.*".into()], "lead.deleted"));
        assert!(!subscribed(&[], "lead.deleted"));
    }

    #[test]
    fn operational_events_are_opted_into_and_the_old_name_still_selects_disabled() {
        for t in ["edgehook.delivery.failing", "edgehook.webhook.disabled"] {
            assert!(!pattern_matches("*", t), "* alone does not select {t}");
            assert!(pattern_matches("edgehook.*", t));
        }
        assert!(pattern_matches("edgehook.delivery.*", "edgehook.delivery.exhausted"));
        assert!(!pattern_matches("edgehook.delivery.*", "edgehook.webhook.recovered"));
        assert!(pattern_matches("webhook.disabled", "edgehook.webhook.disabled"));
        assert!(!pattern_matches("webhook.disabled", "edgehook.webhook.recovered"));
        assert!(!pattern_matches("edgehook.*", "lead.created"));
        for ok in ["edgehook.*", "edgehook.webhook.*", "webhook.disabled", "edgehook.delivery.failing"] {
            assert!(is_valid_pattern(ok), "{ok}");
        }
    }

    #[test]
    fn only_real_patterns_are_valid() {
        for ok in ["*", "lead.*", "deal.stage_changed", "zoom.recording.*", "webhook.disabled"] {
            assert!(is_valid_pattern(ok), "{ok}");
        }
        for bad in ["", "lead", "lead.", "nope.*", "lead.**", "*.created", "LEAD.CREATED", " lead.created"] {
            assert!(!is_valid_pattern(bad), "{bad}");
        }
    }

    #[test]
    fn groups_keep_catalogue_order() {
        let groups = grouped(EVENT_TYPES.iter(), |t| t.name);
        assert_eq!(groups[0].0, "lead");
        assert_eq!(groups[0].1.len(), 4);
        assert!(groups.iter().any(|(r, t)| *r == "deal" && t.len() == 6));
        assert_eq!(groups.iter().map(|(_, t)| t.len()).sum::<usize>(), EVENT_TYPES.len());
    }
}
