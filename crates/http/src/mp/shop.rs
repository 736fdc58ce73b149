//! The WeChat Shop surface (`/merchant/…` at the host root, protocol notes
//! `wechat-shop.md` §1–§2): POST JSON with `?access_token=` (a GET that
//! carries a body is read the same; the three `getall` take none), HTTP
//! 200 errcode answers, `errmsg: "success"`; an unknown path is 40066. The
//! account must hold the `shop_api` capability (48001 with the reason), a
//! third-party platform permission set 5 (61007). Uploaded images are
//! served at `/shop/img/{id}`.

use axum::extract::{Path, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use serde_json::Value;

use koudai_app::commerce::shop;
use koudai_app::mp::MpFailure;
use koudai_protocol::mp::MpError;

use super::{body, Call, MpAnswer};
use crate::state::HttpState;

/// Largest image upload (the handler refuses above 1 MB with 40009).
const MAX_UPLOAD: usize = 2 * 1024 * 1024;

pub fn routes() -> Router<HttpState> {
    Router::new().route("/merchant/{*path}", any(dispatch)).route("/shop/img/{id}", get(image))
}

/// The operations, by path: whether the call needs no body.
const BODYLESS: [&str; 3] = ["express/getall", "group/getall", "shelf/getall"];
const WITH_BODY: [&str; 29] = [
    "order/getbyid",
    "order/getbyfilter",
    "order/setdelivery",
    "order/close",
    "create",
    "del",
    "update",
    "get",
    "getbystatus",
    "modproductstatus",
    "category/getsub",
    "category/getsku",
    "category/getproperty",
    "stock/add",
    "stock/reduce",
    "express/add",
    "express/del",
    "express/update",
    "express/getbyid",
    "group/add",
    "group/del",
    "group/propertymod",
    "group/productmod",
    "group/getbyid",
    "shelf/add",
    "shelf/del",
    "shelf/mod",
    "shelf/getbyid",
    "common/upload_img",
];

async fn dispatch(State(state): State<HttpState>, Path(path): Path<String>, req: Request) -> MpAnswer {
    MpAnswer(run(&state, &path, req).await)
}

async fn run(state: &HttpState, path: &str, req: Request) -> Result<Value, MpFailure> {
    let app = &state.app;
    let known = BODYLESS.contains(&path) || WITH_BODY.contains(&path);
    if !known {
        return Err(MpError::invalid_url().into());
    }
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (c, b) = Call::of(req);
    if !matches!(c.method, Method::GET | Method::POST) {
        return Err(MpError::require_post().into());
    }
    let token = c.param("access_token");
    let a = shop::gate(app, Some(token.as_str()), &format!("merchant/{path}")).await?;
    if path == "common/upload_img" {
        if c.method != Method::POST {
            return Err(MpError::require_post().into());
        }
        let bytes = axum::body::to_bytes(b, MAX_UPLOAD).await.map_err(|_| MpError::invalid_image_size())?;
        return shop::upload_image(app, &a, &c.param("filename"), content_type.as_deref(), &bytes).await;
    }
    match path {
        "express/getall" => return shop::all_express(app, &a).await,
        "group/getall" => return shop::all_groups(app, &a).await,
        "shelf/getall" => return shop::all_shelves(app, &a).await,
        _ => {}
    }
    let (_, v) = body(b).await?;
    if !v.is_object() {
        return Err(MpError::data_format().into());
    }
    match path {
        "create" => shop::create_product(app, &a, &v).await,
        "del" => shop::delete_product(app, &a, &v).await,
        "update" => shop::update_product(app, &a, &v).await,
        "get" => shop::get_product(app, &a, &v).await,
        "getbystatus" => shop::products_by_status(app, &a, &v).await,
        "modproductstatus" => shop::set_product_status(app, &a, &v).await,
        "category/getsub" => shop::sub_categories(&v),
        "category/getsku" => shop::category_skus(&v),
        "category/getproperty" => shop::category_properties(&v),
        "stock/add" => shop::change_stock(app, &a, &v, 1).await,
        "stock/reduce" => shop::change_stock(app, &a, &v, -1).await,
        "express/add" => shop::add_express(app, &a, &v).await,
        "express/del" => shop::delete_express(app, &a, &v).await,
        "express/update" => shop::update_express(app, &a, &v).await,
        "express/getbyid" => shop::get_express(app, &a, &v).await,
        "group/add" => shop::add_group(app, &a, &v).await,
        "group/del" => shop::delete_group(app, &a, &v).await,
        "group/propertymod" => shop::rename_group(app, &a, &v).await,
        "group/productmod" => shop::group_products(app, &a, &v).await,
        "group/getbyid" => shop::get_group(app, &a, &v).await,
        "shelf/add" => shop::add_shelf(app, &a, &v).await,
        "shelf/del" => shop::delete_shelf(app, &a, &v).await,
        "shelf/mod" => shop::update_shelf(app, &a, &v).await,
        "shelf/getbyid" => shop::get_shelf(app, &a, &v).await,
        "order/getbyid" => koudai_app::commerce::shop_orders::get(app, &a, &v).await,
        "order/getbyfilter" => koudai_app::commerce::shop_orders::filter(app, &a, &v).await,
        "order/setdelivery" => koudai_app::commerce::shop_orders::set_delivery(app, &a, &v).await,
        "order/close" => koudai_app::commerce::shop_orders::close(app, &a, &v).await,
        _ => Err(MpError::invalid_url().into()),
    }
}

/// `GET /shop/img/{id}`: an uploaded image.
async fn image(State(state): State<HttpState>, Path(id): Path<String>) -> Response {
    match shop::image(&state.app, &id).await {
        Ok(Some((content_type, bytes))) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=86400, immutable".into())],
            bytes,
        )
            .into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            let mut r = StatusCode::SERVICE_UNAVAILABLE.into_response();
            r.extensions_mut().insert(crate::layers::InternalCause(e.to_string()));
            r
        }
    }
}
