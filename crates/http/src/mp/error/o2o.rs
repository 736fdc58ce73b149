//! The errcodes of the store (POI) API, its photo upload and the
//! parametric QR code API: the refusals of `koudai_app::o2o::poi` and
//! `koudai_app::mp::qrcode` as the real server words them (shop notes §5,
//! §6). A store field's rejection (`koudai_domain::poi::PoiError`) names
//! its own errcode, the store API's table.

use koudai_app::mp::qrcode::QrCodeError;
use koudai_app::o2o::poi::{AddPoiError, DeletePoiError, GetPoiError, ListPoisError, PhotoError, UpdatePoiError};
use koudai_protocol::mp::MpError;

use super::Failure;

impl From<PhotoError> for Failure {
    fn from(e: PhotoError) -> Self {
        Failure::Refused(match e {
            PhotoError::Size => MpError::invalid_image_size(),
            PhotoError::NotAnImage => MpError::invalid_file_type(),
            PhotoError::Internal(e) => return Failure::Internal(e),
        })
    }
}

impl From<AddPoiError> for Failure {
    fn from(e: AddPoiError) -> Self {
        Failure::Refused(match e {
            AddPoiError::Invalid(e) => e.into(),
            AddPoiError::Internal(e) => return Failure::Internal(e),
        })
    }
}

impl From<GetPoiError> for Failure {
    fn from(e: GetPoiError) -> Self {
        Failure::Refused(match e {
            GetPoiError::NoSuchPoi => MpError::invalid_poi_id(),
            GetPoiError::Internal(e) => return Failure::Internal(e),
        })
    }
}

impl From<ListPoisError> for Failure {
    fn from(e: ListPoisError) -> Self {
        Failure::Refused(match e {
            ListPoisError::PageOutOfRange => MpError::invalid_args_hint("begin ≥ 0, limit 1 to 50"),
            ListPoisError::Internal(e) => return Failure::Internal(e),
        })
    }
}

impl From<UpdatePoiError> for Failure {
    fn from(e: UpdatePoiError) -> Self {
        Failure::Refused(match e {
            UpdatePoiError::NoSuchPoi => MpError::invalid_poi_id(),
            UpdatePoiError::NotApproved => MpError::poi_not_approved(),
            UpdatePoiError::UpdatePending => MpError::poi_not_modifiable(),
            UpdatePoiError::Invalid(e) => e.into(),
            UpdatePoiError::Internal(e) => return Failure::Internal(e),
        })
    }
}

impl From<DeletePoiError> for Failure {
    fn from(e: DeletePoiError) -> Self {
        Failure::Refused(match e {
            DeletePoiError::NoSuchPoi => MpError::invalid_poi_id(),
            // The real server's answer to deleting a store under audit.
            DeletePoiError::UnderAudit => MpError::poi_not_approved(),
            DeletePoiError::Internal(e) => return Failure::Internal(e),
        })
    }
}

impl From<QrCodeError> for Failure {
    fn from(e: QrCodeError) -> Self {
        Failure::Refused(match e {
            QrCodeError::SceneStr => MpError::invalid_action_info("scene_str is 1 to 64 characters"),
            QrCodeError::PermanentSceneId => MpError::invalid_action_info("scene_id is 1 to 100000"),
            QrCodeError::TemporarySceneId => MpError::invalid_action_info("scene_id is a non-zero 32-bit integer"),
            QrCodeError::Expiry => MpError::invalid_action_info("expire_seconds is a positive number of seconds"),
            QrCodeError::PermanentLimit => {
                MpError::invalid_action_info("the account has 100000 permanent codes already")
            }
            QrCodeError::Internal(e) => return Failure::Internal(e),
        })
    }
}

#[cfg(test)]
mod tests {
    use koudai_app::Internal;
    use koudai_domain::poi::PoiError;

    use super::*;
    use crate::mp::error::tests::wire;
    use koudai_app::access::eligibility::AdmitError;

    fn field(errcode: i64, message: &str) -> PoiError {
        PoiError { errcode, message: message.into() }
    }

    fn bug() -> Internal {
        Internal::bug("x")
    }

    #[test]
    fn stores_closed_to_the_account() {
        let cases: Vec<(AdmitError, i64, &str)> = vec![
            (
                AdmitError::NotAllowed("the account is not verified".into()),
                48001,
                "api unauthorized: the account is not verified",
            ),
            (AdmitError::Internal(bug()), -1, "system error"),
        ];
        for (e, code, msg) in cases {
            assert_eq!(wire(e), (code, msg.to_owned()));
        }
    }

    #[test]
    fn photos_refused() {
        let cases: Vec<(PhotoError, i64, &str)> = vec![
            (PhotoError::Size, 40009, "invalid image size"),
            (PhotoError::NotAnImage, 40005, "invalid file type"),
            (PhotoError::Internal(bug()), -1, "system error"),
        ];
        for (e, code, msg) in cases {
            assert_eq!(wire(e), (code, msg.to_owned()));
        }
    }

    #[test]
    fn stores_not_added() {
        let cases: Vec<(AddPoiError, i64, &str)> = vec![
            (AddPoiError::Invalid(field(65109, "invalid business")), 65109, "invalid business"),
            (AddPoiError::Internal(bug()), -1, "system error"),
        ];
        for (e, code, msg) in cases {
            assert_eq!(wire(e), (code, msg.to_owned()));
        }
    }

    #[test]
    fn stores_not_found() {
        let cases: Vec<(GetPoiError, i64, &str)> =
            vec![(GetPoiError::NoSuchPoi, 65115, "invalid poi id"), (GetPoiError::Internal(bug()), -1, "system error")];
        for (e, code, msg) in cases {
            assert_eq!(wire(e), (code, msg.to_owned()));
        }
    }

    #[test]
    fn store_pages_refused() {
        let cases: Vec<(ListPoisError, i64, &str)> = vec![
            (ListPoisError::PageOutOfRange, 40097, "invalid args hint: [begin ≥ 0, limit 1 to 50]"),
            (ListPoisError::Internal(bug()), -1, "system error"),
        ];
        for (e, code, msg) in cases {
            assert_eq!(wire(e), (code, msg.to_owned()));
        }
    }

    #[test]
    fn store_updates_refused() {
        let cases: Vec<(UpdatePoiError, i64, &str)> = vec![
            (UpdatePoiError::NoSuchPoi, 65115, "invalid poi id"),
            (UpdatePoiError::NotApproved, 65106, "poi audit state must be approved"),
            (UpdatePoiError::UpdatePending, 65107, "not allow modify"),
            (
                UpdatePoiError::Invalid(field(40097, "invalid args hint: [nothing to update]")),
                40097,
                "invalid args hint: [nothing to update]",
            ),
            (UpdatePoiError::Internal(bug()), -1, "system error"),
        ];
        for (e, code, msg) in cases {
            assert_eq!(wire(e), (code, msg.to_owned()));
        }
    }

    #[test]
    fn store_deletions_refused() {
        let cases: Vec<(DeletePoiError, i64, &str)> = vec![
            (DeletePoiError::NoSuchPoi, 65115, "invalid poi id"),
            (DeletePoiError::UnderAudit, 65106, "poi audit state must be approved"),
            (DeletePoiError::Internal(bug()), -1, "system error"),
        ];
        for (e, code, msg) in cases {
            assert_eq!(wire(e), (code, msg.to_owned()));
        }
    }

    #[test]
    fn qr_codes_refused() {
        let cases: Vec<(QrCodeError, i64, &str)> = vec![
            (QrCodeError::SceneStr, 40053, "invalid action info: scene_str is 1 to 64 characters"),
            (QrCodeError::PermanentSceneId, 40053, "invalid action info: scene_id is 1 to 100000"),
            (QrCodeError::TemporarySceneId, 40053, "invalid action info: scene_id is a non-zero 32-bit integer"),
            (QrCodeError::Expiry, 40053, "invalid action info: expire_seconds is a positive number of seconds"),
            (QrCodeError::PermanentLimit, 40053, "invalid action info: the account has 100000 permanent codes already"),
            (QrCodeError::Internal(bug()), -1, "system error"),
        ];
        for (e, code, msg) in cases {
            assert_eq!(wire(e), (code, msg.to_owned()));
        }
    }
}
