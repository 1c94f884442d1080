//! Sending login codes. The dev provider "sends" the fixed code `1000` and reveals it in the
//! answer; `none` refuses, until a real provider is wired for production.

use crate::domain::user::Phone;

#[async_trait::async_trait]
pub trait SmsProvider: Send + Sync + 'static {
    /// Sends a fresh code to `phone` and returns it (to be stored for checking).
    async fn send_code(&self, phone: &Phone) -> anyhow::Result<String>;
    /// A code to reveal in the answer; only the dev provider has one.
    fn dev_code(&self) -> Option<&str>;
}

pub struct DevSms;

#[async_trait::async_trait]
impl SmsProvider for DevSms {
    async fn send_code(&self, phone: &Phone) -> anyhow::Result<String> {
        tracing::info!(phone = %phone.masked(), "dev SMS provider: login code is 1000");
        Ok("1000".into())
    }
    fn dev_code(&self) -> Option<&str> {
        Some("1000")
    }
}

pub struct NoSms;

#[async_trait::async_trait]
impl SmsProvider for NoSms {
    async fn send_code(&self, _phone: &Phone) -> anyhow::Result<String> {
        anyhow::bail!("no SMS provider is configured (auth.sms_provider)")
    }
    fn dev_code(&self) -> Option<&str> {
        None
    }
}

pub fn from_setting(name: &str) -> anyhow::Result<std::sync::Arc<dyn SmsProvider>> {
    match name {
        "dev" => Ok(std::sync::Arc::new(DevSms)),
        "none" => Ok(std::sync::Arc::new(NoSms)),
        other => anyhow::bail!("auth.sms_provider: unknown provider {other:?} (dev or none)"),
    }
}
