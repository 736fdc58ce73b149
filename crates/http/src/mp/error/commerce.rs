//! The errcodes of the WeChat Shop API (shop notes §1–§4): the refusals of
//! `koudai_app::commerce::shop` and `koudai_app::commerce::shop_orders` as
//! the surface answers them. The manual has no error table: a closed shop
//! is 48001 with the reason, an upload the shop does not take is 40009 or
//! 40113, and every other business fault — a body the domain's check
//! refuses (`koudai_domain::shop::ShopError`) included — is 40097 "invalid
//! args: …" naming the fault.

use koudai_app::commerce::shop::{ExpressError, GroupError, ProductError, ShelfError, UploadError};
use koudai_app::commerce::shop_orders::OrderError;
use koudai_domain::shop::ShopError;
use koudai_protocol::mp::MpError;

use super::Failure;

/// 40097 saying what is wrong.
fn invalid(why: &dyn std::fmt::Display) -> Failure {
    Failure::Refused(MpError::invalid_args_because(&why.to_string()))
}

impl From<UploadError> for Failure {
    fn from(e: UploadError) -> Self {
        Failure::Refused(match e {
            UploadError::Empty => MpError::empty_post_data(),
            UploadError::TooLarge => MpError::invalid_image_size_limit("at most 1 MB"),
            UploadError::UnsupportedType => MpError::unsupported_file_type("jpg, png or bmp"),
            UploadError::Internal(e) => return Failure::Internal(e),
        })
    }
}

impl From<ShopError> for Failure {
    fn from(e: ShopError) -> Self {
        invalid(&e)
    }
}

impl From<ProductError> for Failure {
    fn from(e: ProductError) -> Self {
        match e {
            e @ (ProductError::NoProduct(_)
            | ProductError::NotOwnTemplate(_)
            | ProductError::FixedOnceListed
            | ProductError::NoSuchSku { .. }
            | ProductError::BadQuantity
            | ProductError::NotEnoughStock
            | ProductError::NoCategory(_)) => invalid(&e),
            ProductError::Internal(e) => Failure::Internal(e),
        }
    }
}

impl From<ExpressError> for Failure {
    fn from(e: ExpressError) -> Self {
        match e {
            e @ ExpressError::NoTemplate(_) => invalid(&e),
            ExpressError::Internal(e) => Failure::Internal(e),
        }
    }
}

impl From<GroupError> for Failure {
    fn from(e: GroupError) -> Self {
        match e {
            e @ (GroupError::NoGroup(_) | GroupError::NoProduct(_)) => invalid(&e),
            GroupError::Internal(e) => Failure::Internal(e),
        }
    }
}

impl From<ShelfError> for Failure {
    fn from(e: ShelfError) -> Self {
        match e {
            e @ (ShelfError::NoShelf(_) | ShelfError::NoGroup(_)) => invalid(&e),
            ShelfError::Internal(e) => Failure::Internal(e),
        }
    }
}

impl From<OrderError> for Failure {
    fn from(e: OrderError) -> Self {
        match e {
            e @ (OrderError::NoOrder(_)
            | OrderError::CompanyMissing
            | OrderError::TrackMissing
            | OrderError::UnknownCompany(_)
            | OrderError::DeliveryTooLong
            | OrderError::NotWaitingToShip { .. }
            | OrderError::NotClosable { .. }) => invalid(&e),
            OrderError::Internal(e) => Failure::Internal(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use koudai_app::Internal;
    use koudai_domain::shop::OrderStatus;

    use super::*;
    use koudai_app::access::eligibility::AdmitError;

    /// The `(errcode, errmsg)` a failure answers with.
    fn wire(f: impl Into<Failure>) -> (i64, String) {
        match f.into() {
            Failure::Refused(e) => (e.errcode, e.errmsg),
            Failure::Internal(_) => (-1, "system error".into()),
        }
    }

    fn check<E: Into<Failure>>(cases: Vec<(E, i64, &str)>) {
        for (e, code, msg) in cases {
            assert_eq!(wire(e), (code, msg.to_owned()));
        }
    }

    #[test]
    fn a_closed_shop_is_48001_with_the_reason() {
        check(vec![
            (
                AdmitError::NotAllowed("capability shop_api not granted: no_open_violations".into()),
                48001,
                "api unauthorized: capability shop_api not granted: no_open_violations",
            ),
            (AdmitError::Internal(Internal::bug("x")), -1, "system error"),
        ]);
    }

    #[test]
    fn uploads_refused() {
        check(vec![
            (UploadError::Empty, 44002, "empty post data"),
            (UploadError::TooLarge, 40009, "invalid image size: at most 1 MB"),
            (UploadError::UnsupportedType, 40113, "unsupported file type: jpg, png or bmp"),
            (UploadError::Internal(Internal::bug("x")), -1, "system error"),
        ]);
    }

    #[test]
    fn a_body_the_domain_refuses_is_40097_naming_the_field() {
        check(vec![(ShopError("product_base is required".into()), 40097, "invalid args: product_base is required")]);
    }

    #[test]
    fn products_refused() {
        check(vec![
            (ProductError::NoProduct("p1".into()), 40097, "invalid args: no product \"p1\""),
            (
                ProductError::NotOwnTemplate(7),
                40097,
                "invalid args: delivery_info.template_id 7 is not one of this account's express templates",
            ),
            (
                ProductError::FixedOnceListed,
                40097,
                "invalid args: name, category_id and property cannot change once the product has been on a shelf",
            ),
            (
                ProductError::NoSuchSku { product_id: "p1".into(), sku: "1:2".into() },
                40097,
                "invalid args: product p1 has no sku_info \"1:2\"",
            ),
            (ProductError::BadQuantity, 40097, "invalid args: quantity is a positive whole number"),
            (ProductError::NotEnoughStock, 40097, "invalid args: quantity is more than the stock"),
            (ProductError::NoCategory("999".into()), 40097, "invalid args: no category 999"),
            (ProductError::Internal(Internal::bug("x")), -1, "system error"),
        ]);
    }

    #[test]
    fn express_templates_groups_and_shelves_refused() {
        check(vec![
            (ExpressError::NoTemplate(3), 40097, "invalid args: no express template 3"),
            (ExpressError::Internal(Internal::bug("x")), -1, "system error"),
        ]);
        check(vec![
            (GroupError::NoGroup(4), 40097, "invalid args: no group 4"),
            (GroupError::NoProduct("p2".into()), 40097, "invalid args: no product \"p2\""),
            (GroupError::Internal(Internal::bug("x")), -1, "system error"),
        ]);
        check(vec![
            (ShelfError::NoShelf(5), 40097, "invalid args: no shelf 5"),
            (ShelfError::NoGroup(6), 40097, "invalid args: no group 6"),
            (ShelfError::Internal(Internal::bug("x")), -1, "system error"),
        ]);
    }

    #[test]
    fn orders_refused() {
        let id = "10000000000000000001";
        check(vec![
            (OrderError::NoOrder("12".into()), 40097, "invalid args: no order \"12\""),
            (OrderError::CompanyMissing, 40097, "invalid args: delivery_company is required"),
            (OrderError::TrackMissing, 40097, "invalid args: delivery_track_no is required"),
            (
                OrderError::UnknownCompany("nope".into()),
                40097,
                "invalid args: delivery_company nope is not a company id (or set is_others to 1)",
            ),
            (
                OrderError::DeliveryTooLong,
                40097,
                "invalid args: delivery_company and delivery_track_no are at most 64 characters",
            ),
            (
                OrderError::NotWaitingToShip { order_id: id.into(), status: OrderStatus::Shipped },
                40097,
                "invalid args: order 10000000000000000001 is not waiting to be shipped (status 3)",
            ),
            (
                OrderError::NotClosable { order_id: id.into(), status: OrderStatus::Closed },
                40097,
                "invalid args: only a paid order not yet shipped can be closed (order 10000000000000000001 is in \
                 status 6)",
            ),
            (OrderError::Internal(Internal::bug("x")), -1, "system error"),
        ]);
    }
}
