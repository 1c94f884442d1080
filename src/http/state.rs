//! What every handler can reach: settings, backends, the SMS provider and the room registry.

use crate::actors::registry::RoomRegistry;
use crate::settings::Settings;
use crate::storage::Backends;
use std::collections::HashSet;
use std::sync::Arc;

use super::sms::SmsProvider;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub b: Backends,
    pub sms: Arc<dyn SmsProvider>,
    pub admin_phones: Arc<HashSet<String>>,
    pub rooms: RoomRegistry,
}

impl AppState {
    pub fn is_admin_phone(&self, phone: &str) -> bool {
        self.admin_phones.contains(phone)
    }
}
