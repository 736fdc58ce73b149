//! What the HTTP surfaces share beyond the application: caches that exist
//! only to answer requests faster, the request metrics, and the login
//! throttle of the pages.

use std::sync::Arc;

use koudai_app::App;

use crate::cache::{LoginThrottle, MerchantKeys, Nonces, PageRate};
use crate::metrics::HttpMetrics;

/// The state every handler receives. Cheap to clone.
#[derive(Clone)]
pub struct HttpState {
    pub app: Arc<App>,
    pub merchant_keys: Arc<MerchantKeys>,
    pub nonces: Arc<Nonces>,
    pub metrics: Arc<HttpMetrics>,
    /// Password attempts per login.
    pub logins: Arc<LoginThrottle>,
    /// Password attempts per client address, across logins.
    pub login_addresses: Arc<LoginThrottle>,
    /// Requests to the pages per client address.
    pub page_rate: Arc<PageRate>,
    /// Wall time this state was made: an embedded server's nonce memory
    /// starts empty here, so requests stamped earlier are refused.
    pub started_at: i64,
}

impl HttpState {
    pub fn new(app: Arc<App>) -> HttpState {
        HttpState {
            started_at: app.clock.wall_now().unix(),
            app,
            merchant_keys: Arc::default(),
            nonces: Arc::default(),
            metrics: Arc::new(HttpMetrics::new()),
            logins: Arc::default(),
            login_addresses: Arc::new(LoginThrottle::with_max(crate::cache::MAX_ATTEMPTS_PER_ADDRESS)),
            page_rate: Arc::default(),
        }
    }
}
