//! E-mail alerts through Cloudflare's `send_email` binding (`ALERTS`): when a webhook is disabled automatically,
//! the organization's alert address hears about it. A failure to e-mail is logged and changes nothing else: the
//! disable and its `edgehook.webhook.disabled` event are already written.

use worker::{Env, SendEmailBuilder};

use crate::config::Config;
use crate::domain::alert::{disabled_email, Disabled};
use crate::store::{self, webhooks::WebhookRow};

/// E-mails the organization of `webhook`, if it set an alert address, that the webhook was disabled at `at`.
pub async fn webhook_disabled(env: &Env, config: &Config, webhook: &WebhookRow, reason: &str, at: i64) {
    if let Err(e) = send_disabled(env, config, webhook, reason, at).await {
        worker::console_error!("alert e-mail about {} not sent: {e}", webhook.id);
    }
}

async fn send_disabled(env: &Env, config: &Config, webhook: &WebhookRow, reason: &str, at: i64) -> Result<(), String> {
    let db = store::organization(env, &webhook.organization_id).map_err(|e| e.to_string())?;
    let settings = store::settings::get(&db, &webhook.organization_id).await.map_err(|e| e.to_string())?;
    let Some(to) = settings.alert_email else { return Ok(()) };
    let (subject, text) = disabled_email(&Disabled {
        webhook_id: webhook.id.as_str(),
        name: &webhook.name,
        url: &webhook.url,
        reason,
        at,
    });
    let message = SendEmailBuilder::new(&config.alert_email_from, &to, &subject);
    message.set_text(&text);
    let binding = env.send_email("ALERTS").map_err(|e| format!("no ALERTS binding: {e}"))?;
    binding.send_with_builder(&message).await.map_err(|e| format!("{e:?}"))?;
    worker::console_log!("alert e-mail sent: {} disabled", webhook.id);
    Ok(())
}
