//! Parametric QR codes on the wire (shop notes §6): `POST
//! /cgi-bin/qrcode/create` and `GET /cgi-bin/showqrcode?ticket=` (also at
//! `/showqrcode`, the path wechatpy's hard-coded host uses), which serves a
//! real QR image — a PNG of the code's URL — for a live ticket and 404 for
//! an expired or unknown one. `create` reads the body into the use case's
//! typed request (`koudai_app::mp::qrcode::NewQrCode`); its refusals become
//! errcodes in `error/o2o.rs`.

use std::io::Write as _;

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use serde_json::{json, Value};

use koudai_app::mp::qrcode::{self as codes, NewQrCode, Scene};
use koudai_protocol::mp::MpError;

use super::error::{Answer, Failure, Reply};
use super::request::{account, body, Call};
use crate::state::HttpState;

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/cgi-bin/qrcode/create", any(create))
        .route("/cgi-bin/showqrcode", get(show))
        .route("/showqrcode", get(show))
}

/// `qrcode/create`'s body read: the action names the kind of code and of
/// scene (40053 for one it is not, or no `action_info.scene`); the values
/// are checked by the use case.
fn new_code(v: &Value) -> Result<NewQrCode, Failure> {
    let (permanent, by_string) = match v.get("action_name").and_then(Value::as_str).unwrap_or_default() {
        "QR_SCENE" => (false, false),
        "QR_STR_SCENE" => (false, true),
        "QR_LIMIT_SCENE" => (true, false),
        "QR_LIMIT_STR_SCENE" => (true, true),
        _ => {
            let why = "action_name is QR_SCENE, QR_STR_SCENE, QR_LIMIT_SCENE or QR_LIMIT_STR_SCENE";
            return Err(MpError::invalid_action_info(why).into());
        }
    };
    let scene = v.get("action_info").and_then(|i| i.get("scene"));
    let scene = scene.ok_or_else(|| MpError::invalid_action_info("action_info.scene is required"))?;
    let scene = if by_string {
        Scene::Str(scene.get("scene_str").and_then(Value::as_str).unwrap_or_default().to_owned())
    } else {
        Scene::Id(scene.get("scene_id").and_then(Value::as_i64).unwrap_or(0))
    };
    let expire_seconds = match v.get("expire_seconds") {
        None | Some(Value::Null) => None,
        Some(s) => Some(s.as_i64().unwrap_or(0)),
    };
    Ok(NewQrCode { permanent, scene, expire_seconds })
}

async fn create(State(state): State<HttpState>, req: Request) -> Reply {
    let (c, b) = Call::of(req);
    c.require(Method::POST)?;
    let a = account(&state, &c, "qrcode/create").await?;
    let (_, v) = body(b).await?;
    let made = codes::create(&state.app, &a, &new_code(&v)?).await?;
    let mut out = json!({"ticket": made.ticket, "url": made.url});
    if let Some(s) = made.expire_seconds {
        out["expire_seconds"] = json!(s);
    }
    Ok(Answer(out))
}

async fn show(State(state): State<HttpState>, req: Request) -> Response {
    let (c, _) = Call::of(req);
    match codes::live(&state.app, &c.param("ticket")).await {
        Ok(Some(code)) => match png(code.url.as_bytes()) {
            Ok(bytes) => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "image/png"), (header::CACHE_CONTROL, "max-age=604800")],
                bytes,
            )
                .into_response(),
            Err(e) => internal(e),
        },
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => internal(e.to_string()),
    }
}

fn internal(cause: String) -> Response {
    let mut r = StatusCode::SERVICE_UNAVAILABLE.into_response();
    r.extensions_mut().insert(crate::layers::InternalCause(cause));
    r
}

/// Pixels per module and modules of quiet zone.
const SCALE: usize = 8;
const QUIET: usize = 4;

/// A QR code of `data` as an 8-bit greyscale PNG.
pub fn png(data: &[u8]) -> Result<Vec<u8>, String> {
    let code = qrcode::QrCode::new(data).map_err(|e| e.to_string())?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET) * SCALE;
    let mut raw = Vec::with_capacity((side + 1) * side);
    for y in 0..side {
        raw.push(0u8); // filter: none
        for x in 0..side {
            let (mx, my) = ((x / SCALE).wrapping_sub(QUIET), (y / SCALE).wrapping_sub(QUIET));
            let dark = mx < modules && my < modules && colors.get(my * modules + mx) == Some(&qrcode::Color::Dark);
            raw.push(if dark { 0 } else { 255 });
        }
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&raw).map_err(|e| e.to_string())?;
    let idat = z.finish().map_err(|e| e.to_string())?;
    let side32 = u32::try_from(side).map_err(|e| e.to_string())?;
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&side32.to_be_bytes());
    ihdr.extend_from_slice(&side32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // 8-bit greyscale, deflate, no filter, no interlace
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, chunk) in [(b"IHDR", &ihdr[..]), (b"IDAT", &idat[..]), (b"IEND", &[][..])] {
        let len = u32::try_from(chunk.len()).map_err(|e| e.to_string())?;
        out.extend_from_slice(&len.to_be_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(kind);
        crc.update(chunk);
        out.extend_from_slice(kind);
        out.extend_from_slice(chunk);
        out.extend_from_slice(&crc.finalize().to_be_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_png_has_a_valid_header_and_a_square_image() {
        let png = super::png(b"http://127.0.0.1/q/abc").unwrap_or_default();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert_eq!(&png[12..16], b"IHDR");
        assert_eq!(png[16..20], png[20..24], "square");
        assert!(png.ends_with(&[0xAE, 0x42, 0x60, 0x82]), "IEND's CRC");
    }
}
