//! WeChat Shop storage: images, products and their SKUs (stock changed
//! atomically, never below zero), express templates, groups, shelves.
//! Every lookup is scoped to the account (`appid`): another account's row
//! is the same as a missing one.

use crate::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ShopImage {
    pub id: String,
    pub appid: String,
    pub content_type: String,
    pub content: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ProductRow {
    pub product_id: String,
    pub appid: String,
    /// The product as created or last updated (JSON).
    pub body: String,
    #[sqlx(try_from = "i64")]
    pub on_shelf: crate::Flag,
    #[sqlx(try_from = "i64")]
    pub ever_listed: crate::Flag,
    pub created_at: i64,
    pub updated_at: i64,
}

const PRODUCT_COLUMNS: &str = "product_id, appid, body, on_shelf, ever_listed, created_at, updated_at";

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SkuRow {
    pub product_id: String,
    pub sku_id: String,
    pub price: i64,
    pub ori_price: i64,
    pub quantity: i64,
    pub icon_url: String,
    pub product_code: String,
}

/// A new or replaced SKU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSku {
    pub sku_id: String,
    pub price: i64,
    pub ori_price: i64,
    pub quantity: i64,
    pub icon_url: String,
    pub product_code: String,
}

/// An express template, group or shelf: its id and JSON or name.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ShopThing {
    pub id: i64,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ShelfRow {
    pub id: i64,
    pub name: String,
    pub banner: String,
    pub data: String,
}

/// How a stock change went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockChange {
    Done(i64),
    NoSuchSku,
    BelowZero,
}

async fn insert_skus(tx: &mut crate::WriteTx, product_id: &str, skus: &[NewSku]) -> Result<(), StoreError> {
    for s in skus {
        sqlx::query(
            "INSERT INTO shop_skus (product_id, sku_id, price, ori_price, quantity, icon_url, product_code) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(product_id)
        .bind(&s.sku_id)
        .bind(s.price)
        .bind(s.ori_price)
        .bind(s.quantity)
        .bind(&s.icon_url)
        .bind(&s.product_code)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

impl Store {
    pub async fn create_shop_image(&self, img: &ShopImage, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO shop_images (id, appid, content_type, content, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&img.id)
        .bind(&img.appid)
        .bind(&img.content_type)
        .bind(&img.content)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn shop_image(&self, id: &str) -> Result<Option<ShopImage>, StoreError> {
        Ok(sqlx::query_as("SELECT id, appid, content_type, content FROM shop_images WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The ids of an account's images among `ids`.
    pub async fn own_shop_images(&self, appid: &str) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT id FROM shop_images WHERE appid = $1").bind(appid).fetch_all(&self.pool).await?)
    }

    pub async fn create_product(&self, p: &ProductRow, skus: &[NewSku]) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query(&format!("INSERT INTO shop_products ({PRODUCT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"))
            .bind(&p.product_id)
            .bind(&p.appid)
            .bind(&p.body)
            .bind(i64::from(p.on_shelf.0))
            .bind(i64::from(p.ever_listed.0))
            .bind(p.created_at)
            .bind(p.updated_at)
            .execute(&mut *tx)
            .await?;
        insert_skus(&mut tx, &p.product_id, skus).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn product(&self, appid: &str, product_id: &str) -> Result<Option<ProductRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {PRODUCT_COLUMNS} FROM shop_products WHERE appid = $1 AND product_id = $2 AND deleted_at IS NULL"
        ))
        .bind(appid)
        .bind(product_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// An account's products, oldest first; `on_shelf` filters.
    pub async fn products(&self, appid: &str, on_shelf: Option<bool>) -> Result<Vec<ProductRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {PRODUCT_COLUMNS} FROM shop_products WHERE appid = $1 AND deleted_at IS NULL \
             AND ($2 < 0 OR on_shelf = $2) ORDER BY created_at, product_id"
        ))
        .bind(appid)
        .bind(on_shelf.map_or(-1, i64::from))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Replaces a product's body and SKUs.
    pub async fn update_product(
        &self,
        appid: &str,
        product_id: &str,
        body: &str,
        skus: &[NewSku],
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let n = sqlx::query(
            "UPDATE shop_products SET body = $1, updated_at = $2 WHERE appid = $3 AND product_id = $4 AND deleted_at IS NULL",
        )
        .bind(body)
        .bind(now)
        .bind(appid)
        .bind(product_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM shop_skus WHERE product_id = $1").bind(product_id).execute(&mut *tx).await?;
        insert_skus(&mut tx, product_id, skus).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Puts a product on or off the shelf (on marks it listed for good).
    pub async fn set_product_on_shelf(
        &self,
        appid: &str,
        product_id: &str,
        on: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE shop_products SET on_shelf = $1, ever_listed = CASE WHEN $1 = 1 THEN 1 ELSE ever_listed END, updated_at = $2 \
             WHERE appid = $3 AND product_id = $4 AND deleted_at IS NULL",
        )
        .bind(i64::from(on))
        .bind(now)
        .bind(appid)
        .bind(product_id)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0)
    }

    /// Deletes a product (softly; it leaves every group).
    pub async fn delete_product(&self, appid: &str, product_id: &str, now: i64) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let n = sqlx::query(
            "UPDATE shop_products SET deleted_at = $1, on_shelf = 0 WHERE appid = $2 AND product_id = $3 AND deleted_at IS NULL",
        )
        .bind(now)
        .bind(appid)
        .bind(product_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("DELETE FROM shop_group_products WHERE product_id = $1").bind(product_id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    pub async fn skus(&self, product_id: &str) -> Result<Vec<SkuRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT product_id, sku_id, price, ori_price, quantity, icon_url, product_code FROM shop_skus \
             WHERE product_id = $1 ORDER BY sku_id",
        )
        .bind(product_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Adds `delta` (negative: reduces) to a SKU's stock in one statement,
    /// so concurrent changes never take it below zero.
    pub async fn change_stock(&self, product_id: &str, sku_id: &str, delta: i64) -> Result<StockChange, StoreError> {
        let done: Option<i64> = sqlx::query_scalar(
            "UPDATE shop_skus SET quantity = quantity + $1 WHERE product_id = $2 AND sku_id = $3 AND quantity + $1 >= 0 \
             RETURNING quantity",
        )
        .bind(delta)
        .bind(product_id)
        .bind(sku_id)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(q) = done {
            return Ok(StockChange::Done(q));
        }
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT quantity FROM shop_skus WHERE product_id = $1 AND sku_id = $2")
                .bind(product_id)
                .bind(sku_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(if exists.is_some() { StockChange::BelowZero } else { StockChange::NoSuchSku })
    }

    pub async fn create_express(&self, appid: &str, template: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("INSERT INTO shop_express (appid, template) VALUES ($1, $2) RETURNING id")
            .bind(appid)
            .bind(template)
            .fetch_one(&self.pool)
            .await?)
    }

    pub async fn express(&self, appid: &str, id: i64) -> Result<Option<ShopThing>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, template AS text FROM shop_express WHERE appid = $1 AND id = $2 AND deleted_at IS NULL",
        )
        .bind(appid)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn express_all(&self, appid: &str) -> Result<Vec<ShopThing>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, template AS text FROM shop_express WHERE appid = $1 AND deleted_at IS NULL ORDER BY id",
        )
        .bind(appid)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn update_express(
        &self,
        appid: &str,
        id: i64,
        template: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let q = match template {
            Some(t) => {
                sqlx::query("UPDATE shop_express SET template = $1 WHERE appid = $2 AND id = $3 AND deleted_at IS NULL")
                    .bind(t)
            }
            None => sqlx::query(
                "UPDATE shop_express SET deleted_at = $1 WHERE appid = $2 AND id = $3 AND deleted_at IS NULL",
            )
            .bind(now),
        };
        Ok(q.bind(appid).bind(id).execute(&self.pool).await?.rows_affected() > 0)
    }

    pub async fn create_group(&self, appid: &str, name: &str, products: &[String]) -> Result<i64, StoreError> {
        let mut tx = self.write().await?;
        let id: i64 = sqlx::query_scalar("INSERT INTO shop_groups (appid, name) VALUES ($1, $2) RETURNING id")
            .bind(appid)
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
        for p in products {
            sqlx::query(
                "INSERT INTO shop_group_products (group_id, product_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(p)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    pub async fn group(&self, appid: &str, id: i64) -> Result<Option<ShopThing>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, name AS text FROM shop_groups WHERE appid = $1 AND id = $2 AND deleted_at IS NULL",
        )
        .bind(appid)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn groups(&self, appid: &str) -> Result<Vec<ShopThing>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, name AS text FROM shop_groups WHERE appid = $1 AND deleted_at IS NULL ORDER BY id",
        )
        .bind(appid)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The live products of a group, oldest product first.
    pub async fn group_products(&self, group_id: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT g.product_id FROM shop_group_products g JOIN shop_products p ON p.product_id = g.product_id \
             WHERE g.group_id = $1 AND p.deleted_at IS NULL ORDER BY p.created_at, g.product_id",
        )
        .bind(group_id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn rename_group(&self, appid: &str, id: i64, name: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query("UPDATE shop_groups SET name = $1 WHERE appid = $2 AND id = $3 AND deleted_at IS NULL")
            .bind(name)
            .bind(appid)
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected()
            > 0)
    }

    pub async fn group_product(&self, group_id: i64, product_id: &str, add: bool) -> Result<(), StoreError> {
        let q = if add {
            "INSERT INTO shop_group_products (group_id, product_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        } else {
            "DELETE FROM shop_group_products WHERE group_id = $1 AND product_id = $2"
        };
        sqlx::query(q).bind(group_id).bind(product_id).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn delete_group(&self, appid: &str, id: i64, now: i64) -> Result<bool, StoreError> {
        Ok(sqlx::query("UPDATE shop_groups SET deleted_at = $1 WHERE appid = $2 AND id = $3 AND deleted_at IS NULL")
            .bind(now)
            .bind(appid)
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected()
            > 0)
    }

    pub async fn create_shelf(&self, appid: &str, name: &str, banner: &str, data: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO shop_shelves (appid, name, banner, data) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(appid)
        .bind(name)
        .bind(banner)
        .bind(data)
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn shelf(&self, appid: &str, id: i64) -> Result<Option<ShelfRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, name, banner, data FROM shop_shelves WHERE appid = $1 AND id = $2 AND deleted_at IS NULL",
        )
        .bind(appid)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn shelves(&self, appid: &str) -> Result<Vec<ShelfRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, name, banner, data FROM shop_shelves WHERE appid = $1 AND deleted_at IS NULL ORDER BY id",
        )
        .bind(appid)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn update_shelf(
        &self,
        appid: &str,
        id: i64,
        name: &str,
        banner: &str,
        data: &str,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE shop_shelves SET name = $1, banner = $2, data = $3 WHERE appid = $4 AND id = $5 AND deleted_at IS NULL",
        )
        .bind(name)
        .bind(banner)
        .bind(data)
        .bind(appid)
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0)
    }

    pub async fn delete_shelf(&self, appid: &str, id: i64, now: i64) -> Result<bool, StoreError> {
        Ok(sqlx::query("UPDATE shop_shelves SET deleted_at = $1 WHERE appid = $2 AND id = $3 AND deleted_at IS NULL")
            .bind(now)
            .bind(appid)
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected()
            > 0)
    }
}
