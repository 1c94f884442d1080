//! What every handler can reach: settings, backends, the SMS provider and the room registry.

use crate::actors::registry::RoomRegistry;
use crate::settings::Settings;
use crate::storage::Backends;
use std::collections::HashSet;
use std::sync::Arc;

use super::room_hooks::RoomHooks;
use super::room_list::RoomList;
use super::sms::SmsProvider;
use crate::actors::notices::Notices;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub b: Backends,
    pub sms: Arc<dyn SmsProvider>,
    pub admin_phones: Arc<HashSet<String>>,
    pub rooms: RoomRegistry,
    pub room_list: Arc<RoomList>,
    pub notices: Notices,
    pub hooks: RoomHooks,
    pub pk: crate::actors::pk::PkService,
    pub rain: crate::actors::rain::RainService,
    pub presence: crate::actors::presence::Presence,
    /// Fired when the server stops: every socket task closes with 1001 (see `startup::AppHandle`).
    pub shutdown: crate::shutdown::Shutdown,
}

impl AppState {
    pub fn is_admin_phone(&self, phone: &str) -> bool {
        self.admin_phones.contains(phone)
    }
}
