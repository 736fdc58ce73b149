//! The WeChat Pay APIv3 surface (`/v3/…`): requests authenticated by
//! [`auth::Signed`], their bodies read by [`body`], every answer signed by
//! [`sign::sign_responses`], and every failure a [`V3Error`] in the
//! catalogue's shape. The mappings from the use cases' errors are
//! exhaustive (no `_` arm), so a new refusal in the application cannot
//! reach a client untranslated.

pub mod auth;
mod bills;
pub mod body;
mod certificates;
mod error;
mod onboarding;
mod payments;
mod refunds;
mod sharing;
pub mod sign;

pub use body::MAX_BODY_BYTES;
pub use error::V3Error;

use axum::middleware;
use axum::routing::{get, post};
use axum::Router;

use koudai_protocol::ErrorCode;

use crate::state::HttpState;

pub fn routes(state: HttpState) -> Router<HttpState> {
    Router::new()
        .route("/v3/certificates", get(certificates::list))
        .route("/v3/pay/transactions/jsapi", post(payments::prepay_jsapi))
        .route("/v3/pay/transactions/native", post(payments::prepay_native))
        .route("/v3/pay/transactions/h5", post(payments::prepay_h5))
        .route("/v3/pay/transactions/app", post(payments::prepay_app))
        .route("/v3/pay/transactions/id/{transaction_id}", get(payments::query_by_id))
        .route("/v3/pay/transactions/out-trade-no/{out_trade_no}", get(payments::query_by_out_trade_no))
        .route("/v3/pay/transactions/out-trade-no/{out_trade_no}/close", post(payments::close))
        .route("/v3/pay/partner/transactions/jsapi", post(payments::partner_prepay_jsapi))
        .route("/v3/pay/partner/transactions/native", post(payments::partner_prepay_native))
        .route("/v3/pay/partner/transactions/h5", post(payments::partner_prepay_h5))
        .route("/v3/pay/partner/transactions/app", post(payments::partner_prepay_app))
        .route("/v3/pay/partner/transactions/id/{transaction_id}", get(payments::partner_query_by_id))
        .route("/v3/pay/partner/transactions/out-trade-no/{out_trade_no}", get(payments::partner_query_by_out_trade_no))
        .route("/v3/pay/partner/transactions/out-trade-no/{out_trade_no}/close", post(payments::partner_close))
        .route("/v3/refund/domestic/refunds", post(refunds::create))
        .route("/v3/refund/domestic/refunds/{out_refund_no}", get(refunds::query))
        .route("/v3/bill/tradebill", get(bills::trade_bill))
        .route("/v3/bill/fundflowbill", get(bills::fund_flow_bill))
        .route("/v3/profitsharing/receivers/add", post(sharing::add_receiver))
        .route("/v3/profitsharing/receivers/delete", post(sharing::delete_receiver))
        .route("/v3/profitsharing/orders", post(sharing::create_order))
        .route("/v3/profitsharing/orders/unfreeze", post(sharing::unfreeze))
        .route("/v3/profitsharing/orders/{out_order_no}", get(sharing::query_order))
        .route("/v3/profitsharing/transactions/{transaction_id}/amounts", get(sharing::amounts))
        .route("/v3/profitsharing/merchant-configs/{sub_mchid}", get(sharing::merchant_config))
        .route("/v3/profitsharing/return-orders", post(sharing::create_return))
        .route("/v3/profitsharing/return-orders/{out_return_no}", get(sharing::query_return))
        .route("/v3/applyment4sub/applyment/", post(onboarding::submit))
        .route("/v3/applyment4sub/applyment", post(onboarding::submit))
        .route("/v3/applyment4sub/applyment/business_code/{business_code}", get(onboarding::by_business_code))
        .route("/v3/applyment4sub/applyment/applyment_id/{applyment_id}", get(onboarding::by_applyment_id))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(tower_http::limit::RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        // Uploads carry files: their own, larger limit (checked when read).
        .route("/v3/merchant/media/upload", post(onboarding::upload_image))
        .route("/v3/merchant/media/video_upload", post(onboarding::upload_video))
        .layer(middleware::from_fn_with_state(state, sign::sign_responses))
        // The bill file itself is not signed (§6.2); the request is.
        .route("/v3/billdownload/file", get(bills::download))
}

/// 404 in the catalogue's shape for every unknown path.
pub async fn not_found() -> V3Error {
    V3Error::new(ErrorCode::NotFound)
}

async fn method_not_allowed() -> V3Error {
    V3Error::new(ErrorCode::MethodNotAllowed)
}
