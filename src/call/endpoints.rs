//! Endpoints that register to tandem (SPEC.md §1, §2): the shard owning a
//! REGISTER's Call-ID runs the digest check and the VOS rules on its
//! [`Registrar`] replica; the changes it makes come out as events the engine
//! copies to every other shard, so any shard can accept an INVITE by the
//! binding its source registered.

use super::{Core, Now, TimerKey};
use crate::config::Config;
use crate::registrar::{Event, Settings};
use crate::sip::Message;
use std::net::SocketAddr;
use std::sync::Arc;

/// REGISTERs handled per second per source IP (burst twice that); beyond, dropped and counted.
pub const PER_SOURCE_PER_SEC: u32 = 20;
/// How long a digest nonce is good for.
const NONCE_TTL_MS: u64 = 300_000;

/// The registrar's settings from the configuration.
pub fn settings(cfg: &Config, default_realm: &str, secret: u64) -> Settings {
    let sip = &cfg.sip;
    Settings {
        realm: sip.realm.as_ref().map_or_else(|| default_realm.to_owned(), |r| r.get_ref().clone()),
        replace: sip.endpoint_register_replace,
        retry: sip.endpoint_register_retry,
        suspend_ms: u64::from(sip.endpoint_register_suspend) * 1000,
        min_expires: sip.endpoint_register_min_expires,
        max_expires: sip.endpoint_register_max_expires,
        nonce_ttl_ms: NONCE_TTL_MS,
        secret,
        per_source_per_sec: PER_SOURCE_PER_SEC,
    }
}

impl Core {
    /// A REGISTER to tandem from an endpoint.
    pub(super) fn on_register(&mut self, msg: &Message<'_>, peer: SocketAddr, now: Now) {
        let snap = self.sync_registrar_settings();
        let customers = &snap.config.mapping_gateways;
        let password_of = |user: &str| {
            customers
                .iter()
                .find(|c| c.user.as_ref().is_some_and(|u| u.get_ref() == user))
                .and_then(|c| c.password.as_deref())
        };
        let handled = self.registrar.handle(msg, peer, now.ms, password_of);
        if let Some(rsp) = handled.response {
            self.outbox.push((rsp, peer));
        }
        if !handled.events.is_empty() {
            self.registrar_events.extend(handled.events);
            self.schedule_binding_expiry();
        }
    }

    /// Registrar changes to copy to the other shards.
    pub fn poll_registrar_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.registrar_events)
    }

    /// A change another shard made.
    pub fn apply_registrar_event(&mut self, event: &Event, now: Now) {
        self.sync_registrar_settings();
        self.registrar.apply(event, now.ms);
        self.schedule_binding_expiry();
    }

    /// The customer user whose binding `peer` registered, if any.
    pub(super) fn registered_user(&self, peer: SocketAddr, now: Now) -> Option<&str> {
        self.registrar.user_at(peer, now.ms)
    }

    /// The binding timer: drop what expired.
    pub(super) fn expire_bindings(&mut self, now: Now) {
        self.sync_registrar_settings();
        self.binding_timer = None;
        self.registrar.expire(now.ms);
        self.schedule_binding_expiry();
    }

    /// After a reload, the new realm and VOS rules (bindings stay). Every
    /// registrar entry point runs this, so replicas count failures with the
    /// same `retry`. A `Weak` is kept: an old snapshot is not held alive.
    fn sync_registrar_settings(&mut self) -> Arc<crate::routing::snapshot::RoutingSnapshot> {
        let snap = self.router.snapshot();
        if super::newly_seen(&mut self.registrar_config, &snap) {
            self.registrar.set_settings(settings(&snap.config, &self.local.host, self.registrar_secret));
        }
        snap
    }

    fn schedule_binding_expiry(&mut self) {
        if let Some(t) = self.registrar.next_expiry()
            && self.binding_timer.is_none_or(|s| t < s)
        {
            self.wheel.insert(t, TimerKey::Bindings);
            self.binding_timer = Some(t);
        }
    }
}
