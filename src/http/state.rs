//! What every handler can reach: the services (settings, backends, actors' handles), the SMS
//! provider and the admin phones. `AppState` derefs to `Services`.

use super::sms::SmsProvider;
use crate::services::Services;
use std::collections::HashSet;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub svc: Services,
    pub sms: Arc<dyn SmsProvider>,
    pub admin_phones: Arc<HashSet<String>>,
    /// Fired when the server stops: every socket task closes with 1001 (see `startup::AppHandle`).
    pub shutdown: crate::shutdown::Shutdown,
}

impl std::ops::Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.svc
    }
}

impl AppState {
    pub fn is_admin_phone(&self, phone: &str) -> bool {
        self.admin_phones.contains(phone)
    }
}
