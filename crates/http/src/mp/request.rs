//! Reading a call of the official-account surface: its method, query and
//! caller (taken apart before any await), its JSON body, and the account
//! behind its `access_token`.

use axum::extract::Request;
use axum::http::Method;
use serde_json::Value;

use koudai_app::mp;
use koudai_protocol::mp::MpError;

use super::error::Failure;
use crate::state::HttpState;

/// Largest body of the mp surface.
const MAX_BODY: usize = 1024 * 1024;

/// What a handler needs of a request, taken apart before any await (a
/// request body is not `Sync`).
pub(super) struct Call {
    pub(super) method: Method,
    query: Vec<(String, String)>,
    pub(super) peer: Option<std::net::IpAddr>,
}

impl Call {
    pub(super) fn of(req: Request) -> (Call, axum::body::Body) {
        let peer = req.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
        let method = req.method().clone();
        let query = form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()).into_owned().collect();
        (Call { method, query, peer }, req.into_body())
    }

    pub(super) fn param(&self, name: &str) -> String {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
    }

    pub(super) fn require(&self, method: Method) -> Result<(), Failure> {
        match (self.method == method, method) {
            (true, _) => Ok(()),
            (false, Method::GET) => Err(MpError::require_get().into()),
            (false, _) => Err(MpError::require_post().into()),
        }
    }
}

/// A POST body: its bytes and its JSON (44002 empty, 47001 not JSON).
pub(super) async fn body(b: axum::body::Body) -> Result<(Vec<u8>, Value), Failure> {
    let bytes = axum::body::to_bytes(b, MAX_BODY).await.map_err(|_| MpError::data_format())?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(MpError::empty_post_data().into());
    }
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| MpError::data_format())?;
    if crate::hygiene::check_json(&value).is_err() {
        return Err(MpError::data_format().into());
    }
    Ok((bytes.to_vec(), value))
}

/// The account behind the request's `access_token`, the call of `api`
/// counted against its quota.
pub(super) async fn account(state: &HttpState, c: &Call, api: &str) -> Result<koudai_store::MpAccount, Failure> {
    Ok(mp::token::authenticate(&state.app, Some(c.param("access_token").as_str()), api).await?)
}
