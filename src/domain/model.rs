//! The states the data plane moves through, as types: a delivery's status, a webhook's state. Rows carry them typed
//! (D1 stores their text or 0/1), so a misspelt status or a stray integer cannot reach a decision.

use serde::{Deserialize, Deserializer, Serialize};

/// Where a delivery is: waiting for an attempt (or one in flight), or finished either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Pending,
    Succeeded,
    Failed,
}

impl DeliveryStatus {
    /// The text stored in D1 and shown by the API.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        match s {
            "pending" => Some(DeliveryStatus::Pending),
            "succeeded" => Some(DeliveryStatus::Succeeded),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        }
    }
}

/// Whether a webhook receives deliveries: active, switched off by a caller, or disabled by edgehook after
/// `AUTO_DISABLE_AFTER` consecutive failed deliveries (with the reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookState {
    Active,
    Inactive,
    Disabled { reason: String },
}

impl WebhookState {
    /// From the row's `is_active` flag and `disabled_reason`.
    pub fn of(is_active: bool, disabled_reason: Option<&str>) -> WebhookState {
        match (is_active, disabled_reason) {
            (true, _) => WebhookState::Active,
            (false, Some(reason)) => WebhookState::Disabled { reason: reason.to_string() },
            (false, None) => WebhookState::Inactive,
        }
    }

    /// Why a delivery of a webhook in this state is not sent (`None` when it is active).
    pub fn refusal(&self) -> Option<String> {
        match self {
            WebhookState::Active => None,
            WebhookState::Inactive => Some("webhook inactive".into()),
            WebhookState::Disabled { reason } => Some(format!("webhook inactive: {reason}")),
        }
    }
}

/// A D1 integer flag (0 or 1) as a bool: SQLite has no boolean type.
pub fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(f64::deserialize(deserializer)? != 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_their_stored_text() {
        for s in [DeliveryStatus::Pending, DeliveryStatus::Succeeded, DeliveryStatus::Failed] {
            assert_eq!(DeliveryStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(DeliveryStatus::parse("done"), None);
    }

    #[test]
    fn a_webhook_state_says_why_it_sends_nothing() {
        assert_eq!(WebhookState::of(true, Some("old reason")).refusal(), None);
        assert_eq!(WebhookState::of(false, None).refusal().as_deref(), Some("webhook inactive"));
        assert_eq!(
            WebhookState::of(false, Some("disabled after 50 consecutive failed deliveries")).refusal().as_deref(),
            Some("webhook inactive: disabled after 50 consecutive failed deliveries")
        );
    }

    #[test]
    fn flags_read_d1_integers() {
        #[derive(Deserialize)]
        struct Row {
            #[serde(deserialize_with = "flag")]
            on: bool,
        }
        assert!(serde_json::from_str::<Row>(r#"{"on":1}"#).unwrap().on);
        assert!(!serde_json::from_str::<Row>(r#"{"on":0}"#).unwrap().on);
    }
}
