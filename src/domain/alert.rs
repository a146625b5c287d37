//! The alert e-mail sent to an organization when one of its webhooks is disabled automatically: plain text that
//! says which webhook, why, since when, and how to turn it back on and catch up.

use crate::domain::time::iso8601;

/// The most an alert address may be (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;

/// Whether `address` is a plausible single mailbox: `local@domain.tld`, printable, no spaces or line breaks (so it
/// can never smuggle a header or a second recipient).
pub fn is_valid_email(address: &str) -> bool {
    let Some((local, domain)) = address.split_once('@') else { return false };
    address.len() <= MAX_EMAIL_CHARS
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && address.chars().all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | ',' | ';' | '"' | '\\'))
}

/// What the alert is about.
pub struct Disabled<'a> {
    pub webhook_id: &'a str,
    pub name: &'a str,
    pub url: &'a str,
    pub reason: &'a str,
    pub at: i64,
}

/// One line of caller-controlled text: control characters (line breaks included) become spaces, and it is cut at
/// `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let line: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if line.chars().count() > max {
        format!("{}…", line.chars().take(max).collect::<String>())
    } else {
        line
    }
}

/// The subject and plain-text body of the alert.
pub fn disabled_email(d: &Disabled<'_>) -> (String, String) {
    let name = one_line(d.name, 80);
    let since = iso8601(d.at);
    let subject = format!("Webhook \"{name}\" was disabled");
    let body = format!(
        "Your webhook \"{name}\" was disabled automatically and receives no events until it is turned back on.\n\
         \n\
         Webhook:  {name} ({id})\n\
         URL:      {url}\n\
         Why:      {reason}\n\
         Since:    {since}\n\
         \n\
         To turn it back on and catch up:\n\
         \n\
         1. Fix the endpoint, then check it with a test event:\n\
         \x20  POST /api/webhooks/{id}/test\n\
         2. Re-enable the webhook (or tick Active in the dashboard):\n\
         \x20  PATCH /api/webhooks/{id}  {{\"isActive\": true}}\n\
         3. Deliver the events it missed while disabled, in their original order:\n\
         \x20  POST /api/webhooks/{id}/replay-missing  {{\"since\": \"{since}\"}}\n\
         4. Send again the deliveries that failed before it was disabled:\n\
         \x20  POST /api/webhooks/{id}/recover  {{\"since\": \"<when the failures began>\"}}\n\
         \n\
         You receive this because this address is the alert e-mail of your organization's webhooks\n\
         (PUT /api/settings {{\"alertEmail\": …}}).\n",
        id = d.webhook_id,
        url = one_line(d.url, 2048),
        reason = one_line(d.reason, 500),
    );
    (subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_single_plain_mailboxes_are_valid() {
        for ok in ["ops@example.com", "first.last+alerts@sub.example.co.uk"] {
            assert!(is_valid_email(ok), "{ok}");
        }
        for bad in [
            "",
            "ops",
            "ops@",
            "@example.com",
            "ops@example",
            "ops@.example.com",
            "a b@example.com",
            "ops@example.com\r\nBcc: x@evil.example",
            "ops@example.com, x@evil.example",
            "Ops <ops@example.com>",
            "a@b@example.com",
        ] {
            assert!(!is_valid_email(bad), "{bad:?}");
        }
        assert!(!is_valid_email(&format!("{}@example.com", "a".repeat(250))));
    }

    #[test]
    fn the_alert_says_which_why_since_when_and_how_to_recover() {
        let (subject, body) = disabled_email(&Disabled {
            webhook_id: "wh_1",
            name: "CRM\r\nBcc: evil@example.com",
            url: "https://crm.example/hooks",
            reason: "disabled after 50 consecutive failed deliveries",
            at: 1_800_000_000_000,
        });
        assert_eq!(subject, "Webhook \"CRM  Bcc: evil@example.com\" was disabled");
        assert!(!subject.contains('\n') && !subject.contains('\r'));
        for part in [
            "wh_1",
            "https://crm.example/hooks",
            "disabled after 50 consecutive failed deliveries",
            "Since:    2027-01-15T08:00:00.000Z",
            "PATCH /api/webhooks/wh_1  {\"isActive\": true}",
            "POST /api/webhooks/wh_1/replay-missing  {\"since\": \"2027-01-15T08:00:00.000Z\"}",
            "POST /api/webhooks/wh_1/recover",
        ] {
            assert!(body.contains(part), "{part}\n{body}");
        }
    }
}
