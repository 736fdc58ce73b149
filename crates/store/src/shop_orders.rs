//! Shop orders: reserved with their stock and their payment order in one
//! transaction, marked paid inside the payment's transaction ([`mark_paid`],
//! the step the shop hands `Store::pay_order`), then
//! shipped, finished, disputed or closed. A reservation whose payment did
//! not happen is released: the stock comes back and the payment order is
//! closed, under the same locks the payment takes (payment order first),
//! so a payment and a release never both win.

use koudai_domain::shop::OrderStatus;
use koudai_domain::TradeState;

use crate::orders::{NewOrderRecord, Order};
use crate::{Store, StoreError, WriteTx};

// The status codes, for SQL.
const RESERVED: i64 = OrderStatus::Reserved.code();
const PAID: i64 = OrderStatus::Paid.code();
const SHIPPED: i64 = OrderStatus::Shipped.code();
pub(crate) const FINISHED: i64 = OrderStatus::Finished.code();
const CLOSED: i64 = OrderStatus::Closed.code();
const RIGHTS_OPEN: i64 = OrderStatus::RightsOpen.code();

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ShopOrder {
    pub order_id: String,
    pub appid: String,
    pub mchid: String,
    pub consumer: String,
    pub openid: String,
    pub product_id: String,
    pub product_name: String,
    pub product_img: String,
    pub sku_info: String,
    pub product_count: i64,
    pub product_price: i64,
    pub express_price: i64,
    pub total_price: i64,
    #[sqlx(try_from = "i64")]
    pub status: OrderStatus,
    /// The status a rights case interrupted (its code).
    pub status_before_rights: Option<i64>,
    pub out_trade_no: String,
    pub transaction_id: Option<String>,
    pub receiver_name: String,
    pub receiver_province: String,
    pub receiver_city: String,
    pub receiver_zone: String,
    pub receiver_address: String,
    pub receiver_mobile: String,
    pub delivery_company: String,
    pub delivery_id: String,
    pub rights_reason: String,
    pub created_at: i64,
    pub paid_at: Option<i64>,
    pub shipped_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub closed_at: Option<i64>,
}

const COLUMNS: &str = "order_id, appid, mchid, consumer, openid, product_id, product_name, product_img, sku_info, \
    product_count, product_price, express_price, total_price, status, status_before_rights, out_trade_no, transaction_id, \
    receiver_name, receiver_province, receiver_city, receiver_zone, receiver_address, receiver_mobile, delivery_company, \
    delivery_id, rights_reason, created_at, paid_at, shipped_at, finished_at, closed_at";

/// How a reservation went.
#[derive(Debug, Clone)]
pub enum Reservation {
    Reserved(Box<ShopOrder>, Box<Order>),
    NoSuchSku,
    OutOfStock { left: i64 },
}

impl Store {
    /// Takes `count` from the SKU's stock (only if that many are left),
    /// creates the payment order and the shop order (reserved), together.
    pub async fn reserve_shop_order(&self, o: &ShopOrder, payment: &NewOrderRecord) -> Result<Reservation, StoreError> {
        let mut tx = self.write().await?;
        let taken = sqlx::query(
            "UPDATE shop_skus SET quantity = quantity - $1 WHERE product_id = $2 AND sku_id = $3 AND quantity >= $1",
        )
        .bind(o.product_count)
        .bind(&o.product_id)
        .bind(&o.sku_info)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if taken == 0 {
            let left: Option<i64> =
                sqlx::query_scalar("SELECT quantity FROM shop_skus WHERE product_id = $1 AND sku_id = $2")
                    .bind(&o.product_id)
                    .bind(&o.sku_info)
                    .fetch_optional(&mut *tx)
                    .await?;
            return Ok(match left {
                Some(left) => Reservation::OutOfStock { left },
                None => Reservation::NoSuchSku,
            });
        }
        let order = crate::orders::insert_order(&mut tx, payment).await?;
        let shop: ShopOrder = sqlx::query_as(&format!(
            "INSERT INTO shop_orders (order_id, appid, mchid, consumer, openid, product_id, product_name, product_img, sku_info, \
             product_count, product_price, express_price, total_price, status, out_trade_no, receiver_name, receiver_province, \
             receiver_city, receiver_zone, receiver_address, receiver_mobile, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, {RESERVED}, $14, $15, $16, $17, $18, $19, $20, $21) \
             RETURNING {COLUMNS}"
        ))
        .bind(&o.order_id)
        .bind(&o.appid)
        .bind(&o.mchid)
        .bind(&o.consumer)
        .bind(&o.openid)
        .bind(&o.product_id)
        .bind(&o.product_name)
        .bind(&o.product_img)
        .bind(&o.sku_info)
        .bind(o.product_count)
        .bind(o.product_price)
        .bind(o.express_price)
        .bind(o.total_price)
        .bind(&o.out_trade_no)
        .bind(&o.receiver_name)
        .bind(&o.receiver_province)
        .bind(&o.receiver_city)
        .bind(&o.receiver_zone)
        .bind(&o.receiver_address)
        .bind(&o.receiver_mobile)
        .bind(o.created_at)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Reservation::Reserved(Box::new(shop), Box::new(order)))
    }

    /// Releases a reservation whose payment was not made: closed, the
    /// stock back, the payment order closed. Nothing if it was paid.
    pub async fn release_shop_order(&self, order_id: &str, now: i64) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let shop: Option<ShopOrder> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM shop_orders WHERE order_id = $1"))
            .bind(order_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(shop) = shop.filter(|s| s.status == OrderStatus::Reserved) else { return Ok(false) };
        // The payment's lock first, as the payment takes them.
        let state: Option<String> =
            sqlx::query_scalar(&tx.lock("SELECT trade_state FROM orders WHERE mchid = $1 AND out_trade_no = $2"))
                .bind(&shop.mchid)
                .bind(&shop.out_trade_no)
                .fetch_optional(&mut *tx)
                .await?;
        if state.as_deref() == Some(TradeState::Success.as_str()) {
            return Ok(false);
        }
        let released = sqlx::query(&format!(
            "UPDATE shop_orders SET status = {CLOSED}, closed_at = $1 WHERE order_id = $2 AND status = {RESERVED}"
        ))
        .bind(now)
        .bind(order_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if released == 0 {
            return Ok(false);
        }
        sqlx::query("UPDATE shop_skus SET quantity = quantity + $1 WHERE product_id = $2 AND sku_id = $3")
            .bind(shop.product_count)
            .bind(&shop.product_id)
            .bind(&shop.sku_info)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE orders SET trade_state = $1 WHERE mchid = $2 AND out_trade_no = $3 AND trade_state <> $4")
            .bind(TradeState::Closed.as_str())
            .bind(&shop.mchid)
            .bind(&shop.out_trade_no)
            .bind(TradeState::Success.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Reservations older than `before` (their payment never came).
    pub async fn stale_reservations(&self, before: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(&format!(
            "SELECT order_id FROM shop_orders WHERE status = {RESERVED} AND created_at <= $1 ORDER BY created_at"
        ))
        .bind(before)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn shop_order(&self, order_id: &str) -> Result<Option<ShopOrder>, StoreError> {
        Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM shop_orders WHERE order_id = $1"))
            .bind(order_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// An account's orders (never the unpaid reservations), newest first,
    /// by status and creation time.
    pub async fn shop_orders(
        &self,
        appid: &str,
        status: Option<OrderStatus>,
        begin: Option<i64>,
        end: Option<i64>,
    ) -> Result<Vec<ShopOrder>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM shop_orders WHERE appid = $1 AND status <> {RESERVED} AND ($2 < 0 OR status = $2) \
             AND created_at >= $3 AND created_at <= $4 ORDER BY created_at DESC, order_id"
        ))
        .bind(appid)
        .bind(status.map_or(-1, OrderStatus::code))
        .bind(begin.unwrap_or(i64::MIN))
        .bind(end.unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?)
    }

    /// A consumer's orders, newest first.
    pub async fn consumer_shop_orders(&self, consumer: &str) -> Result<Vec<ShopOrder>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM shop_orders WHERE consumer = $1 AND status <> {RESERVED} \
             ORDER BY created_at DESC, order_id"
        ))
        .bind(consumer)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Moves an order from one status to another (with the columns the
    /// move sets); false if it was not in `from`.
    pub async fn move_shop_order(
        &self,
        order_id: &str,
        from: &[OrderStatus],
        to: ShopMove<'_>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let allowed = from.iter().map(|s| s.code().to_string()).collect::<Vec<_>>().join(", ");
        let (set, a, b) = match to {
            ShopMove::Ship { company, track } => (
                format!("status = {SHIPPED}, shipped_at = $1, delivery_company = $2, delivery_id = $3"),
                company,
                track,
            ),
            ShopMove::Finish => (format!("status = {FINISHED}, finished_at = $1"), "", ""),
            ShopMove::OpenRights { reason } => {
                (format!("status_before_rights = status, status = {RIGHTS_OPEN}, rights_reason = $2"), reason, "")
            }
            ShopMove::CloseRights => {
                (format!("status = COALESCE(status_before_rights, {PAID}), status_before_rights = NULL"), "", "")
            }
            ShopMove::Close => (format!("status = {CLOSED}, closed_at = $1"), "", ""),
        };
        // Every form binds the same three values so one statement fits all.
        let sql = format!(
            "UPDATE shop_orders SET {set} WHERE order_id = $4 AND status IN ({allowed}) AND ($1 = $1 AND $2 = $2 AND $3 = $3)"
        );
        Ok(sqlx::query(&sql).bind(now).bind(a).bind(b).bind(order_id).execute(&self.pool).await?.rows_affected() > 0)
    }

    /// Orders shipped before `before` and not confirmed (auto-confirm).
    pub async fn shipped_before(&self, before: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(&format!(
            "SELECT order_id FROM shop_orders WHERE status = {SHIPPED} AND shipped_at <= $1 ORDER BY shipped_at"
        ))
        .bind(before)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// Marks the shop order a payment pays as paid, inside the payment's
/// transaction: the step a shop purchase hands `Store::pay_order`.
pub fn mark_paid<'a>(tx: &'a mut WriteTx, paid: &'a Order) -> crate::StepFuture<'a> {
    Box::pin(mark_paid_in(tx, paid))
}

async fn mark_paid_in(tx: &mut WriteTx, paid: &Order) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "UPDATE shop_orders SET status = {PAID}, transaction_id = $1, paid_at = $2 WHERE out_trade_no = $3 AND mchid = $4 \
         AND status = {RESERVED}"
    ))
    .bind(&paid.transaction_id)
    .bind(paid.success_time)
    .bind(&paid.out_trade_no)
    .bind(&paid.mchid)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A move of a shop order.
#[derive(Debug, Clone, Copy)]
pub enum ShopMove<'a> {
    Ship { company: &'a str, track: &'a str },
    Finish,
    OpenRights { reason: &'a str },
    CloseRights,
    Close,
}
