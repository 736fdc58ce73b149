//! Sub-merchant onboarding (§9): media upload (multipart, signed over the
//! `meta` part), application submit and queries.

use axum::extract::{Path, Request, State};
use axum::response::Response;
use serde_json::json;

use koudai_app::parties::onboarding::{self, ApplymentKey, MediaKind};
use koudai_domain::FieldError;
use koudai_protocol::ErrorCode;

use super::auth::{authenticate, Signed};
use super::body::{clean_uri, json_value, ok};
use super::error::V3Error;
use super::sign::KeyModeSlot;
use crate::state::HttpState;

/// Largest upload body: the 5 MiB file limit plus the multipart framing.
pub const MEDIA_MAX_BODY: usize = 6 * 1024 * 1024;

async fn upload(state: HttpState, req: Request, kind: MediaKind) -> Result<Response, V3Error> {
    let (parts, body) = req.into_parts();
    clean_uri(&parts.uri)?;
    let target =
        parts.uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| parts.uri.path().to_owned());
    let body = axum::body::to_bytes(body, MEDIA_MAX_BODY)
        .await
        .map_err(|_| V3Error::message(ErrorCode::ParamError, "文件过大或请求体不完整").at("file"))?;
    let content_type = parts.headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let (meta, file) = onboarding::read_upload(content_type, &body).map_err(V3Error::body_field)?;
    // The signature covers the meta part exactly as sent (§9.1).
    let slot = parts.extensions.get::<KeyModeSlot>();
    let merchant = authenticate(&state, slot, parts.method.as_str(), &target, &parts.headers, &meta).await?;
    let media_id = onboarding::upload(&state.app, &merchant, kind, &meta, &file).await?;
    ok(&json!({"media_id": media_id}))
}

// 图片上传
pub async fn upload_image(State(state): State<HttpState>, req: Request) -> Result<Response, V3Error> {
    upload(state, req, MediaKind::Image).await
}

// 视频上传
pub async fn upload_video(State(state): State<HttpState>, req: Request) -> Result<Response, V3Error> {
    upload(state, req, MediaKind::Video).await
}

// 提交申请单
pub async fn submit(State(state): State<HttpState>, req: Signed) -> Result<Response, V3Error> {
    let value = json_value(&req.body)?;
    if !value.is_object() {
        return Err(V3Error::body_field(FieldError::new("", "请求体必须是JSON对象")));
    }
    ok(&onboarding::submit(&state.app, &req.merchant, req.serial.as_deref(), value).await?)
}

// 通过业务申请编号查询申请状态
pub async fn by_business_code(
    State(state): State<HttpState>,
    Path(code): Path<String>,
    req: Signed,
) -> Result<Response, V3Error> {
    ok(&onboarding::query(&state.app, &req.merchant, &ApplymentKey::BusinessCode(code)).await?)
}

// 通过申请单号查询申请状态
pub async fn by_applyment_id(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    req: Signed,
) -> Result<Response, V3Error> {
    let id: i64 = id
        .parse()
        .map_err(|_| V3Error::field(FieldError::new("applyment_id", "applyment_id 应为数字"), "uri_template"))?;
    ok(&onboarding::query(&state.app, &req.merchant, &ApplymentKey::ApplymentId(id)).await?)
}
