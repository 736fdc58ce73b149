//! What the HTTP surfaces share beyond the application: caches that exist
//! only to answer requests faster, the request metrics, and the login
//! throttle of the pages.

use std::sync::Arc;

use koudai_app::App;

use crate::cache::{LoginThrottle, MerchantKeys, PageRate};
use crate::metrics::HttpMetrics;

/// The state every handler receives. Cheap to clone.
#[derive(Clone)]
pub struct HttpState {
    pub app: Arc<App>,
    pub merchant_keys: Arc<MerchantKeys>,
    pub metrics: Arc<HttpMetrics>,
    /// Password attempts per login.
    pub logins: Arc<LoginThrottle>,
    /// Password attempts per client address, across logins.
    pub login_addresses: Arc<LoginThrottle>,
    /// Requests to the pages per client address.
    pub page_rate: Arc<PageRate>,
}

impl HttpState {
    pub fn new(app: Arc<App>) -> HttpState {
        HttpState {
            app,
            merchant_keys: Arc::default(),
            metrics: Arc::new(HttpMetrics::new()),
            logins: Arc::default(),
            login_addresses: Arc::new(LoginThrottle::with_max(crate::cache::MAX_ATTEMPTS_PER_ADDRESS)),
            page_rate: Arc::default(),
        }
    }
}
